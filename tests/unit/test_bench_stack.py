"""benchmarks/: the per-process CPU accounting the end-to-end benchmark reports, and what it measures."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from benchmarks.stack import child_processes, cpu_seconds


def test_cpu_seconds_grows_with_work_and_is_none_for_a_process_that_is_gone():
    before = cpu_seconds(os.getpid())
    assert before is not None
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    after = cpu_seconds(os.getpid())
    assert after is not None and after - before >= 0.1

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert cpu_seconds(gone.pid) is None


def test_child_processes_names_each_child_by_its_module():
    child = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while child.pid not in (found := child_processes(os.getpid())) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert found[child.pid] == "http.server"
    finally:
        child.terminate()
        child.wait()


def test_the_benchmark_leaves_out_a_scenario_of_0_readings_and_refuses_nothing_to_measure():
    from benchmarks.e2e import scenarios

    assert scenarios(1000, 10000) == [(1000, 0), (10000, 50)]
    assert scenarios(1000, 0) == [(1000, 0)]
    assert scenarios(0, 200) == [(200, 50)]
    with pytest.raises(ValueError, match="nothing to measure"):
        scenarios(0, 0)
    with pytest.raises(ValueError, match="0 or more"):
        scenarios(-1, 10)
