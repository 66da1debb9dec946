"""nrt/children.py's children of `nrt up`: they stop with the process, not with the thread that
started them (the kernel's parent-death signal follows the thread)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from nrt.children import child_env, spawn_child
from tests.helpers import ROOT

CHILD = (
    "from nrt.children import die_with_parent; die_with_parent(); print('up', flush=True); import time; time.sleep(60)"
)


def started_by_a_thread_that_ends(start: Any) -> subprocess.Popen[str]:
    """As the endpoint watch starts a model host: the thread waits until the child is up (and
    has asked for the parent-death signal), and ends later."""
    made: list[subprocess.Popen[str]] = []

    def run() -> None:
        child = start()
        assert child.stdout is not None and child.stdout.readline().strip() == "up"
        made.append(child)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return made[0]


def alive_after(child: subprocess.Popen[str], seconds: float) -> bool:
    time.sleep(seconds)
    alive = child.poll() is None
    child.kill()
    child.wait()
    return alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_child_outlives_the_thread_that_asked_for_it():
    child = started_by_a_thread_that_ends(
        lambda: spawn_child([sys.executable, "-c", CHILD], os.environ, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    )
    assert alive_after(child, 1.0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_why_started_from_a_thread_that_ends_a_child_would_be_stopped():
    child = started_by_a_thread_that_ends(
        lambda: subprocess.Popen(
            [sys.executable, "-c", CHILD], env=child_env(os.environ), cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
    )
    assert not alive_after(child, 1.0)
