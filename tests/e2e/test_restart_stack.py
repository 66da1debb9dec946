"""End to end: `nrt up` stopped every way (SIGKILL, Ctrl-C with a backlog) and started again
on the same state directory. Every reading answered 200 or 202 is in the lake exactly once or
in the failure store; the tables, the failure store and `--local` endpoints come back; no
lake object is replaced; children stop with their parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from benchmarks.stack import Stack, child_processes, free_port, nrt_up
from nrt.lake.parquet import parquet_files, read_rows, table_spec
from tests.helpers import ROOT
from tests.helpers import post_json as post

NRT = [sys.executable, "-m", "nrt.cli"]


def reading(i: int, sensor: str = "r") -> dict[str, Any]:
    return {"model": "failure", "sensor": f"{sensor}-{i % 5}", "timestamp": 1795342530000 + i, "data": [12, 87, i % 40]}


def lake_ids(state: Path) -> list[str]:
    return [str(r["event_id"]) for r in read_rows(state / "lake", table_spec())]


def wait_for_lake(state: Path, expected: set[str], seconds: float = 90) -> list[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = lake_ids(state)
        if expected <= set(found):
            return found
        time.sleep(0.5)
    return lake_ids(state)


def alive(pids: dict[int, str]) -> list[str]:
    """Which of these processes still run (a zombie has stopped; only its exit status is left)."""
    out = []
    for pid, module in pids.items():
        try:
            if "zombie" not in Path(f"/proc/{pid}/status").read_text():
                out.append(module)
        except OSError:
            pass
    return out


def where(pids: dict[int, str]) -> dict[str, str]:
    """What each process still running is doing: its state and the kernel function it waits in."""
    found = {}
    for pid, module in pids.items():
        try:
            proc = Path(f"/proc/{pid}")
            state = next(line for line in (proc / "status").read_text().splitlines() if line.startswith("State:"))
            found[module] = f"{state.split(':', 1)[1].strip()}, waiting in {(proc / 'wchan').read_text() or '-'}"
        except (OSError, StopIteration):
            pass
    return found


def still_alive_after(pids: dict[int, str], seconds: float) -> list[str]:
    """Which of these processes still run once they all stopped, or the time is up."""
    deadline = time.monotonic() + seconds
    while (running := alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return running


def failure_count(stack: Stack) -> int:
    answer = subprocess.run(
        [*NRT, "failures", "--aws-port", str(stack.aws_port), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    return len(json.loads(answer.stdout))


def s3_objects(stack: Stack) -> dict[str, str]:
    """Every object in the embedded S3: bucket/key -> ETag."""
    s3 = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{stack.aws_port}", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    found = {}
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            found.update({f"{bucket['Name']}/{o['Key']}": o["ETag"] for o in page.get("Contents", [])})
    return found


def test_a_killed_stack_keeps_what_it_answered_and_its_tables_models_and_lake(tmp_path: Path) -> None:
    events: set[str] = set()
    stored: set[str] = set()
    with nrt_up("--flush-seconds", "1", state=tmp_path) as stack:
        deployed = subprocess.run(
            [*NRT, "deploy-model", "again", "--model-dir", str(tmp_path / "models" / "failure"), "--local",
             "--aws-port", str(stack.aws_port), "--state-dir", str(tmp_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stderr
        for i in range(20):
            status, answer = post(f"{stack.url}/predictions", {**reading(i, "sync"), "event_id": f"sync-{i}"})
            assert status == 200, answer
            stored.add(f"sync-{i}")
        assert post(f"{stack.url}/predictions", {**reading(0), "model": "failure", "data": [1, 2]})[0] == 400
        failures = failure_count(stack)
        objects = s3_objects(stack)
        second = subprocess.run(
            [*NRT, "up", "--state-dir", str(tmp_path), "--api-port", str(free_port()), "--aws-port", str(free_port())],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode != 0 and f"another `nrt up` (pid {stack.process.pid})" in second.stderr
        for i in range(300):
            status, answer = post(f"{stack.url}/events", {**reading(i), "event_id": f"event-{i}"})
            if status == 202:
                events.add(f"event-{i}")
        children = child_processes(stack.process.pid)
        stack.process.kill()  # as the out-of-memory killer does: no chance to clean up
        stack.process.wait()
        # SIGTERM reaches them at once; the stream worker writes what it holds before it exits
        # (once, on a clean-clone run with two busy test workers, that took over 15 s).
        left = still_alive_after(children, 60)
        assert left == [], f"children stop with their parent: {where(children)}"
        before = {p: p.read_bytes() for p in parquet_files(tmp_path / "lake", table_spec())}

    assert len(events) == 300
    with nrt_up("--flush-seconds", "1", state=tmp_path) as stack:
        found = wait_for_lake(tmp_path, events | stored)
        assert sorted(found) == sorted(set(found)), "no reading reaches the lake twice"
        assert events | stored <= set(found)
        for path, content in before.items():
            assert path.read_bytes() == content, f"{path.name} was replaced"
        # The table came back: the same reading under another event id is a conflict, not a new row.
        status, answer = post(f"{stack.url}/predictions", {**reading(3, "sync"), "event_id": "someone-else"})
        assert status == 409, answer
        # The event ids came back: one claimed before the kill names its reading and model still.
        status, answer = post(
            f"{stack.url}/predictions", {**reading(3, "sync"), "model": "again", "event_id": "sync-3"}
        )
        assert status == 409, answer
        assert failure_count(stack) == failures >= 1
        # So did the S3 objects (the models' artifacts, as deploy-model uploaded them).
        assert objects and objects.items() <= s3_objects(stack).items()
        models = json.loads(urllib.request.urlopen(f"{stack.url}/models", timeout=30).read())
        assert {m["model"] for m in models["models"]} >= {"failure", "again"}
        deadline = time.monotonic() + 30
        while (status := post(f"{stack.url}/predictions", {**reading(7, "again"), "model": "again"})[0]) != 200:
            assert time.monotonic() < deadline, status
            time.sleep(0.5)


def test_ctrl_c_with_a_backlog_stops_in_seconds_and_the_backlog_runs_at_the_next_start(tmp_path: Path) -> None:
    events: set[str] = set()
    with nrt_up("--flush-seconds", "1", state=tmp_path, session=True) as stack:
        for i in range(30):
            batch = [{**reading(i * 50 + j, "batch"), "event_id": f"batch-{i}-{j}"} for j in range(50)]
            for one in batch:
                del one["model"]
            status, _ = post(f"{stack.url}/events", {"model": "failure", "readings": batch})
            if status == 202:
                events |= {r["event_id"] for r in batch}
        started = time.monotonic()
        os.killpg(stack.process.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole group
        stack.process.wait(timeout=30)
        stopped_in = time.monotonic() - started
        assert stack.process.stdout is not None
        said = stack.process.stdout.read()

    assert len(events) == 1500
    assert stopped_in < 15, said
    with nrt_up("--flush-seconds", "1", state=tmp_path) as stack:
        found = wait_for_lake(tmp_path, events)
    assert events <= set(found), f"{len(events - set(found))} accepted readings missing"
    assert len(found) == len(set(found))


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"", "it is empty (0 bytes)"), (b"not a database, a half-copied file" * 200, "SQLite cannot read it")],
)
def test_a_damaged_state_db_stops_nrt_up_with_what_to_do_and_is_kept(tmp_path, content, why):
    store = tmp_path / "state.db"
    store.write_bytes(content)

    done = subprocess.run(
        [*NRT, "up", "--state-dir", str(tmp_path), "--api-port", str(free_port()), "--aws-port", str(free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode != 0
    assert f"{store} is damaged: {why}" in done.stderr
    assert f"mv {store} {store}.damaged" in done.stderr
    assert "Traceback" not in done.stderr
    assert store.read_bytes() == content  # never silently replaced
