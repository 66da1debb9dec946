"""The embedded AWS over HTTP while the store cannot keep writes (SQLite's own SQLITE_FULL, from
its page limit): a write is refused, a read is answered, and once there is room the refused
write's change is kept and writes are answered again, without a restart."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from nrt.emulator.server import EmbeddedAws
from nrt.state.space import Backoff
from nrt.state.store import GroupCommit, Store
from tests.workflow.test_durable import dynamodb_over_http


def test_given_a_full_store_then_reads_over_http_are_answered_and_writes_come_back_once_there_is_room(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    table = aws.ctx.refs["FailuresTable"]
    store = Store(tmp_path / "state.db")
    committer = GroupCommit(store, tables={table}, backoff=Backoff(first=0.05, cap=0.1))
    keep = aws.wiring.table_changes
    aws.wiring.table_changes = committer
    first, second = (f"full-{uuid.uuid4().hex[:6]}" for _ in range(2))
    pad = {"S": "x" * 8000}
    try:
        store._db.execute(f"PRAGMA max_page_count = {store._db.execute('PRAGMA page_count').fetchone()[0]}")
        refused, _ = dynamodb_over_http(
            aws, "PutItem", {"TableName": table, "Item": {"failure_id": {"S": first}, "pad": pad}}
        )
        read, described = dynamodb_over_http(aws, "DescribeTable", {"TableName": table})
        store._db.execute("PRAGMA max_page_count = 1073741823")
        deadline = time.monotonic() + 10
        while committer.waiting and time.monotonic() < deadline:
            time.sleep(0.05)
        accepted, _ = dynamodb_over_http(aws, "PutItem", {"TableName": table, "Item": {"failure_id": {"S": second}}})
        kept = {i["failure_id"]["S"] for i in store.items(table)}
    finally:
        aws.wiring.table_changes = keep
        committer.close()

    assert refused == 500  # not kept: never answered as if it were
    assert read == 200 and json.loads(described)["Table"]["TableName"] == table
    assert accepted == 200
    assert {first, second} <= kept  # the refused write's change too, once there was room
