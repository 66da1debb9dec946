"""What outlives the process: the embedded AWS hands each table, endpoint and S3 object change
to the store (nrt/state/store.py) before the call returns, and a fresh embedded AWS takes them back."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nrt import emulator
from nrt.emulator.server import EmbeddedAws
from nrt.state.restore import endpoint_specs, keep_objects, restore_endpoints, restore_objects, restore_tables
from nrt.state.store import GroupCommit, Store


def kept_by() -> GroupCommit:
    """What keeps the embedded AWS's table changes in these tests (as in `nrt up`)."""
    committer = emulator.wired().table_changes
    assert isinstance(committer, GroupCommit)
    return committer


@dataclass
class Recorder:
    """Takes table changes and only notes their table."""

    tables: list[str]

    def submit(self, table: str, record: dict[str, Any]) -> None:
        self.tables.append(table)

    def sync(self) -> None:
        pass


def test_every_change_a_table_takes_reaches_the_store_in_order(aws: EmbeddedAws, store: Store) -> None:
    ddb, table = aws.client("dynamodb"), aws.ctx.refs["PredictionsTable"]
    sensor = f"durable-{uuid.uuid4().hex[:6]}"
    key = {"sensor": {"S": sensor}, "timestamp_endpoint": {"S": "1#nrt-failure"}}
    before = store.last_change()
    committer = kept_by()

    ddb.put_item(TableName=table, Item={**key, "prediction": {"S": "1"}})
    ddb.update_item(
        TableName=table, Key=key, UpdateExpression="SET prediction = :p", ExpressionAttributeValues={":p": {"S": "0"}}
    )
    committer.sync()
    kept = [i for i in store.items(table) if i["sensor"] == {"S": sensor}]
    ddb.delete_item(TableName=table, Key=key)
    committer.sync()

    assert kept == [{**key, "prediction": {"S": "0"}}]
    assert not [i for i in store.items(table) if i["sensor"] == {"S": sensor}]
    mine = [c for c in store.changes_after(before, 10_000) if c.record["dynamodb"]["Keys"]["sensor"]["S"] == sensor]
    assert [c.record["eventName"] for c in mine] == ["INSERT", "MODIFY", "REMOVE"]
    assert [c.seq for c in mine] == sorted(c.seq for c in mine)
    assert all(isinstance(c.record["dynamodb"]["ApproximateCreationDateTime"], float) for c in mine)


def test_the_failure_store_is_kept_but_is_not_a_stream(aws: EmbeddedAws, store: Store) -> None:
    ddb, table = aws.client("dynamodb"), aws.ctx.refs["FailuresTable"]
    failure = f"durable-{uuid.uuid4().hex[:6]}"
    before = store.last_change()

    ddb.put_item(TableName=table, Item={"failure_id": {"S": failure}, "error": {"S": "ModelError"}})
    kept_by().sync()

    assert {"failure_id": {"S": failure}, "error": {"S": "ModelError"}} in list(store.items(table))
    assert store.last_change() == before


def test_binary_attributes_are_kept_and_loaded_back_and_the_writes_after_them_are_answered(
    aws: EmbeddedAws, store: Store, tmp_path: Path
) -> None:
    ddb, table = aws.client("dynamodb"), aws.ctx.refs["FailuresTable"]
    name = f"binary-{uuid.uuid4().hex[:6]}"
    item = {
        "failure_id": {"S": name},
        "blob": {"B": bytes(range(256))},
        "blobs": {"BS": [b"a", b"\x00\xff"]},
        "nested": {"L": [{"M": {"b": {"B": b"\x01"}, "B": {"S": "a map key named B"}}}]},
    }

    # WHEN a client (boto3, as the AWS CLI) writes binary values, then writes again
    ddb.put_item(TableName=table, Item=item)
    ddb.put_item(TableName=table, Item={"failure_id": {"S": f"{name}-after"}})
    kept_by().sync()

    # THEN both are answered and kept (before, the store refused the first and every write after
    # it was answered 500), and a fresh table loads the values back as the bytes they were
    assert ddb.get_item(TableName=table, Key={"failure_id": {"S": name}}, ConsistentRead=True)["Item"] == item
    [kept] = [i for i in store.items(table) if i["failure_id"]["S"] == name]
    assert kept == item
    assert f"{name}-after" in {i["failure_id"]["S"] for i in store.items(table)}
    later = Store(tmp_path / "later.db")
    later.record_change(table, {"dynamodb": {"Keys": {"failure_id": {"S": name}}, "NewImage": kept}}, streamed=False)
    keep = aws.wiring.table_changes
    aws.wiring.table_changes = Recorder([])
    try:
        restore_tables(aws, later)
        assert ddb.get_item(TableName=table, Key={"failure_id": {"S": name}}, ConsistentRead=True)["Item"] == item
        # a condition compares the loaded bytes with the bytes a client sends
        ddb.delete_item(
            TableName=table,
            Key={"failure_id": {"S": name}},
            ConditionExpression="#b = :b",
            ExpressionAttributeNames={"#b": "blob"},
            ExpressionAttributeValues={":b": {"B": bytes(range(256))}},
        )
    finally:
        aws.wiring.table_changes = keep
        restore_tables(aws, store)  # the worker's other tests read the tables from the session's store


