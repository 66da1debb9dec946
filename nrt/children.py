"""The processes `nrt up` starts (model hosts, the stream worker, training jobs): started from
one thread in sessions of their own, and stopping when their parent ends, however it ends."""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import Any


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


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
