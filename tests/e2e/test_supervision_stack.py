"""End to end: what `nrt up` does when a part of it fails while readings flow. A killed model
host is shown out of service until the next reading starts it again; a lake that cannot be written is reported with a
growing lag, and what was held reaches it once it can be written again."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from typing import Any

from benchmarks.stack import child_processes, nrt_up
from nrt.lake.parquet import read_rows, table_spec
from tests.e2e.test_restart_stack import post, reading


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def model_hosts(stack: Any) -> set[int]:
    return {pid for pid, module in child_processes(stack.process.pid).items() if module == "nrt.hosts.host"}


def until(check: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)
    return found


def test_a_killed_model_host_is_shown_down_and_the_next_reading_starts_it_and_an_unwritable_lake_is_reported_then_caught_up(  # noqa: E501
    tmp_path,
):
    with nrt_up("--flush-seconds", "1", state=tmp_path) as stack:
        assert post(f"{stack.url}/predictions", reading(0, "sup"))[0] == 200
        host = next(pid for pid, module in child_processes(stack.process.pid).items() if module == "nrt.hosts.host")

        os.kill(host, signal.SIGKILL)
        down = until(lambda: get(f"{stack.url}/status")["models_down"], 10)
        assert "exited (-9)" in down["nrt-failure"] and "the next invocation starts it" in down["nrt-failure"]
        failure = next(m for m in get(f"{stack.url}/models")["models"] if m["model"] == "failure")
        assert (failure["status"], failure["available"]) == ("InService", True)  # scaled to zero, as on AWS
        assert not model_hosts(stack)  # not restarted in a loop: nothing asked for it
        status, answer = post(f"{stack.url}/predictions", reading(1, "sup"))
        assert status == 200, answer  # the reading cold-starts it
        assert len(model_hosts(stack)) == 1
        assert get(f"{stack.url}/status")["models_down"] == {}
        assert post(f"{stack.url}/predictions", reading(2, "sup"))[0] == 200

        # The lake cannot be written: its table folder is a file.
        until(lambda: len(read_rows(tmp_path / "lake", table_spec())) >= 2, 30)
        folder = tmp_path / "lake" / "predictions"
        folder.rename(tmp_path / "lake" / "moved")
        folder.write_text("in the way\n")
        for i in range(3, 8):
            assert post(f"{stack.url}/predictions", reading(i, "sup"))[0] == 200
        stuck = until(lambda: "cannot write the lake" in (s := get(f"{stack.url}/status"))["stream"] and s, 15)
        time.sleep(1.5)
        later = get(f"{stack.url}/status")
        assert later["lake_lag_s"] > stuck["lake_lag_s"], "the lag grows while nothing can be written"

        folder.unlink()
        (tmp_path / "lake" / "moved").rename(folder)
        until(lambda: get(f"{stack.url}/status")["stream"] == "ok", 15)
        stored = {f"sup-{i % 5}:{1795342530000 + i}" for i in range(8)}

        def lake_has_them() -> list[dict[str, Any]]:
            rows = read_rows(tmp_path / "lake", table_spec())
            return rows if stored <= {r["event_id"] for r in rows} else []

        rows = until(lake_has_them, 30)
        ids = [r["event_id"] for r in rows]
        assert len(ids) == len(set(ids))