def test_items_loaded_back_are_in_the_table_and_are_not_changes(aws: EmbeddedAws, store: Store, tmp_path: Path) -> None:
    ddb, table = aws.client("dynamodb"), aws.ctx.refs["PredictionsTable"]
    earlier = Store(tmp_path / "state.db")
    sensor = f"restored-{uuid.uuid4().hex[:6]}"
    item = {"sensor": {"S": sensor}, "timestamp_endpoint": {"S": "7#nrt-failure"}, "prediction": {"S": "1"}}
    keys = {k: item[k] for k in ("sensor", "timestamp_endpoint")}  # as every change record names its item
    earlier.record_change(table, {"eventName": "INSERT", "dynamodb": {"Keys": keys, "NewImage": item}}, streamed=False)
    changes: list[str] = []
    keep = aws.wiring.table_changes
    aws.wiring.table_changes = Recorder(changes)
    try:
        counts = restore_tables(aws, earlier)
        assert counts[table] == 1
        assert ddb.get_item(TableName=table, Key=keys)["Item"] == item
        assert changes == []
    finally:
        aws.wiring.table_changes = keep
        restore_tables(aws, store)  # the worker's other tests read the tables from the session's store


def test_a_write_over_http_answers_after_its_change_is_kept(aws: EmbeddedAws, tmp_path: Path) -> None:
    table = aws.ctx.refs["FailuresTable"]
    slow = Store(tmp_path / "state.db")
    record_changes = slow.record_changes

    def slowly(changes: list[tuple[str, dict[str, Any], bool]]) -> None:
        time.sleep(0.5)  # a commit that takes its time: the answer must wait for it
        record_changes(changes)

    slow.record_changes = slowly  # type: ignore[method-assign]
    committer = GroupCommit(slow, tables={table})
    keep = aws.wiring.table_changes
    aws.wiring.table_changes = committer
    failure = f"http-{uuid.uuid4().hex[:6]}"
    try:
        # Over the embedded AWS's HTTP endpoint, as another process (the AWS CLI) writes; boto3
        # in this process would be answered in-process.
        status, _ = dynamodb_over_http(aws, "PutItem", {"TableName": table, "Item": {"failure_id": {"S": failure}}})
        kept_at_answer = [i for i in slow.items(table) if i["failure_id"] == {"S": failure}]
        slow.close()  # a store that can no longer write: the next write's answer is an error
        refused, _ = dynamodb_over_http(aws, "PutItem", {"TableName": table, "Item": {"failure_id": {"S": "x"}}})
    finally:
        aws.wiring.table_changes = keep
        committer.close()

    assert status == 200
    assert kept_at_answer == [{"failure_id": {"S": failure}}]
    assert refused == 500


