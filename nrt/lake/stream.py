"""Stream emulation: the streamed tables' changes -> the real Firehose transform -> Parquet.

On AWS: table -> Kinesis Data Streams for DynamoDB -> Firehose (Lambda transform, Parquet
conversion) -> S3, once for predictions and once for outcomes. moto has none of that. Locally
the tables' change records are kept, in order and durably, in the local stack's store
(nrt/state/store.py): that log is the Kinesis stream. This worker reads it from its checkpoint
on, rebuilds each record in the KDS-for-DynamoDB format, hands a Firehose-shaped event to
functions/firehose_transform, and writes what it returns with the Glue table's schema under the
delivery stream's prefix: each change by its table (the predictions table's under predictions/,
the outcomes table's under outcomes/), with one checkpoint for the one log, moved once every
table's rows of a flush are written.

Delivery is at least once from the stream (like AWS) and exactly once into the lake: an
object is written atomically, under a name no other run uses and never over an existing
object, before the checkpoint moves, and rows whose dedup key is already in the lake are
dropped, so a crash between the two repeats nothing. A lake that cannot be written keeps
what the worker holds in its buffer (and the log), reported as an error, until it can.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import datetime
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from nrt.children import die_with_parent
from nrt.health import write_stream_status
from nrt.lake.firehose import Handler, LambdaContext, Pending, firehose_event, kds_change_record, load_transform
from nrt.lake.parquet import TableSpec, column_values, table_spec, write_rows
from nrt.signals import StopSignals
from nrt.state.space import Backoff
from nrt.state.store import Store

SHARD = "shardId-000000000000"  # the local stream has one shard
OUTCOMES_GLUE_TABLE = "OutcomesGlueTable"  # what OutcomesDelivery converts the outcomes table's changes against
CRASH_BEFORE_CHECKPOINT = "NRT_STREAM_CRASH_BEFORE_CHECKPOINT"


class FailedRecord(TypedDict):
    """A record the transform could not process, as Firehose writes it under errors/."""

    recordId: str
    rawData: str  # base64
    result: str


@dataclass
class Flushed:
    rows: int
    duplicates: int
    failed: int
    path: Path | None


class Checkpoint:
    """The last sequence number in the lake, per shard of one stream; written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        saved = json.loads(path.read_text()) if path.exists() else {}
        self.stream: str | None = saved.get("stream")
        self.positions: dict[str, str] = saved.get("positions", {})

    def bind(self, stream: str) -> None:
        """Positions belong to one stream: a new stream (a fresh embedded AWS) starts over."""
        if stream != self.stream:
            self.stream = stream
            self.positions = {}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps({"stream": self.stream, "positions": self.positions}, indent=1))
        partial.replace(self.path)


