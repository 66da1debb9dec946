"""`nrt up` that cannot start says why: a port already taken, named with the flags to choose others."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.stack import free_port
from tests.helpers import ROOT


@pytest.mark.parametrize("taken", ["--api-port", "--aws-port"])
def test_a_port_in_use_is_named_with_the_flags_to_choose_others(tmp_path: Path, taken: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        ports = {"--api-port": str(free_port()), "--aws-port": str(free_port()), taken: str(port)}
        flags = [x for kv in ports.items() for x in kv]
        done = subprocess.run(
            [sys.executable, "-m", "nrt.cli", "up", "--state-dir", str(tmp_path), *flags],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert str(port) in done.stderr
    assert "Choose other ports with --api-port/--aws-port" in done.stderr
