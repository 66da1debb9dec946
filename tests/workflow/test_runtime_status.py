"""The local runtime says which models it does not serve (yet), so /models never promises one."""

from __future__ import annotations

from typing import Any

from nrt.runtime import LocalRuntime


def test_a_model_without_a_running_host_is_creating_and_one_that_cannot_start_is_failed():
    runtime = LocalRuntime()
    running: Any = object()
    runtime.hosts["nrt-served"] = running
    runtime.failed_hosts["nrt-broken"] = ("v1", "ModuleNotFoundError: no module named 'xgboost'")
    runtime.unservable.add("nrt-by-hand")

    status = runtime.unserved(["nrt-served", "nrt-broken", "nrt-new", "nrt-by-hand"])

    assert status == {
        "nrt-broken": ("Failed", "ModuleNotFoundError: no module named 'xgboost'"),
        "nrt-new": ("Creating", "its model host is starting"),
    }