class LakeWriter:
    """Buffers changes, runs the transform, writes Parquet, then moves the checkpoint."""

    def __init__(
        self,
        lake: Path,
        checkpoint: Checkpoint,
        transform: Handler,
        spec: TableSpec,
        region: str,
        stream_arn: str,
        delivery_arn: str,
        before_checkpoint: Callable[[Path], None] | None = None,
        stream_id: str = "local",
        routes: dict[str, TableSpec] | None = None,
    ) -> None:
        self.lake = lake
        # In every object's name: a new state directory starts its numbers over, and its
        # objects must not take the names of an earlier one's.
        self.stream_id = stream_id
        # Called with the checkpoint's path after an object is written and before the checkpoint
        # moves: the worst moment to die (the fault tests inject a crash here).
        self.before_checkpoint = before_checkpoint
        self.checkpoint = checkpoint
        self.transform = transform
        self.spec = spec
        self.region = region
        self.stream_arn = stream_arn
        self.delivery_arn = delivery_arn
        self.buffer: list[Pending] = []
        self.buffered_bytes = 0
        # A change's table -> the Glue table its delivery stream writes (any other: `spec`'s).
        self.routes = routes or {}
        # Keys already in the lake, per Glue table: a change read again after a crash is not written twice.
        self.seen_in = {s.name: column_values(lake, s, "dedup_key") for s in [spec, *self.routes.values()]}

    def add(self, pending: Pending) -> None:
        self.buffer.append(pending)
        self.buffered_bytes += len(pending.data)

    @property
    def oldest_arrival_ms(self) -> int | None:
        return self.buffer[0].arrival_ms if self.buffer else None

    def oldest_age(self, now_ms: int) -> float:
        return (now_ms - self.buffer[0].arrival_ms) / 1000 if self.buffer else 0.0

    @property
    def seen(self) -> set[str]:
        """The dedup keys of the main Glue table's rows in the lake."""
        return self.seen_in[self.spec.name]

    def flush(self) -> Flushed:
        if not self.buffer:
            return Flushed(0, 0, 0, None)
        batch = self.buffer
        # Raises (nothing changed) when the lake cannot be written: the buffer stays for a retry.
        done = [self._write(spec, group) for spec, group in self._by_table(batch)]
        if self.before_checkpoint is not None:
            self.before_checkpoint(self.checkpoint.path)
        for pending in batch:
            self.checkpoint.positions[pending.shard] = pending.sequence
        self.checkpoint.save()
        self.buffer = []
        self.buffered_bytes = 0
        paths = [d.path for d in done if d.path is not None]  # the main table's first, when it has rows
        return Flushed(
            sum(d.rows for d in done),
            sum(d.duplicates for d in done),
            sum(d.failed for d in done),
            next(iter(paths), None),
        )

    def _by_table(self, batch: list[Pending]) -> list[tuple[TableSpec, list[Pending]]]:
        """The batch split by the Glue table each change goes to (the main one first), in order."""
        specs = {s.name: s for s in [self.spec, *self.routes.values()]}
        groups: dict[str, list[Pending]] = {self.spec.name: []}
        for pending in batch:
            groups.setdefault(self.routes.get(pending.table, self.spec).name, []).append(pending)
        return [(specs[name], group) for name, group in groups.items() if group]

    def _write(self, spec: TableSpec, batch: list[Pending]) -> Flushed:
        """One Glue table's share of a flush through the transform into the lake (an object
        written twice is skipped: the same name, after a crash before the checkpoint)."""
        event = firehose_event(batch, self.stream_arn, self.delivery_arn, self.region)
        answer = self.transform(event, LambdaContext())
        rows: list[dict[str, Any]] = []
        failed: list[FailedRecord] = []
        duplicates = 0
        batch_keys: set[str] = set()
        seen = self.seen_in[spec.name]
        for record, result in zip(event["records"], answer["records"], strict=True):
            if result["result"] != "Ok":
                failed.append({"recordId": record["recordId"], "rawData": record["data"], "result": result["result"]})
                continue
            row = json.loads(base64.b64decode(result["data"]))
            key = row["dedup_key"]
            if key in seen or key in batch_keys:
                duplicates += 1
                continue
            batch_keys.add(key)
            rows.append(row)
        # Firehose names the object's prefix after its oldest record's arrival.
        arrival = datetime.datetime.fromtimestamp(batch[0].arrival_ms / 1000, datetime.UTC)
        name = f"{spec.name}-{self.stream_id}-{batch[0].sequence}-{batch[-1].sequence}.parquet"
        path = write_rows(self.lake, spec, rows, arrival, name) if rows else None
        seen |= batch_keys
        if failed:
            self._write_failed(failed, arrival, name)
        return Flushed(len(rows), duplicates, len(failed), path)

    def _write_failed(self, failed: list[FailedRecord], arrival: datetime.datetime, name: str) -> None:
        """Like Firehose's error output: the raw records under errors/processing-failed/."""
        folder = self.lake / "errors" / "processing-failed" / arrival.strftime("dt=%Y-%m-%d/hour=%H")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name.replace(".parquet", ".json")
        partial = folder / f".{target.name}.partial"
        if target.exists():
            return  # written before a crash, with the same records
        try:
            partial.write_text("".join(json.dumps(f) + "\n" for f in failed))
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)


