"""nrt/lake/stream.py on the embedded AWS: predictions stored by the real workflow reach the lake once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from nrt.emulator.server import EmbeddedAws
from nrt.lake.firehose import Pending, kds_change_record, load_transform
from nrt.lake.parquet import parquet_files, read_rows, table_spec
from nrt.lake.stream import Checkpoint, LakeWriter, LogReader
from nrt.state.store import Store
from tests.workflow.test_inference_workflow import reading, run


class Leg:
    """One stream worker's parts over a lake folder, as a restart would build them."""

    def __init__(self, aws: EmbeddedAws, store: Store, lake: Path) -> None:
        self.aws = aws
        self.lake = lake
        self.table = aws.ctx.refs["PredictionsTable"]
        self.checkpoint = Checkpoint(lake / "checkpoint.json")
        self.reader = LogReader(store, self.checkpoint, [self.table])  # the outcomes table's changes go elsewhere
        self.writer = LakeWriter(
            lake, self.checkpoint, load_transform(), table_spec(), "us-east-1", "stream", "delivery",
            stream_id=store.stream_id,
        )  # fmt: skip

    def pump(self) -> None:
        """Read everything the stream has, then flush once."""
        # Every change made so far is kept first, as every answer waits for it in nrt up (writes
        # from boto3 in this process are answered without waiting).
        self.aws.wiring.sync()
        while batch := self.reader.poll():
            for shard, record in batch:
                change = kds_change_record(record, self.table, "us-east-1")
                self.writer.add(Pending(record["dynamodb"]["SequenceNumber"], shard, 1_795_342_530_000, _json(change)))
        self.writer.flush()


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def rows_for(lake: Path, sensor_prefix: str) -> list[dict[str, Any]]:
    return [r for r in read_rows(lake, table_spec()) if r["sensor"].startswith(sensor_prefix)]


@pytest.fixture
def sensors() -> str:
    return f"lake-{uuid.uuid4().hex[:6]}"


def score(aws: EmbeddedAws, sensors: str, n: int) -> list[dict[str, Any]]:
    bodies = [reading("stream", sensor=f"{sensors}-{i % 3}") for i in range(n)]
    for body in bodies:
        assert run(aws, body).status == 200
    return bodies


def test_given_scored_readings_when_the_stream_is_pumped_then_each_is_one_row_in_the_lake(
    aws, store, model_host, tmp_path, sensors
):
    model_host("stream")
    bodies = score(aws, sensors, 12)

    Leg(aws, store, tmp_path).pump()

    rows = rows_for(tmp_path, sensors)
    assert sorted((r["sensor"], r["ts"]) for r in rows) == sorted((b["sensor"], b["timestamp"]) for b in bodies)
    assert {r["change_type"] for r in rows} == {"INSERT"}
    assert all(
        r["model"] == "stream" and r["endpoint"] == "nrt-stream" and r["input"] == "[12,87,20]" and r["label"] == "1"
        for r in rows
    )
    assert all(
        p.is_relative_to(tmp_path / "predictions/dt=2026-11-22/hour=10") for p in parquet_files(tmp_path, table_spec())
    )


def test_given_a_crash_after_the_write_and_before_the_checkpoint_when_restarted_then_nothing_is_lost_or_doubled(
    aws, store, model_host, tmp_path, sensors, monkeypatch
):
    model_host("stream")
    Leg(aws, store, tmp_path).pump()  # whatever earlier tests stored: not this test's concern
    bodies = score(aws, sensors, 9)
    crashing = Leg(aws, store, tmp_path)

    def crash(self: Checkpoint) -> None:
        raise SystemExit("killed mid-flush")

    monkeypatch.setattr(Checkpoint, "save", crash)
    with pytest.raises(SystemExit):
        crashing.pump()
    monkeypatch.undo()
    assert len(rows_for(tmp_path, sensors)) == 9  # the object landed; the checkpoint did not move

    restarted = Leg(aws, store, tmp_path)
    restarted.pump()
    more = score(aws, sensors, 3)
    restarted.pump()

    rows = rows_for(tmp_path, sensors)
    assert len(rows) == len(bodies) + len(more) == 12
    assert len({r["dedup_key"] for r in rows}) == 12


