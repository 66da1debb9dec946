"""The stream worker as `nrt up` runs it: `python -m nrt.lake.stream` in a process of its own,
restarted if it dies (as Firehose retries), stopped with SIGTERM after a last flush."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from nrt.children import spawn_child
from nrt.statedir import StateDir


def stream_checkpoint(state_dir: Path) -> Path:
    return StateDir(state_dir).stream_checkpoint


class StreamWorker:
    """`python -m nrt.lake.stream` in its own process, restarted if it dies (as Firehose retries)."""

    def __init__(self, table: str, state_dir: Path, flush_seconds: float, log: Callable[[str], None]) -> None:
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
        ]
        self.logs = StateDir(state_dir).logs
        self.pid_file = state_dir / "stream.pid"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()

    def start(self) -> StreamWorker:
        self._spawn()
        threading.Thread(target=self._supervise, name="stream-supervisor", daemon=True).start()
        return self

    def _spawn(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        # stdout is the transform's own output (powertools logs and EMF metrics), as in CloudWatch.
        with open(self.logs / "firehose_transform.log", "ab") as out, open(self.logs / "stream.log", "ab") as err:
            self.process = spawn_child(self.command, os.environ, stdout=out, stderr=err)
        self.pid_file.write_text(f"{self.process.pid}\n")

    def _supervise(self) -> None:
        while not self._stopping.wait(0.5):
            process = self.process
            if process is None or process.poll() is None:
                continue
            if self._stopping.is_set():
                return
            self.log(f"stream worker exited with {process.returncode}; restarting (see {self.logs / 'stream.log'})")
            time.sleep(0.5)
            self._spawn()

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