class LogReader:
    """Reads the local stream (the store's change log) from the checkpoint on: every streamed
    table's changes, or only `tables`'."""

    def __init__(self, store: Store, checkpoint: Checkpoint, tables: Collection[str] | None = None) -> None:
        self.store = store
        self.checkpoint = checkpoint
        self.tables = None if tables is None else frozenset(tables)
        checkpoint.bind(store.stream_id)
        self.position = int(checkpoint.positions.get(SHARD, "0"))

    def poll(self, limit: int = 1000) -> list[tuple[str, dict[str, Any]]]:
        """(shard, stream record) pairs read since the last poll."""
        return [(shard, record) for shard, _, record in self.poll_tables(limit)]

    def poll_tables(self, limit: int = 1000) -> list[tuple[str, str, dict[str, Any]]]:
        """(shard, table, stream record) triples read since the last poll (empty: nothing is left)."""
        while changes := self.store.changes_after(self.position, limit):
            self.position = changes[-1].seq
            read = [
                (SHARD, c.table, {**c.record, "dynamodb": {**c.record["dynamodb"], "SequenceNumber": str(c.seq)}})
                for c in changes
                if self.tables is None or c.table in self.tables
            ]
            if read:
                return read
        return []


@dataclass
class WorkerConfig:
    state: Path  # the local stack's store (nrt/state/store.py)
    table_name: str
    lake: Path
    checkpoint: Path
    region: str = "us-east-1"
    account: str = "123456789012"
    stack_name: str = "nrt-local"
    flush_seconds: float = 5.0
    flush_bytes: int = 8 * 1024 * 1024
    poll_seconds: float = 0.5
    outcomes_table: str | None = None  # its changes go to the outcomes Glue table

    @property
    def status(self) -> Path:
        return status_path(self.checkpoint)

    def routes(self) -> dict[str, TableSpec]:
        """The tables other than table_name whose changes the worker reads, and each one's Glue table."""
        return {self.outcomes_table: table_spec(glue_table=OUTCOMES_GLUE_TABLE)} if self.outcomes_table else {}


def status_path(checkpoint: Path) -> Path:
    """Where the worker reports what it holds (for the health line), beside its checkpoint."""
    return checkpoint.with_name(f"{checkpoint.stem}-status.json")


def read_changes(reader: LogReader, writer: LakeWriter, config: WorkerConfig) -> None:
    """Everything the stream has since the last poll, into the writer's buffer."""
    now = int(time.time() * 1000)
    for shard_id, table, record in reader.poll_tables():
        change = kds_change_record(record, table, config.region)
        writer.add(Pending(record["dynamodb"]["SequenceNumber"], shard_id, now, json.dumps(change).encode(), table))


def crash_once(checkpoint: Path) -> None:
    """The injected crash: exit at once, the first time only (a marker beside the checkpoint)."""
    marker = checkpoint.with_suffix(".crashed")
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("crashed once, after writing and before the checkpoint\n")
        os._exit(17)


def run(
    config: WorkerConfig,
    stop: threading.Event,
    log: Callable[[str], None] = print,
    before_checkpoint: Callable[[Path], None] | None = None,
) -> None:
    """Poll, buffer and flush until `stop` is set; a last flush of what it holds on the way out
    (what it has not read stays in the log for the next start: stopping takes seconds)."""
    store = Store(config.state)
    checkpoint = Checkpoint(config.checkpoint)
    stream_arn = f"arn:aws:kinesis:{config.region}:{config.account}:stream/{config.stack_name}-predictions"
    delivery_arn = f"arn:aws:firehose:{config.region}:{config.account}:deliverystream/{config.stack_name}-predictions"
    writer = LakeWriter(
        config.lake,
        checkpoint,
        load_transform(),
        table_spec(),
        config.region,
        stream_arn,
        delivery_arn,
        before_checkpoint,
        stream_id=store.stream_id,
        routes=config.routes(),
    )
    tables = [config.table_name, *config.routes()]
    reader = LogReader(store, checkpoint, tables)
    log(f"stream worker: {', '.join(tables)} -> {config.lake} (flush every {config.flush_seconds:g} s)")
    trouble = Trouble()
    while True:
        stopping = stop.is_set()
        if not stopping and writer.buffered_bytes < config.flush_bytes:
            read_changes(reader, writer, config)
        now = int(time.time() * 1000)
        # Like Firehose: whichever comes first, the buffer's size or its age.
        due = writer.buffered_bytes >= config.flush_bytes or writer.oldest_age(now) >= config.flush_seconds
        if writer.buffer and (stopping or (due and trouble.due())):
            _flush(writer, store, log, trouble)
        # A full disk takes the report too: the health line then reads the disk's own state.
        write_stream_status(
            config.status, len(writer.buffer), writer.oldest_arrival_ms, len(writer.seen), trouble.error
        )
        if stopping:
            return
        stop.wait(config.poll_seconds)


