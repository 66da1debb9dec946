"""The local stack's one model of where things are: the state directory's layout, and the
default ports and URLs on 127.0.0.1. Everything that reads or writes local state asks here."""

from __future__ import annotations

import concurrent.futures
import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from nrt.names import check_model_name

HOST = "127.0.0.1"
API_PORT = 3000
AWS_PORT = 4566
DEFAULT_STATE_DIR = ".nrt"
# Set once (`export NRT_STATE_DIR=...`), every command, `nrt up` included, uses that stack.
STATE_DIR_ENV = "NRT_STATE_DIR"
API_URL = f"http://{HOST}:{API_PORT}"


def aws_url(port: int = AWS_PORT) -> str:
    return f"http://{HOST}:{port}"


def state_dir_default() -> str:
    """--state-dir's default: $NRT_STATE_DIR, else .nrt."""
    return os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR


@dataclass(frozen=True)
class StateDir:
    """The layout of `<state-dir>` (git-ignored): models, lake, checkpoints, logs, key, page,
    and state.db (what outlives the process)."""

    root: Path = Path(DEFAULT_STATE_DIR)

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def models(self) -> Path:
        return self.root / "models"

    def model(self, name: str) -> Path:
        """The model's folder; a name that is not a plain endpoint name (a path, `..`) is refused
        here too, whichever caller forgot the rule."""
        return self.models / check_model_name(name, prefix="")

    @property
    def stream_checkpoint(self) -> Path:
        return self.root / "checkpoints" / "stream.json"

    @property
    def store(self) -> Path:
        """What outlives the process: tables, the change log, accepted events, endpoints."""
        return self.root / "state.db"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def api_key(self) -> Path:
        return self.root / "api-key"

    @property
    def dashboard(self) -> Path:
        return self.root / "dashboard.html"

    @property
    def stack(self) -> Path:
        """Where the running `nrt up` listens (StackRecord), so commands find it from here alone."""
        return self.root / "stack.json"

    @property
    def owner(self) -> Path:
        """Held (flock) by the one `nrt up` that uses this directory; it names that process."""
        return self.root / "nrt-up.pid"


@dataclass(frozen=True)
class StackRecord:
    """What `nrt up` records once it answers: its addresses, its pid, and whether requests need
    an x-api-key (never the key itself: that is <state-dir>/api-key, readable by its owner only)."""

    api_url: str
    aws_url: str
    pid: int
    api_key_required: bool


def write_stack_record(state: StateDir, record: StackRecord) -> None:
    """Replace the record at once: a reader sees the old one or the new one, never a part."""
    partial = state.stack.with_name(f".{state.stack.name}.{os.getpid()}")
    partial.write_text(json.dumps(asdict(record), indent=1) + "\n")
    os.replace(partial, state.stack)


def read_stack_record(state: StateDir) -> StackRecord | None:
    """The record `nrt up` left, None when there is none or it is unreadable; it may be stale."""
    try:
        fields = json.loads(state.stack.read_text())
        return StackRecord(
            str(fields["api_url"]), str(fields["aws_url"]), int(fields["pid"]), bool(fields["api_key_required"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_stack_record(state: StateDir) -> None:
    state.stack.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


class StateDirBusy(RuntimeError):
    """Another `nrt up` holds the state directory."""


def hold(state: StateDir) -> TextIO:
    """Take the state directory for this process, or raise StateDirBusy naming who has it.

    Two processes writing one state.db and one lake would each replay the other's journal and
    stream. The lock is the kernel's (flock): it goes with the process, however it ends.
    Keep what this returns open for as long as the directory is in use."""
    state.root.mkdir(parents=True, exist_ok=True)
    handle = open(state.owner, "a+")  # noqa: SIM115 (held for the process's life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        raise StateDirBusy(
            f"another `nrt up` (pid {owner}) is using {state.root}; stop it, or give this one another --state-dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


# --- children stop with their parent ---------------------------------------------------------

PARENT_PID = "NRT_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of a process `nrt up` starts: it names its parent (see die_with_parent)."""
    return {**environ, PARENT_PID: str(os.getpid())}


# The kernel's "parent" for the parent-death signal is the thread that started the child, not
# the process: a model host started by the endpoint watch got SIGTERM when that thread ended at
# Ctrl-C, before the executions in flight had used it. Every child is started from this one
# thread, which lives as long as the process.
_SPAWNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="children")


def spawn_child(args: list[str], environ: Mapping[str, str], **popen: Any) -> subprocess.Popen[Any]:
    """Start a child of `nrt up`: in a session of its own (Ctrl-C reaches `nrt up` alone, which
    stops its children in order), naming its parent, and stopping with the process, not with
    the thread that asked for it (see die_with_parent)."""
    env = child_env(environ)
    return _SPAWNER.submit(lambda: subprocess.Popen(args, env=env, start_new_session=True, **popen)).result()


def die_with_parent() -> None:
    """Called first by a child of `nrt up` (started by spawn_child): on Linux the kernel sends it
    SIGTERM when its parent ends, however it ends (SIGKILL and out-of-memory included); a child
    whose parent is already gone stops now. The children run in sessions of their own, so
    Ctrl-C in the terminal reaches `nrt up` alone, which stops them in order."""
    parent = os.environ.get(PARENT_PID)
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):
        os.kill(os.getpid(), signal.SIGTERM)