def dynamodb_over_http(aws: EmbeddedAws, action: str, request: dict[str, Any]) -> tuple[int, bytes]:
    credential = "Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/dynamodb/aws4_request"
    message = urllib.request.Request(
        aws.url,
        data=json.dumps(request).encode(),
        headers={
            "X-Amz-Target": f"DynamoDB_20120810.{action}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": f"AWS4-HMAC-SHA256 {credential}, SignedHeaders=host, Signature=0",
        },
    )
    try:
        with urllib.request.urlopen(message, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_a_change_to_an_endpoint_or_its_tags_is_reported_before_the_call_returns(aws: EmbeddedAws) -> None:
    sm = aws.client("sagemaker")
    name = f"{aws.prefix}durable-{uuid.uuid4().hex[:6]}"
    reported: list[str] = []
    keep = aws.wiring.endpoints_changed
    aws.wiring.endpoints_changed = lambda: reported.append(threading.current_thread().name)
    try:
        sm.create_model(
            ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/r", PrimaryContainer={"Image": "i"}
        )
        sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1},
                }
            ],
        )
        assert reported == []  # models and configs serve nothing until an endpoint uses them
        arn = sm.create_endpoint(EndpointName=name, EndpointConfigName=name)["EndpointArn"]
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "nrt:kind", "Value": "binary"}])
        sm.delete_tags(ResourceArn=arn, TagKeys=["nrt:kind"])
        sm.update_endpoint(EndpointName=name, EndpointConfigName=name)
        sm.delete_endpoint(EndpointName=name)
    finally:
        aws.wiring.endpoints_changed = keep
    assert len(reported) == 5


CONTAINER = {"Image": "local/nrt-sklearn-serving:latest", "ModelDataUrl": "s3://bucket/model.tar.gz"}
SERVERLESS = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}


def serving_endpoint(sm: Any, name: str, tags: list[dict[str, str]]) -> str:
    """An endpoint serving a model of its own (model and config named `<name>-v1`); that name."""
    version = f"{name}-v1"
    sm.create_model(ModelName=version, ExecutionRoleArn="arn:aws:iam::123456789012:role/r", PrimaryContainer=CONTAINER)
    variant = {"VariantName": "AllTraffic", "ModelName": version, "ServerlessConfig": SERVERLESS}
    sm.create_endpoint_config(EndpointConfigName=version, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=version, Tags=tags)
    return version


def test_saved_endpoints_are_made_again_with_their_config_model_and_tags(aws: EmbeddedAws) -> None:
    sm = aws.client("sagemaker")
    name = f"{aws.prefix}again-{uuid.uuid4().hex[:6]}"
    version = serving_endpoint(sm, name, [{"Key": "nrt:kind", "Value": "regression"}])
    saved = {k: v for k, v in endpoint_specs(sm, aws.prefix).items() if k == name}
    sm.delete_endpoint(EndpointName=name)
    sm.delete_endpoint_config(EndpointConfigName=version)
    sm.delete_model(ModelName=version)

    assert restore_endpoints(sm, saved) == [name]

    described = sm.describe_endpoint(EndpointName=name)
    assert described["EndpointConfigName"] == version and described["EndpointStatus"] == "InService"
    assert sm.describe_model(ModelName=version)["PrimaryContainer"]["ModelDataUrl"] == CONTAINER["ModelDataUrl"]
    config = sm.describe_endpoint_config(EndpointConfigName=version)["ProductionVariants"][0]
    assert config["ServerlessConfig"] == SERVERLESS
    assert sm.list_tags(ResourceArn=described["EndpointArn"])["Tags"] == [{"Key": "nrt:kind", "Value": "regression"}]
    assert restore_endpoints(sm, saved) == []  # already there: nothing made twice
    sm.delete_endpoint(EndpointName=name)


def test_an_endpoint_whose_model_was_deleted_is_still_saved_and_comes_back_with_the_model_gone(
    aws: EmbeddedAws,
) -> None:
    sm = aws.client("sagemaker")
    name = f"{aws.prefix}orphan-{uuid.uuid4().hex[:6]}"
    version = serving_endpoint(sm, name, [])
    first = {k: v for k, v in endpoint_specs(sm, aws.prefix).items() if k == name}
    sm.delete_model(ModelName=version)  # AWS lets the endpoint serve on

    unknown = endpoint_specs(sm, aws.prefix)[name]  # nothing kept before: saved without it
    again = {k: v for k, v in endpoint_specs(sm, aws.prefix, first).items() if k == name}
    assert unknown["models"] == [] and unknown["gone"] == [version]
    assert again[name]["models"] == first[name]["models"] and again[name]["gone"] == [version]

    sm.delete_endpoint(EndpointName=name)
    sm.delete_endpoint_config(EndpointConfigName=version)
    assert restore_endpoints(sm, {name: unknown}) == []  # nothing to make it from
    assert restore_endpoints(sm, again) == [name]
    assert sm.describe_endpoint(EndpointName=name)["EndpointConfigName"] == version
    with pytest.raises(sm.exceptions.ClientError):
        sm.describe_model(ModelName=version)
    sm.delete_endpoint(EndpointName=name)


