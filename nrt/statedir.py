"""Where the local stack is: the state directory's layout, the record of the running `nrt up`
(stack.json), and the default ports and URLs on 127.0.0.1. Everything that reads or writes
local state asks here."""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

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
