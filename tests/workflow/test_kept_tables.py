"""The embedded DynamoDB's provisioned tables live in the store (nrt/state/store.py), not in
memory: an item is read by its key when asked for, a start reads none, and what a client sees
(GetItem, conditional PutItem, Query, Scan with its pages, DescribeTable) is what it saw when
moto held every item in memory (nrt/emulator/write_through.py:KeptItems)."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from nrt import emulator
from nrt.emulator.server import EmbeddedAws
from nrt.emulator.write_through import KeptItems
from nrt.state.restore import keep_changes, restore_tables
from nrt.state.store import GroupCommit, Store


class CountingStore(Store):
    """A store that counts the items it reads (by key, in pages, or the whole table)."""

    rows_read = 0

    def item(self, table: str, key: str) -> dict[str, Any] | None:
        found = super().item(table, key)
        self.rows_read += found is not None
        return found

    def items_between(self, table: str, low: str, high: str | None, limit: int) -> list[tuple[str, dict[str, Any]]]:
        page = super().items_between(table, low, high, limit)
        self.rows_read += len(page)
        return page

    def items(self, table: str) -> Iterator[dict[str, Any]]:
        for item in super().items(table):
            self.rows_read += 1
            yield item


@pytest.fixture(autouse=True)
def kept_in_the_session_store(aws: EmbeddedAws, store: Store) -> Iterator[None]:
    """Each test starts and ends with the tables kept in the session's store, as `nrt up` keeps them."""
    restore_tables(aws, store)
    yield
    restore_tables(aws, store)


@contextmanager
def kept_in(aws: EmbeddedAws, store: Store) -> Iterator[GroupCommit]:
    """The tables kept in `store` (its committer wired in) for the block; then as they were."""
    wired = aws.wiring.table_changes
    committer = keep_changes(aws, store)
    try:
        yield committer
    finally:
        committer.close()
        aws.wiring.table_changes = wired


def kept(aws: EmbeddedAws, logical_id: str) -> KeptItems:
    from moto.dynamodb.models import dynamodb_backends

    items = dynamodb_backends[aws.ctx.account][aws.ctx.region].get_table(aws.ctx.refs[logical_id]).items
    assert isinstance(items, KeptItems)
    return items


def prediction(sensor: str, i: int) -> dict[str, Any]:
    return {
        "sensor": {"S": sensor},
        "timestamp_endpoint": {"S": f"{1_767_225_600_000 + i}#nrt-failure"},
        "prediction": {"S": str(i % 2)},
        "reading": {"S": '{"data": [12, 87, 20]}'},
        "probabilities": {"M": {"yes": {"N": "0.9"}, "no": {"N": "0.1"}}},
    }


def write(aws: EmbeddedAws, items: list[dict[str, Any]]) -> None:
    ddb, table = aws.client("dynamodb"), aws.ctx.refs["PredictionsTable"]
    for start in range(0, len(items), 25):
        requests: list[Any] = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        assert not ddb.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems")


def moto_items() -> int:
    from moto.dynamodb.models.dynamo_type import Item

    gc.collect()
    return sum(isinstance(o, Item) for o in gc.get_objects())


def scan_all(aws: EmbeddedAws, page: int) -> list[list[dict[str, Any]]]:
    """Every page of a Scan of the predictions table, `page` items at most each."""
    ddb, pages = aws.client("dynamodb"), []
    request: dict[str, Any] = {"TableName": aws.ctx.refs["PredictionsTable"], "Limit": page}
    while True:
        answer = ddb.scan(**request)
        pages.append(answer["Items"])
        if "LastEvaluatedKey" not in answer:
            return pages
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def test_thousands_of_stored_items_hold_nothing_in_the_embedded_dynamodb(aws: EmbeddedAws, store: Store) -> None:
    # GIVEN the tables kept in the store, as nrt up keeps them
    sensor = f"kept-{uuid.uuid4().hex[:6]}"
    items = [prediction(sensor, i) for i in range(5000)]
    before = moto_items()
    held = kept(aws, "PredictionsTable").held()  # other tests' changes made with no store wired stay held

    # WHEN 5,000 items are written and the store has committed them
    write(aws, items)
    emulator.wired().sync()

    # THEN moto holds none of them, and every one is read back from the store
    assert kept(aws, "PredictionsTable").held() <= held
    assert moto_items() - before < 100
    ddb, table = aws.client("dynamodb"), aws.ctx.refs["PredictionsTable"]
    for i in (0, 1234, 4999):
        key = {k: items[i][k] for k in ("sensor", "timestamp_endpoint")}
        assert ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"] == items[i]
    assert store.count(table) >= 5000