def test_an_s3_object_written_or_deleted_is_reported_before_the_call_returns(aws: EmbeddedAws, tmp_path: Path) -> None:
    s3, bucket = aws.client("s3"), aws.ctx.refs["ModelArtifactsBucket"]
    prefix = f"durable-{uuid.uuid4().hex[:6]}"
    kept = Store(tmp_path / "state.db")
    keep = aws.wiring.objects_changed
    keep_objects(aws, kept)
    try:
        s3.put_object(Bucket=bucket, Key=f"{prefix}/recipe.json", Body=b'{"model": "m"}')
        s3.put_object(Bucket=bucket, Key=f"{prefix}/gone.txt", Body=b"x")
        s3.copy_object(
            Bucket=bucket, Key=f"{prefix}/copy.json", CopySource={"Bucket": bucket, "Key": f"{prefix}/recipe.json"}
        )
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"{prefix}/gone.txt"}]})
        s3.upload_fileobj(  # multipart above 8 MiB
            io.BytesIO(b"m" * (9 * 2**20)), bucket, f"{prefix}/model.tar.gz"
        )
    finally:
        aws.wiring.objects_changed = keep

    mine = {key: body for b, key, body in kept.objects() if b == bucket and key.startswith(prefix)}
    assert mine == {
        f"{prefix}/recipe.json": b'{"model": "m"}',
        f"{prefix}/copy.json": b'{"model": "m"}',
        f"{prefix}/model.tar.gz": b"m" * (9 * 2**20),
    }


def test_objects_loaded_back_are_in_s3_and_are_not_changes(aws: EmbeddedAws, tmp_path: Path) -> None:
    s3 = aws.client("s3")
    earlier = Store(tmp_path / "state.db")
    bucket, key = f"restored-{uuid.uuid4().hex[:6]}", "training/train.py"
    earlier.save_object(bucket, key, b"print('train')")
    reported: list[str] = []
    keep = aws.wiring.objects_changed
    aws.wiring.objects_changed = lambda b, k, body: reported.append(k)
    try:
        assert restore_objects(aws, earlier) == 1
    finally:
        aws.wiring.objects_changed = keep

    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"print('train')"
    assert reported == []


def test_an_accepted_event_is_kept_until_done_and_a_name_is_taken_once(tmp_path: Path) -> None:
    journal = Store(tmp_path / "state.db")
    journal.accept("a", '{"x":1}', 1.0)
    journal.accept("b", '{"x":2}', 2.0)
    with pytest.raises(Exception, match="UNIQUE"):
        journal.accept("a", "{}", 3.0)
    journal.done("a")
    journal.close()

    assert Store(tmp_path / "state.db").accepted() == [("b", '{"x":2}')]


def test_the_stream_id_is_made_once_per_store(tmp_path: Path) -> None:
    first = Store(tmp_path / "state.db").stream_id
    assert Store(tmp_path / "state.db").stream_id == first
    assert Store(tmp_path / "other.db").stream_id != first


def test_moto_lets_go_of_old_stream_records_the_store_keeps_and_sequence_numbers_count_on(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models import dynamodb_backends

    monkeypatch.setattr(emulator.write_through, "KEPT_STREAM_RECORDS", 5)
    ddb, table = aws.client("dynamodb"), aws.ctx.refs["FailuresTable"]
    shard = dynamodb_backends[aws.ctx.account][aws.ctx.region].get_table(table).stream_shard
    first = len(shard.items) + shard.starting_sequence_number

    for n in range(25):
        ddb.put_item(TableName=table, Item={"failure_id": {"S": f"trim-{uuid.uuid4().hex[:6]}-{n}"}})

    assert 5 <= len(shard.items) < 10
    numbers = [int(r.record["dynamodb"]["SequenceNumber"]) for r in shard.items]
    assert numbers == list(range(first + 25 - len(numbers), first + 25))  # the newest, still counting on
    assert numbers[0] == shard.starting_sequence_number