def test_given_an_item_changed_and_removed_when_pumped_then_the_lake_records_each_change(aws, store, tmp_path, sensors):
    ddb = aws.client("dynamodb")
    table = aws.ctx.refs["PredictionsTable"]
    key = {"sensor": {"S": sensors}, "timestamp_endpoint": {"S": "1795342530000#nrt-failure"}}
    answer = {"timestamp": {"N": "1795342530000"}, "kind": {"S": "binary"}, "prediction": {"S": "1"}}
    ddb.put_item(TableName=table, Item={**key, **answer, "probability": {"S": "0.9"}})
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET probability = :p",
        ExpressionAttributeValues={":p": {"S": "0.2"}},
    )
    ddb.delete_item(TableName=table, Key=key)

    Leg(aws, store, tmp_path).pump()

    rows = rows_for(tmp_path, sensors)
    assert [(r["change_type"], r["probability"]) for r in rows] == [("INSERT", 0.9), ("MODIFY", 0.2), ("REMOVE", 0.2)]


def test_a_record_the_transform_refuses_goes_to_the_error_prefix_and_the_rest_still_lands(
    aws, store, tmp_path, sensors
):
    leg = Leg(aws, store, tmp_path)
    leg.pump()
    good = {"eventName": "INSERT", "dynamodb": {"Keys": {"sensor": {"S": sensors}, "timestamp": {"N": "5"}}}}
    leg.writer.add(Pending("1", "shard-a", 1_795_342_530_000, b"{not json"))
    leg.writer.add(Pending("2", "shard-a", 1_795_342_530_000, _json(good)))

    flushed = leg.writer.flush()

    assert (flushed.rows, flushed.failed) == (1, 1)
    errors = list((tmp_path / "errors/processing-failed").rglob("*.json"))
    # (the first pump may have refused what earlier tests wrote by hand: only this record counts)
    assert len([e for e in errors if "shard-a:1" in e.read_text()]) == 1
    assert [r["ts"] for r in rows_for(tmp_path, sensors)] == [5]


def test_a_checkpoint_of_another_stream_is_not_applied(tmp_path):
    path = tmp_path / "checkpoint.json"
    old = Checkpoint(path)
    old.bind("arn:stream/earlier-run")
    old.positions["shard-1"] = "1100000000017454423999"
    old.save()

    again = Checkpoint(path)
    assert again.positions == {"shard-1": "1100000000017454423999"}
    again.bind("arn:stream/earlier-run")
    assert again.positions == {"shard-1": "1100000000017454423999"}
    again.bind("arn:stream/this-run")
    assert again.positions == {}


@pytest.mark.parametrize(("flush_seconds", "flush_bytes"), [(3600.0, 1), (0.2, 1 << 30)])
def test_the_worker_flushes_on_size_or_on_age_whichever_comes_first(
    aws, store, model_host, tmp_path, sensors, flush_seconds, flush_bytes
):
    import threading

    from nrt.lake.stream import WorkerConfig
    from nrt.lake.stream import run as run_worker

    model_host("stream")
    score(aws, sensors, 4)
    config = WorkerConfig(
        state=store.path,
        table_name=aws.ctx.refs["PredictionsTable"],
        lake=tmp_path,
        checkpoint=tmp_path / "checkpoint.json",
        flush_seconds=flush_seconds,
        flush_bytes=flush_bytes,
        poll_seconds=0.05,
    )
    stop = threading.Event()
    lines: list[str] = []
    worker = threading.Thread(target=run_worker, args=(config, stop, lines.append))
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while len(rows_for(tmp_path, sensors)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        flushed_while_running = len(rows_for(tmp_path, sensors))
    finally:
        stop.set()
        worker.join(timeout=30)

    assert flushed_while_running == 4
    assert any("rows -> lake" in line for line in lines)