@dataclass
class Trouble:
    """Why the lake cannot be written (None: it can), since when, and when to try again: the
    worker backs off while it fails (a full disk), holding what it read, and never exits for it."""

    error: str | None = None
    since: float = 0.0
    retry_at: float = 0.0
    backoff: Backoff = field(default_factory=lambda: Backoff(first=1.0))

    def due(self) -> bool:
        return self.error is None or time.monotonic() >= self.retry_at

    def failed(self, reason: str) -> bool:
        """One more failed flush; whether it is news (a first failure, or another reason)."""
        now = time.monotonic()
        news = reason != self.error
        if self.error is None:
            self.since = now
        self.error, self.retry_at = reason, now + self.backoff.next()
        return news

    def cleared(self) -> float | None:
        """A flush worked: for how long it had failed, if it had."""
        if self.error is None:
            return None
        self.error = None
        self.backoff.reset()
        return time.monotonic() - self.since


def _flush(writer: LakeWriter, store: Store, log: Callable[[str], None], trouble: Trouble) -> None:
    """One flush; what holds it back is said once (and again when it changes), and when it ends."""
    try:
        flushed = writer.flush()
    except OSError as failure:
        reason = f"{type(failure).__name__}: {failure.strerror or failure}"
        if trouble.failed(reason):
            log(
                f"stream worker: cannot write the lake ({reason}); holding {len(writer.buffer)} changes, "
                f"trying again every {trouble.backoff.cap:g} s at most"
            )
        return
    failed_for = trouble.cleared()
    if failed_for is not None:
        log(f"stream worker: the lake can be written again, after {failed_for:.0f} s")
    try:
        store.forget_changes_through(int(writer.checkpoint.positions.get(SHARD, "0")))
    except sqlite3.Error as failure:  # the log keeps them a while longer: the next flush trims it
        log(f"stream worker: cannot trim the change log yet ({failure})")
    log(f"stream worker: {flushed.rows} rows -> lake, {flushed.duplicates} duplicates, {flushed.failed} failed")


def say(line: str) -> None:
    """A line of the worker's log (stderr, a file under the state directory): one that a full
    disk cannot take is dropped, and the worker goes on."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nrt.lake.stream", description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, required=True, help="the local stack's store (state.db)")
    parser.add_argument("--table", required=True)
    parser.add_argument("--outcomes-table", help="the outcomes table: its changes go to the outcomes Glue table")
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--flush-seconds", type=float, default=5.0)
    parser.add_argument("--flush-bytes", type=int, default=8 * 1024 * 1024)
    args = parser.parse_args(argv)
    die_with_parent()
    signals = StopSignals.install()
    config = WorkerConfig(
        state=args.state,
        table_name=args.table,
        outcomes_table=args.outcomes_table,
        lake=args.lake,
        checkpoint=args.checkpoint,
        flush_seconds=args.flush_seconds,
        flush_bytes=args.flush_bytes,
    )
    # The fault tests ask this process, through its environment, to crash once mid-flush.
    crash = crash_once if os.environ.get(CRASH_BEFORE_CHECKPOINT) else None
    stop = threading.Event()
    # The worker runs in a thread; the main thread only waits for a signal (see nrt.signals).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="stream") as pool:
        worker = pool.submit(run, config, stop, say, before_checkpoint=crash)
        signals.wait(alive=lambda: not worker.done())
        stop.set()
        worker.result()  # its last flush done; an error in it is this process's exit status
    return 0


if __name__ == "__main__":
    sys.exit(main())