def test_a_start_reads_no_item_and_each_read_reads_only_its_own(aws: EmbeddedAws, tmp_path: Path) -> None:
    # GIVEN a state.db a last run left with 3,000 predictions
    earlier = CountingStore(tmp_path / "state.db")
    table = aws.ctx.refs["PredictionsTable"]
    sensor = f"start-{uuid.uuid4().hex[:6]}"
    with kept_in(aws, earlier) as committer:
        write(aws, [prediction(sensor, i) for i in range(3000)])
        committer.sync()
    earlier.rows_read = 0

    # WHEN the tables are restored from it, as nrt up starts
    counts = restore_tables(aws, earlier)

    # THEN nothing is read but the counts; a GetItem reads one item, a Query its hash key's
    assert counts[table] == 3000
    assert earlier.rows_read == 0
    ddb = aws.client("dynamodb")
    key = {k: prediction(sensor, 7)[k] for k in ("sensor", "timestamp_endpoint")}
    assert ddb.get_item(TableName=table, Key=key)["Item"] == prediction(sensor, 7)
    assert earlier.rows_read == 1
    other = f"other-{uuid.uuid4().hex[:6]}"
    with kept_in(aws, earlier) as committer:
        write(aws, [prediction(other, i) for i in range(3)])
        committer.sync()
    earlier.rows_read = 0
    found = ddb.query(
        TableName=table, KeyConditionExpression="sensor = :s", ExpressionAttributeValues={":s": {"S": other}}
    )["Items"]
    assert found == [prediction(other, i) for i in range(3)]
    assert earlier.rows_read == 3


