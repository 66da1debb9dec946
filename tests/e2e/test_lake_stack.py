"""End to end, streaming leg: readings through the local API become exactly one lake row each,
also when the stream worker dies mid-flush and is restarted; then queried and charted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.stack import Stack, nrt_up
from nrt.lake.parquet import read_rows, table_spec
from nrt.lake.stream import CRASH_BEFORE_CHECKPOINT
from tests.helpers import ROOT

NRT = [sys.executable, "-m", "nrt.cli"]
READINGS = 150


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`nrt up` whose stream worker crashes once after its first write, before its checkpoint."""
    state = tmp_path_factory.mktemp("lake-state")
    with nrt_up("--flush-seconds", "1", env={CRASH_BEFORE_CHECKPOINT: "1"}, state=state) as running:
        yield running


def produce(url: str, count: int, seed: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "producer/producer.py", "--url", url, "--count", str(count), "--rate", "0",
         "--sensors", "4", "--json", "--seed", str(seed)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    assert summary["by_status"] == {"200": count}
    return summary


def wait_for_rows(lake: Path, count: int, timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows = read_rows(lake, table_spec())
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = read_rows(lake, table_spec())
    time.sleep(2.5)  # a worker that would write a duplicate has flushed by now
    return read_rows(lake, table_spec())


def worker_pid(state: Path) -> int:
    return int((state / "stream.pid").read_text())


def test_up_names_the_lake_and_the_dashboard(stack):
    assert f"dashboard     {stack.url}/dashboard" in stack.banner
    assert "flushed every 1 s" in stack.banner


def test_every_reading_is_one_row_in_the_lake_through_a_crash_mid_flush_and_a_kill(stack):
    state = stack.state
    lake = state / "lake"
    produce(stack.url, READINGS // 3, seed=1)
    wait_for_rows(lake, 1, timeout=30)
    # The injected crash: the first object was written and the checkpoint was not.
    assert (state / "checkpoints" / "stream.crashed").exists()

    first_worker = worker_pid(state)
    killer = subprocess.Popen([sys.executable, "-c", f"import os, time; time.sleep(1.0); os.kill({first_worker}, 9)"])
    produce(stack.url, READINGS - READINGS // 3, seed=2)
    killer.wait(timeout=30)

    rows = wait_for_rows(lake, READINGS)

    assert worker_pid(state) != first_worker  # restarted by nrt up
    assert len(rows) == READINGS
    assert len({r["event_id"] for r in rows}) == READINGS
    assert len({r["dedup_key"] for r in rows}) == READINGS
    assert {r["change_type"] for r in rows} == {"INSERT"}


def test_the_lake_is_queried_with_the_athena_sql(stack):
    lake = stack.state / "lake"
    count = subprocess.run(
        [*NRT, "query", "-e", "SELECT count(*) AS n FROM predictions", "--format", "json", "--lake", str(lake)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    duplicates = subprocess.run(
        [*NRT, "query", "athena/duplicate_check.sql", "--format", "csv", "--lake", str(lake)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert count.returncode == 0, count.stderr
    assert json.loads(count.stdout) == [{"n": READINGS}]
    assert duplicates.stdout.splitlines()[1:] == [
        "same change delivered twice,0",
        "more than one insert per event and model,0",
    ]


def test_the_running_stack_serves_the_dashboard(stack):
    with urllib.request.urlopen(f"{stack.url}/dashboard", timeout=60) as resp:
        page = resp.read().decode()
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '"query": "label_rate_per_minute.sql"' in page
    assert '"readings": ' in page


def test_nrt_dashboard_writes_the_page(stack, tmp_path):
    out = tmp_path / "page.html"
    done = subprocess.run(
        [*NRT, "dashboard", "--lake", str(stack.state / "lake"), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {out}"
    assert "Latest prediction per sensor" in out.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "SELECT no_such_fn(1)"], "query failed: query: DuckDB has no function 'no_such_fn'"),
        (["missing.sql"], "no such SQL file: missing.sql"),
        ([], "give either SQL files or -e SQL"),
    ],
)
def test_nrt_query_explains_what_it_cannot_do(tmp_path, args, message):
    done = subprocess.run(
        [*NRT, "query", *args, "--lake", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_the_same_event_sent_many_times_concurrently_is_one_item_and_one_lake_row(stack):
    from concurrent.futures import ThreadPoolExecutor

    reading = {"sensor": "idem-1", "model": "failure", "timestamp": int(time.time() * 1000), "data": [12, 87, 20]}
    body = json.dumps({**reading, "event_id": "idem-event-1"}).encode()

    def send(_: int) -> tuple[int, Any]:
        req = urllib.request.Request(
            f"{stack.url}/predictions", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(send, range(32)))

    assert {status for status, _ in answers} == {200}
    assert sum(1 for _, a in answers if not a["duplicate"]) == 1
    assert {(a["prediction"], a["probability"]) for _, a in answers} == {
        (answers[0][1]["prediction"], answers[0][1]["probability"])
    }
    lake = stack.state / "lake"
    deadline = time.monotonic() + 60
    while (
        not any(r["event_id"] == "idem-event-1" for r in read_rows(lake, table_spec())) and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    time.sleep(2.5)  # a second change, if there were one, would have landed by now
    rows = [r for r in read_rows(lake, table_spec()) if r["event_id"] == "idem-event-1"]
    assert [r["change_type"] for r in rows] == ["INSERT"]
