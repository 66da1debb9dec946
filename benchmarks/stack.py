"""`nrt up` in its own process, for the benchmarks (and the tests that drive them)."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nrt.statedir import StateDir

if TYPE_CHECKING:
    from nrt.emulator.server import EmbeddedAws

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a process has used so far (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_processes(pid: int) -> dict[int, str]:
    """pid -> module (`nrt.hosts.host`, `nrt.lake.stream`, ...) of a process's children (Linux /proc)."""
    found: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != pid:
                continue
            argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        module = argv[argv.index(b"-m") + 1].decode() if b"-m" in argv else argv[0].decode()
        found[int(stat.parent.name)] = module
    return found


@dataclass
class Stack:
    url: str
    aws_port: int
    state: Path
    banner: str
    process: subprocess.Popen[str]

    def stream_worker_pid(self) -> int:
        return int((self.state / "stream.pid").read_text())


@functools.cache
def trained_default_model() -> Path:
    """The default model, trained once for this process as `nrt up` trains it at first use."""
    from nrt.default_model import ensure_default_model

    scratch = Path(tempfile.mkdtemp(prefix="nrt-default-model-"))
    atexit.register(shutil.rmtree, scratch, True)
    return ensure_default_model(scratch, log=lambda line: None)


def seed_default_model(state: Path) -> None:
    """Give a state directory without one the default model trained once for this process."""
    from nrt.default_model import DEFAULT_MODEL

    target = StateDir(state).model(DEFAULT_MODEL)
    if not target.exists():
        shutil.copytree(trained_default_model(), target)


@contextmanager
def nrt_up(
    *args: str, env: dict[str, str] | None = None, state: Path | None = None, session: bool = False, seed: bool = True
) -> Iterator[Stack]:
    """Start `nrt up ARGS` on free ports; stop it with Ctrl-C (SIGINT) on the way out. With
    session, in a process group of its own (as a terminal runs it: os.killpg is Ctrl-C). With
    seed, a state directory without the default model gets the one trained once for this
    process, so each start does not train it again (`nrt demo`'s test sees the first-use
    training)."""
    api_port, aws_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as scratch:
        state_dir = state or Path(scratch)
        if seed:
            seed_default_model(state_dir)
        # Its output is not read after the banner: no health lines to fill the pipe.
        process = subprocess.Popen(
            [sys.executable, "-m", "nrt.cli", "up", "--api-port", str(api_port), "--aws-port", str(aws_port),
             "--state-dir", str(state_dir), "--health-seconds", "0", *args],
            cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, start_new_session=session,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            banner: list[str] = []
            while "Ctrl-C" not in (line := process.stdout.readline()):
                if not line:
                    raise RuntimeError("nrt up did not start:\n" + "".join(banner))
                banner.append(line)
            yield Stack(f"http://127.0.0.1:{api_port}", aws_port, state_dir, "".join(banner), process)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def in_process() -> Iterator[tuple[EmbeddedAws, Path]]:
    """One embedded AWS in this process, the default model deployed as `bench` and served by its
    host (its own process, as in `nrt up`, so its CPU is not counted): what the in-process
    benchmarks time. Yields it and a state folder, both gone afterwards."""
    from nrt.default_model import deploy_local_endpoint, ensure_default_model
    from nrt.emulator.server import provision, start
    from nrt.hosts.supervisor import start_model_host

    state = Path(tempfile.mkdtemp(prefix="nrt-bench-"))
    model = ensure_default_model(state, log=lambda line: print(line, file=sys.stderr))
    aws = start(port=free_port())
    provision(aws)
    endpoint = deploy_local_endpoint(aws, "bench", model)
    host = start_model_host(model, endpoint)
    aws.wiring.model_hosts.route(endpoint, host.url)
    try:
        yield aws, state
    finally:
        aws.wiring.table_changes = None
        host.process.terminate()
        aws.stop()
        shutil.rmtree(state, ignore_errors=True)
