"""nrt/statedir.py's state directory: one `nrt up` at a time holds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nrt.statedir import StateDir, StateDirBusy, hold
from tests.helpers import ROOT


def test_a_second_holder_is_refused_with_the_first_ones_pid_until_the_first_lets_go(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    first = hold(state)

    with pytest.raises(StateDirBusy, match=rf"pid {os.getpid()}\).*another --state-dir"):
        hold(state)
    first.close()

    hold(state).close()  # free again


def test_the_directory_is_free_again_when_its_holder_dies(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from nrt.statedir import StateDir, hold; "
         f"h = hold(StateDir(Path({str(state.root)!r}))); print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StateDirBusy, match=f"pid {holder.pid}"):
            hold(state)
    finally:
        holder.kill()  # SIGKILL: no clean-up runs; the kernel drops the lock
        holder.wait()

    hold(state).close()