def test_after_a_restart_every_item_is_found_by_key_by_query_and_by_scan_and_conditions_hold(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    # GIVEN 120 predictions of two sensors kept in a state.db, then the store opened again
    table = aws.ctx.refs["PredictionsTable"]
    sensors = [f"restart-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    items = [prediction(sensors[i % 2], i) for i in range(120)]
    first = Store(tmp_path / "state.db")
    with kept_in(aws, first) as committer:
        write(aws, items)
        committer.sync()
    first.close()
    again = Store(tmp_path / "state.db")

    # WHEN the tables are restored from it
    with kept_in(aws, again):
        restore_tables(aws, again)
        ddb = aws.client("dynamodb")

        # THEN each item is found by its key, its sensor's Query pages in range-key order, and
        # a Scan's pages hold every item once
        for item in items:
            key = {k: item[k] for k in ("sensor", "timestamp_endpoint")}
            assert ddb.get_item(TableName=table, Key=key)["Item"] == item
        paginator = ddb.get_paginator("query")
        pages = paginator.paginate(
            TableName=table,
            KeyConditionExpression="sensor = :s",
            ExpressionAttributeValues={":s": {"S": sensors[0]}},
            PaginationConfig={"PageSize": 7},
        )
        queried = [item for page in pages for item in page["Items"]]
        assert queried == [i for i in items if i["sensor"]["S"] == sensors[0]]
        scanned = [i for page in scan_all(aws, 9) for i in page if i["sensor"]["S"] in sensors]
        assert sorted(scanned, key=str) == sorted(items, key=str)

        # AND a conditional write of a stored key fails as DynamoDB's does; a new key goes in
        with pytest.raises(ClientError) as refused:
            ddb.put_item(TableName=table, Item=items[5], ConditionExpression="attribute_not_exists(sensor)")
        assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
        fresh = prediction(sensors[0], 10_000)
        ddb.put_item(TableName=table, Item=fresh, ConditionExpression="attribute_not_exists(sensor)")
        assert (
            ddb.get_item(TableName=table, Key={k: fresh[k] for k in ("sensor", "timestamp_endpoint")})["Item"] == fresh
        )


def test_changes_not_committed_yet_are_read_before_what_the_store_has(aws: EmbeddedAws, store: Store) -> None:
    # GIVEN 30 stored predictions, then changes no store commits (tables in memory only)
    table = aws.ctx.refs["PredictionsTable"]
    sensor = f"pending-{uuid.uuid4().hex[:6]}"
    items = [prediction(sensor, i) for i in range(30)]
    write(aws, items)
    emulator.wired().sync()
    ddb = aws.client("dynamodb")
    count = ddb.describe_table(TableName=table)["Table"]["ItemCount"]
    wired = aws.wiring.table_changes
    held = kept(aws, "PredictionsTable").held()  # other tests' changes made with no store wired
    aws.wiring.table_changes = None
    try:
        ddb.delete_item(TableName=table, Key={k: items[3][k] for k in ("sensor", "timestamp_endpoint")})
        ddb.update_item(
            TableName=table,
            Key={k: items[4][k] for k in ("sensor", "timestamp_endpoint")},
            UpdateExpression="SET prediction = :p",
            ExpressionAttributeValues={":p": {"S": "changed"}},
        )
        write(aws, [prediction(sensor, 100)])

        # THEN reads, walks and counts see the changes over what the store holds
        query: dict[str, Any] = {
            "KeyConditionExpression": "sensor = :s",
            "ExpressionAttributeValues": {":s": {"S": sensor}},
        }
        found = ddb.query(TableName=table, **query)["Items"]
        expected = [{**items[4], "prediction": {"S": "changed"}} if i == 4 else items[i] for i in range(30) if i != 3]
        assert found == [*expected, prediction(sensor, 100)]
        scanned = [i for page in scan_all(aws, 11) for i in page if i["sensor"]["S"] == sensor]
        assert sorted(scanned, key=str) == sorted(found, key=str)
        assert ddb.describe_table(TableName=table)["Table"]["ItemCount"] == count
        assert kept(aws, "PredictionsTable").held() == held + 3
    finally:
        aws.wiring.table_changes = wired


def test_a_transaction_refused_by_a_condition_writes_nothing_in_the_table_or_the_store(
    aws: EmbeddedAws, store: Store
) -> None:
    # GIVEN a stored failure record
    ddb, table = aws.client("dynamodb"), aws.ctx.refs["FailuresTable"]
    first, taken = (f"tx-{uuid.uuid4().hex[:6]}" for _ in range(2))
    ddb.put_item(TableName=table, Item={"failure_id": {"S": taken}})
    emulator.wired().sync()

    # WHEN a transaction puts a new one, then one over it on the condition that it is not there
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"failure_id": {"S": first}}}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"failure_id": {"S": taken}},
                        "ConditionExpression": "attribute_not_exists(failure_id)",
                    }
                },
            ]
        )
    emulator.wired().sync()

    # THEN it is cancelled as a whole, as DynamoDB's is: its first Put is in neither
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert "Item" not in ddb.get_item(TableName=table, Key={"failure_id": {"S": first}})
    assert store.item(table, store.item_key({"failure_id": {"S": first}})) is None
    # AND a transaction that goes through is kept whole
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {"failure_id": {"S": first}}}}])
    emulator.wired().sync()
    assert store.item(table, store.item_key({"failure_id": {"S": first}})) == {"failure_id": {"S": first}}
