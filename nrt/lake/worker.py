"""The stream worker as `nrt up` runs it: `python -m nrt.lake.stream` in a process of its own,
restarted if it dies (as Firehose retries), stopped with SIGTERM after a last flush."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from nrt.children import spawn_child
from nrt.state.space import Backoff
from nrt.statedir import StateDir

# A worker that exits again within this long of its start is restarted after a growing delay,
# up to RESTART_CAP_SECONDS, and said once it reaches it, not every time.
STEADY_SECONDS = 30.0
RESTART_CAP_SECONDS = 30.0


def stream_checkpoint(state_dir: Path) -> Path:
    return StateDir(state_dir).stream_checkpoint


class StreamWorker:
    """`python -m nrt.lake.stream` in its own process, restarted if it dies (as Firehose retries),
    after a delay that grows while it keeps dying (never a restart loop)."""

    def __init__(
        self,
        table: str,
        state_dir: Path,
        flush_seconds: float,
        log: Callable[[str], None],
        outcomes_table: str | None = None,
    ) -> None:
        self.command = [
            sys.executable,
            "-m",
            "nrt.lake.stream",
            "--state",
            str(StateDir(state_dir).store),
            "--table",
            table,
            "--lake",
            str(lake_dir(state_dir)),
            "--checkpoint",
            str(stream_checkpoint(state_dir)),
            "--flush-seconds",
            str(flush_seconds),
            *(["--outcomes-table", outcomes_table] if outcomes_table else []),
        ]
        self.logs = StateDir(state_dir).logs
        self.pid_file = state_dir / "stream.pid"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.spawned_at = 0.0
        self._stopping = threading.Event()

    def start(self) -> StreamWorker:
        self._spawn()
        threading.Thread(target=self._supervise, name="stream-supervisor", daemon=True).start()
        return self

    @property
    def alive(self) -> bool:
        """Whether the worker process runs now."""
        return self.process is not None and self.process.poll() is None

    def _spawn(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        # stdout is the transform's own output (powertools logs and EMF metrics), as in CloudWatch.
        with open(self.logs / "firehose_transform.log", "ab") as out, open(self.logs / "stream.log", "ab") as err:
            self.process = spawn_child(self.command, os.environ, stdout=out, stderr=err)
        self.spawned_at = time.monotonic()
        with contextlib.suppress(OSError):  # a full disk: the worker runs all the same
            self.pid_file.write_text(f"{self.process.pid}\n")

    def _supervise(self) -> None:
        backoff = Backoff(first=0.5, cap=RESTART_CAP_SECONDS)
        quiet = False  # once the delay is at its cap, said once until the worker runs a while
        while not self._stopping.wait(0.5):
            process = self.process
            if process is None or process.poll() is None:
                continue
            if self._stopping.is_set():
                return
            if time.monotonic() - self.spawned_at > STEADY_SECONDS:
                backoff.reset()  # it had run a while: this exit is not one of a loop
                quiet = False
            delay = backoff.next()
            if not quiet:
                again = " (and so on while it keeps exiting)" if delay >= RESTART_CAP_SECONDS else ""
                self.log(
                    f"stream worker exited with {process.returncode}; restarting in {delay:g} s{again} "
                    f"(see {self.logs / 'stream.log'})"
                )
            quiet = delay >= RESTART_CAP_SECONDS
            if self._stopping.wait(delay):
                return
            self._restart()

    def _restart(self) -> None:
        try:
            self._spawn()
        except OSError as failure:  # cannot start it now (no space for its logs): the next round tries
            self.log(f"stream worker could not be started: {failure}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM: the worker flushes what it holds, then exits."""
        self._stopping.set()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def lake_dir(state_dir: Path) -> Path:
    return StateDir(state_dir).lake
