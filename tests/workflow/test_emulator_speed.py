"""nrt/emulator/speed.py: how each speed-up does its job, on the live embedded AWS. What the
workflow answers is the fidelity tests' business (tests/workflow/test_emulator.py), which also
pass with the speed-ups off."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from sklearn.datasets import load_wine

from nrt import emulator
from tests.helpers.emulator import INVOKE, make_machine, sync


def test_one_parsed_definition_serves_concurrent_executions_without_mixing_them(aws):
    arn = make_machine(
        aws,
        {
            "Tag": {
                "Type": "Pass",
                "Parameters": {"n.$": "$.n", "twice.$": "States.MathAdd($.n, $.n)"},
                "Next": "Out",
            },
            "Out": {"Type": "Pass", "End": True},
        },
        "Tag",
    )
    outputs: dict[int, Any] = {}

    def go(n: int) -> None:
        outputs[n] = json.loads(sync(aws, arn, {"n": n})["output"])

    threads = [threading.Thread(target=go, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outputs == {n: {"n": n, "twice": 2 * n} for n in range(24)}


@pytest.mark.parametrize("module", ["asl.utils.json_path", "asl.component.common.path.result_path"])
def test_jsonpaths_are_compiled_once(aws, module):
    import importlib

    parse = importlib.import_module(f"moto.stepfunctions.parser.{module}").parse
    parse("$.emulator.cache")
    before = parse.cache_info().hits
    parse("$.emulator.cache")
    assert parse.cache_info().hits == before + 1


def test_finished_threads_are_let_go_after_each_execution(aws):
    from moto.stepfunctions.parser.utils import TMP_THREADS

    arn = make_machine(aws, {"Echo": {"Type": "Pass", "End": True}}, "Echo")
    for _ in range(20):
        sync(aws, arn, {})

    assert len(TMP_THREADS) < 10


def test_blobs_to_strings_reads_streams_and_decodes_bytes():
    out = emulator.sdk_tasks.blobs_to_strings({"Body": io.BytesIO(b'{"a": 1}'), "Raw": b"x", "N": 3})
    assert out == {"Body": '{"a": 1}', "Raw": "x", "N": 3}


def test_model_host_connections_are_kept_alive_and_shared_across_threads(aws, model_host):
    host = model_host("compat-pool")
    body = b'{"instances": [[1, 2, 3]]}'

    def call() -> None:
        assert emulator.invoke_model_host(host.url, body, "application/json")[0] == 200

    for _ in range(3):
        worker = threading.Thread(target=call)  # moto runs each task state in a thread of its own
        worker.start()
        worker.join()

    assert emulator.sagemaker._idle[host.url].qsize() == 1
    assert len(host.requests) == 3


def test_json_deepcopy_makes_an_independent_equal_copy_and_defers_other_types():
    import datetime as dt

    original = {"a": [1, 2.5, {"b": None, "c": True}], "s": "x", "when": dt.datetime(2020, 1, 1)}

    copied = emulator.speed.json_deepcopy(original)
    copied["a"][2]["b"] = "changed"
    copied["a"].append(3)

    assert original == {"a": [1, 2.5, {"b": None, "c": True}], "s": "x", "when": dt.datetime(2020, 1, 1)}
    assert copied["when"] == original["when"]
    memo: dict[int, Any] = {}
    assert emulator.speed.json_deepcopy([original], memo) == [original]


def test_the_program_s_state_is_copied_field_by_field_into_an_independent_object(aws):
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramRunning

    running = ProgramRunning()
    running.next_state_name = "Validate"
    copied = emulator.speed.json_deepcopy(running)
    copied.next_state_name = "Respond"
    assert type(copied) is ProgramRunning
    assert (running.next_state_name, copied.next_state_name) == ("Validate", "Respond")

    failed = ProgramError({"error": "States.TaskFailed", "cause": "model"})
    copied_error = emulator.speed.json_deepcopy(failed)
    copied_error.error["cause"] = "changed"
    assert failed.error == {"error": "States.TaskFailed", "cause": "model"}


def test_the_interpreter_uses_the_json_deepcopy(aws):
    from moto.stepfunctions.parser.asl.eval import states

    assert states.copy.deepcopy is emulator.speed.json_deepcopy


def test_every_task_service_reuses_one_client_per_service(aws):
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
        state_task_service_dynamodb,
    )

    for module in (state_task_service_dynamodb, state_task_service_aws_sdk):
        first = module.boto_client_for("us-east-1", "dynamodb")
        assert module.boto_client_for("us-east-1", "dynamodb") is first


def test_each_handler_class_s_actions_are_listed_once_and_include_what_compat_adds(aws):
    from moto.core import responses
    from moto.stepfunctions.responses import StepFunctionResponse

    listed = responses.method_names_from_class(StepFunctionResponse)  # type: ignore[attr-defined]
    assert responses.method_names_from_class(StepFunctionResponse) is listed  # type: ignore[attr-defined]
    assert {"start_execution", "start_sync_execution"} <= listed


def test_the_workflow_s_calls_reach_moto_in_process_without_botocore_s_send_path(aws, monkeypatch):
    from botocore.endpoint import Endpoint
    from moto.stepfunctions.parser.asl.utils import boto_client

    client = boto_client.boto_client_for("us-east-1", "dynamodb")
    assert isinstance(client, emulator.speed.InProcessClient)

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("went through botocore's send path")

    monkeypatch.setattr(Endpoint, "make_request", no_network)
    table = aws.ctx.refs["PredictionsTable"]
    key = {"sensor": {"S": "in-process"}, "timestamp_endpoint": {"S": "1700000000000#nrt-x"}}
    item = {**key, "timestamp": {"N": "1700000000000"}, "event_id": {"S": "e-1"}, "probability": {"N": "0.25"}}
    client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(sensor)")
    answer = client.get_item(TableName=table, Key=key, ConsistentRead=True)
    monkeypatch.undo()

    # Written where boto3 reads it, and answered in boto3's shape.
    expected = aws.client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True)
    assert answer["Item"] == expected["Item"] == item
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


def moto_s_own_way(client: Any, params: dict[str, Any]) -> dict[str, Any] | str:
    """What a GetItem answers by a request to moto's handler: the answer, or the error's code."""
    from botocore.exceptions import ClientError

    try:
        answer = client._sent("GetItem", params)
    except ClientError as refused:
        return str(refused.response["Error"]["Code"])
    answer.pop("ResponseMetadata")
    return answer


# An item's attributes of every kind a request carries as it is (no binary), nested too.
EVERY_KIND = {
    "n": {"N": "-1.50"},
    "s": {"S": "ünïcode \u2603"},
    "yes": {"BOOL": True},
    "none": {"NULL": True},
    "list": {"L": [{"S": "a"}, {"N": "2"}, {"M": {"deep": {"SS": ["x", "y"]}}}]},
    "map": {"M": {"ns": {"NS": ["1", "2.5"]}, "empty": {"M": {}}}},
}


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operations in-process clients send to moto's handler as requests (not read in place)."""
    operations: list[str] = []
    send = emulator.speed.InProcessClient._sent

    def counted(self: Any, operation: str, params: dict[str, Any]) -> Any:
        operations.append(operation)
        return send(self, operation, params)

    monkeypatch.setattr(emulator.speed.InProcessClient, "_sent", counted)
    return operations


def test_a_getitem_read_in_place_answers_as_moto_s_own_way_for_every_kind_of_request(aws, sent):
    import uuid

    from moto.stepfunctions.parser.asl.utils import boto_client

    client = boto_client.boto_client_for("us-east-1", "dynamodb")
    single, pair = aws.ctx.refs["FailuresTable"], aws.ctx.refs["PredictionsTable"]
    name = f"in-place-{uuid.uuid4().hex[:6]}"
    every_kind = {"failure_id": {"S": name}, **EVERY_KIND}
    client.put_item(TableName=single, Item=every_kind)
    client.put_item(TableName=single, Item={"failure_id": {"S": f"{name}-binary"}, "blob": {"B": b"\x00\xff"}})
    pair_key = {"sensor": {"S": name}, "timestamp_endpoint": {"S": "1#nrt-x"}}
    client.put_item(TableName=pair, Item={**pair_key, "timestamp": {"N": "1"}})
    read_in_place = {
        "a hit": {"TableName": single, "Key": {"failure_id": {"S": name}}},
        "a consistent hit": {"TableName": single, "Key": {"failure_id": {"S": name}}, "ConsistentRead": True},
        "a miss": {"TableName": single, "Key": {"failure_id": {"S": f"{name}-none"}}, "ConsistentRead": False},
        "a hit by both keys": {"TableName": pair, "Key": pair_key},
        "a miss by the range key": {"TableName": pair, "Key": {**pair_key, "timestamp_endpoint": {"S": "2#nrt-x"}}},
        "a key of the wrong type": {"TableName": single, "Key": {"failure_id": {"N": "1"}}},
    }
    moto_s_way = {
        "a binary attribute": {"TableName": single, "Key": {"failure_id": {"S": f"{name}-binary"}}},
        "a projection": {"TableName": single, "Key": {"failure_id": {"S": name}}, "ProjectionExpression": "n"},
        "consumed capacity": {
            "TableName": single,
            "Key": {"failure_id": {"S": name}},
            "ReturnConsumedCapacity": "TOTAL",
        },
        "no such table": {"TableName": f"{name}-table", "Key": {"failure_id": {"S": name}}},
        "no range key": {"TableName": pair, "Key": {"sensor": {"S": name}}},
        "a key attribute too many": {"TableName": single, "Key": {"failure_id": {"S": name}, "n": {"N": "1"}}},
        "an empty key": {"TableName": single, "Key": {"failure_id": {"S": ""}}},
        "a key of two types": {"TableName": single, "Key": {"failure_id": {"S": name, "N": "1"}}},
        "a consistency that is not a boolean": {
            "TableName": single,
            "Key": {"failure_id": {"S": name}},
            "ConsistentRead": "yes",
        },
    }
    for case, params in {**read_in_place, **moto_s_way}.items():
        sent.clear()
        try:
            answer: dict[str, Any] | str = client.get_item(**params)
            answer.pop("ResponseMetadata")  # type: ignore[union-attr]
        except client.exceptions.ClientError as refused:
            answer = str(refused.response["Error"]["Code"])

        # THEN read in place where it can be, with the answer or refusal moto's handler gives
        assert sent == ([] if case in read_in_place else ["GetItem"]), case
        assert answer == moto_s_own_way(client, params), case
    read = client.get_item(**read_in_place["a hit"])["Item"]
    assert read == every_kind
    read["list"]["L"][2]["M"]["deep"]["SS"].append("z")  # the answer is the caller's, not the table's
    read["map"]["M"]["ns"]["NS"].clear()
    assert client.get_item(**read_in_place["a hit"])["Item"] == every_kind
    assert client.get_item(**moto_s_way["a binary attribute"])["Item"]["blob"] == {"B": b"\x00\xff"}


def test_a_workflow_s_getitem_is_read_in_place(aws, sent):
    import uuid

    table = aws.ctx.refs["CacheTable"]
    key = {"key": {"S": f"setting#in-place-{uuid.uuid4().hex[:6]}"}}
    aws.client("dynamodb").put_item(TableName=table, Item={**key, "seconds": {"N": "60"}, "tags": {"SS": ["a"]}})
    arn = make_machine(
        aws,
        {
            "Read": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:getItem",
                "Parameters": {"TableName": table, "Key": key},
                "ResultPath": "$.read",
                "End": True,
            },
        },
        "Read",
    )
    output = json.loads(sync(aws, arn, {})["output"])

    assert "GetItem" not in sent
    assert output["read"]["Item"] == {**key, "seconds": {"N": "60"}, "tags": {"SS": ["a"]}}


def answered(call: Any) -> tuple[str, Any]:
    """What a call answers, without what differs on every call (the request id): ("answer",
    the answer), ("refused", its status, error and the rest of the error's answer), or
    ("raised", what moto's handler raised that is not an AWS error)."""
    from botocore.exceptions import ClientError

    try:
        answer = call()
    except ClientError as refused:
        response = dict(refused.response)
        meta = response.pop("ResponseMetadata")
        assert len(meta["RequestId"]) == 52  # what the workflow's error cause names
        return "refused", (meta["HTTPStatusCode"], response)
    except Exception as raised:  # moto's own way raises it the same
        return "raised", repr(raised)
    answer.pop("ResponseMetadata")
    if hasattr(answer.get("Body"), "read"):
        answer["Body"] = answer["Body"].read()
    return "answer", answer


def test_a_putitem_written_in_place_answers_as_moto_s_own_way_for_every_kind_of_request(aws, sent):
    import uuid

    from moto.stepfunctions.parser.asl.utils import boto_client

    client = boto_client.boto_client_for("us-east-1", "dynamodb")
    single, pair = aws.ctx.refs["FailuresTable"], aws.ctx.refs["PredictionsTable"]
    name = f"written-{uuid.uuid4().hex[:6]}"
    every_kind = EVERY_KIND
    absent = "attribute_not_exists(failure_id)"
    # Each case: the item already there (or none), then the PutItem's parameters.
    written_in_place: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {
        "a new item of every kind": (None, {"Item": every_kind}),
        "an overwrite": ({"old": {"S": "x"}}, {"Item": {"new": {"N": "1"}}}),
        "a condition that holds": (None, {"Item": every_kind, "ConditionExpression": absent}),
        "a condition that fails": ({"old": {"S": "x"}}, {"Item": every_kind, "ConditionExpression": absent}),
        "names and values": (
            {"n": {"N": "3"}},
            {
                "Item": {"n": {"N": "4"}},
                "ConditionExpression": "#n < :most",
                "ExpressionAttributeNames": {"#n": "n"},
                "ExpressionAttributeValues": {":most": {"N": "4"}},
            },
        ),
        "a name not used": (None, {"Item": every_kind, "ExpressionAttributeNames": {"#x": "x"}}),
        "a condition that does not parse": (None, {"Item": every_kind, "ConditionExpression": "n <"}),
        "an empty string key": (None, {"Item": {"failure_id": {"S": ""}}}),
        "no key": (None, {"Item": {"n": {"N": "1"}}}),
        "an empty set": (None, {"Item": {"tags": {"SS": []}}}),
        "an item over 400 KB": (None, {"Item": {"big": {"S": "x" * 410_000}}}),
        "no such table": (None, {"Item": every_kind, "TableName": f"{name}-table"}),
    }
    moto_s_way: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {
        "old values asked back": ({"old": {"S": "x"}}, {"Item": every_kind, "ReturnValues": "ALL_OLD"}),
        "consumed capacity": (None, {"Item": every_kind, "ReturnConsumedCapacity": "TOTAL"}),
        "a binary value": (None, {"Item": {"blob": {"B": b"\x00\xff"}}}),
        "the legacy Expected": (None, {"Item": every_kind, "Expected": {"failure_id": {"Exists": False}}}),
        "the old item on a failed condition": (
            {"old": {"S": "x"}},
            {"Item": every_kind, "ConditionExpression": absent, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"},
        ),
    }

    def put(way: Any, key: str, before: dict[str, Any] | None, params: dict[str, Any]) -> str:
        """One case at its own key: what it answers and what the table holds after, the key named KEY."""
        key_item = {"failure_id": {"S": key}}
        if before is not None:
            aws.client("dynamodb").put_item(TableName=single, Item={**key_item, **before})
        item = params["Item"] if "failure_id" in params["Item"] or params["Item"].keys() == {"n"} else None
        full = {"TableName": single, **params, "Item": {**key_item, **params["Item"]} if item is None else item}
        result = answered(lambda: way(full))
        held = aws.client("dynamodb").get_item(TableName=single, Key=key_item).get("Item")
        return json.dumps([result, held], default=repr, sort_keys=True).replace(key, "KEY")

    for case, (before, params) in {**written_in_place, **moto_s_way}.items():
        sent.clear()
        here = put(lambda p: client.put_item(**p), f"{name}-{case}-here", before, params)

        # THEN written in place where it can be, with the answer or refusal and the item moto's handler gives
        assert sent == ([] if case in written_in_place else ["PutItem"]), case
        assert here == put(lambda p: client._sent("PutItem", p), f"{name}-{case}-moto", before, params), case
    client.put_item(TableName=single, Item={"failure_id": {"S": name}, **every_kind})
    assert aws.client("dynamodb").get_item(TableName=single, Key={"failure_id": {"S": name}})["Item"] == {
        "failure_id": {"S": name},
        **every_kind,
    }
    assert answered(lambda: client.put_item(TableName=pair, Item={"sensor": {"S": name}}))[0] == "refused"


def test_a_write_the_runtime_refuses_is_checked_once_and_refused_as_moto_s_own_way_refuses_it(aws, sent, monkeypatch):
    from moto.core.exceptions import JsonRESTError
    from moto.stepfunctions.parser.asl.utils import boto_client

    client = boto_client.boto_client_for("us-east-1", "dynamodb")
    checks: list[str] = []

    def refuse(operation: str) -> None:  # as an injected fault refuses a write (nrt/emulator/faults.py)
        checks.append(operation)
        raise JsonRESTError("ProvisionedThroughputExceededException", "The level of throughput was exceeded")

    monkeypatch.setattr(aws.wiring, "write_check", refuse)
    params = {"TableName": aws.ctx.refs["FailuresTable"], "Item": {"failure_id": {"S": "refused-in-place"}}}

    here = answered(lambda: client.put_item(**params))
    assert (sent, checks) == ([], ["put_item"])  # one check: a fault's rate is a rate per write
    assert here == answered(lambda: client._sent("PutItem", params))
    assert here[0] == "refused" and here[1][1]["Error"]["Code"] == "ProvisionedThroughputExceededException"
    monkeypatch.undo()
    assert "Item" not in client.get_item(TableName=params["TableName"], Key=params["Item"])


def test_an_item_written_in_place_is_the_table_s_own_and_reaches_its_stream(aws):
    import uuid

    from moto.stepfunctions.parser.asl.utils import boto_client

    client = boto_client.boto_client_for("us-east-1", "dynamodb")
    table = aws.ctx.refs["PredictionsTable"]
    key = {"sensor": {"S": f"own-{uuid.uuid4().hex[:6]}"}, "timestamp_endpoint": {"S": "1#nrt-x"}}
    item = {**key, "timestamp": {"N": "1"}, "labels": {"L": [{"M": {"p": {"N": "0.5"}}}]}}
    stream = aws.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = aws.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"][-1]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream, ShardId=shard, ShardIteratorType="LATEST")

    client.put_item(TableName=table, Item=item)
    item["labels"]["L"][0]["M"]["p"]["N"] = "0.9"  # the caller's dict, not the table's item

    assert aws.client("dynamodb").get_item(TableName=table, Key=key)["Item"]["labels"] == {
        "L": [{"M": {"p": {"N": "0.5"}}}]
    }
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [r["dynamodb"]["Keys"] for r in records if r["dynamodb"]["Keys"] == key] == [key]


def test_an_invokeendpoint_called_in_place_answers_as_moto_s_own_way(aws, model_host, sent):
    from moto.stepfunctions.parser.asl.utils import boto_client

    client = boto_client.boto_client_for("us-east-1", "sagemaker-runtime")
    host = model_host("in-place")
    model_host("in-place-4xx", lambda _: (400, {"message": "bad shape"}))
    model_host("in-place-5xx", lambda _: (503, {"message": "out of memory"}))
    model_host("in-place-cold")
    aws.wiring.model_hosts.withdraw(f"{aws.prefix}in-place-cold")
    features = {"ContentType": "application/json", "Body": '{"instances": [[50, 52, 49]]}'}
    called_in_place = {
        "an answer": {"EndpointName": f"{aws.prefix}in-place", **features},
        "an answer to bytes": {"EndpointName": f"{aws.prefix}in-place", **features, "Body": b'{"instances": [[1]]}'},
        "Accept": {"EndpointName": f"{aws.prefix}in-place", **features, "Accept": "application/json"},
        "a model's refusal": {"EndpointName": f"{aws.prefix}in-place-4xx", **features},
        "a model's failure": {"EndpointName": f"{aws.prefix}in-place-5xx", **features},
        "a model not started": {"EndpointName": f"{aws.prefix}in-place-cold", **features},
        "no such endpoint": {"EndpointName": f"{aws.prefix}in-place-none", **features},
    }
    moto_s_way = {
        "custom attributes": {"EndpointName": f"{aws.prefix}in-place", **features, "CustomAttributes": "c"},
        "no content type": {"EndpointName": f"{aws.prefix}in-place", "Body": features["Body"]},
        "a name SageMaker refuses": {"EndpointName": "in_place", **features},
    }
    for case, params in {**called_in_place, **moto_s_way}.items():
        sent.clear()
        calls = len(host.requests)
        here = answered(lambda: client.invoke_endpoint(**params))  # noqa: B023 - called at once

        # THEN called in place where it can be, once, with the answer or refusal moto's handler gives
        assert sent == ([] if case in called_in_place else ["InvokeEndpoint"]), case
        assert len(host.requests) - calls == (1 if params["EndpointName"].endswith("in-place") else 0), case
        assert here == answered(lambda: client._sent("InvokeEndpoint", params)), case  # noqa: B023
    kind, answer = answered(lambda: client.invoke_endpoint(**called_in_place["an answer"]))
    assert json.loads(answer["Body"])["predictions"][0]["probability"] == 0.02
    assert answer["ContentType"] == "application/json" and answer["InvokedProductionVariant"] == "AllTraffic"
    kind, (status, error) = answered(lambda: client.invoke_endpoint(**called_in_place["a model's failure"]))
    assert (kind, status, error["Error"]["Code"], error["OriginalStatusCode"]) == ("refused", 424, "ModelError", 503)


def test_a_reading_s_calls_are_all_answered_in_place(aws, model_host, sent):
    model_host("all-in-place")
    body = {"sensor": "in-place-1", "model": "all-in-place", "timestamp": 1_780_000_000_000, "data": [12, 87, 20]}

    result = emulator.start_sync_execution(
        aws.state_machine_arn, json.dumps(body), account=aws.ctx.account, region=aws.ctx.region
    )

    assert result["status"] == "SUCCEEDED", result
    assert sent == []
    item = aws.client("dynamodb").get_item(
        TableName=aws.ctx.refs["PredictionsTable"],
        Key={"sensor": {"S": "in-place-1"}, "timestamp_endpoint": {"S": f"1780000000000#{aws.prefix}all-in-place"}},
    )["Item"]
    assert item["endpoint"] == {"S": f"{aws.prefix}all-in-place"}


def test_an_in_process_call_that_fails_raises_boto3_s_error_class_with_its_status(aws):
    from moto.stepfunctions.parser.asl.utils import boto_client

    client = boto_client.boto_client_for("us-east-1", "dynamodb")
    table = aws.ctx.refs["PredictionsTable"]
    item = {"sensor": {"S": "in-process-twice"}, "timestamp_endpoint": {"S": "1700000000000#nrt-x"}}
    row = {**item, "timestamp": {"N": "1700000000000"}}
    client.put_item(TableName=table, Item=row, ConditionExpression="attribute_not_exists(sensor)")

    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as failed:
        client.put_item(TableName=table, Item=row, ConditionExpression="attribute_not_exists(sensor)")
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_item(TableName="no-such-table", Key=item)


def test_an_in_process_call_answers_a_blob_as_a_stream_as_boto3_does(aws, model_host):
    from moto.stepfunctions.parser.asl.utils import boto_client

    host = model_host("compat-in-process")
    client = boto_client.boto_client_for("us-east-1", "sagemaker-runtime")
    endpoint = f"{aws.prefix}compat-in-process"
    features = b'{"instances": [[1, 2, 3]]}'
    answer = client.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=features)
    assert json.loads(answer["Body"].read())["predictions"]
    assert host.requests[-1] == {"instances": [[1, 2, 3]]}
    assert client.meta.service_model.service_name == "sagemaker-runtime"


class _CountingThread(threading.Thread):
    started: ClassVar[list[_CountingThread]] = []

    def start(self) -> None:
        _CountingThread.started.append(self)
        super().start()


@pytest.mark.parametrize(("timeout", "workers"), [(None, 0), (30, 1)])
def test_a_task_runs_in_its_own_thread_only_when_it_declares_a_timeout(aws, model_host, monkeypatch, timeout, workers):
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    from nrt.emulator.speed import TimedStateWorkers

    model_host("compat-inline")
    state = {**INVOKE, **({"TimeoutSeconds": timeout} if timeout else {})}
    arn = make_machine(aws, {"Invoke": state}, "Invoke")
    monkeypatch.setattr(execute_state, "Thread", _CountingThread)
    _CountingThread.started.clear()
    kept = TimedStateWorkers()
    monkeypatch.setattr("nrt.emulator.speed.TIMED_STATE_WORKERS", kept)

    # WHEN three executions run one after the other
    results = [
        sync(aws, arn, {"endpoint": "nrt-compat-inline", "body": '{"instances": [[12, 87, 20]]}'}) for _ in range(3)
    ]

    # THEN each succeeds; a state with a timeout ran off the caller's thread, on one worker kept
    # for all three, and moto started no thread of its own
    assert [r["status"] for r in results] == ["SUCCEEDED"] * 3, results
    assert kept.started == workers
    assert _CountingThread.started == []


def _interpreter_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the target of every thread moto's interpreter starts from now on."""
    started: list[str] = []
    start = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        target = getattr(self, "_target", None)
        if target is not None and getattr(target, "__module__", "").startswith("moto.stepfunctions"):
            started.append(target.__qualname__)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    return started


def test_a_map_starts_at_most_one_worker_per_item_and_no_thread_per_iteration(aws, monkeypatch):
    arn = make_machine(
        aws,
        {
            "Each": {
                "Type": "Map",
                "MaxConcurrency": 10,
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Double",
                    "States": {
                        "Double": {"Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($, $)"}, "End": True}
                    },
                },
                "End": True,
            }
        },
        "Each",
    )
    started = _interpreter_threads(monkeypatch)

    result = sync(aws, arn, {"items": [1, 2, 3]})

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == [{"twice": 2}, {"twice": 4}, {"twice": 6}]
    # Three Map workers, not ten; no thread per iteration's program, nor for the execution's.
    assert started == ["IterationWorker.eval"] * 3

    started.clear()
    assert json.loads(sync(aws, arn, {"items": [5]})["output"]) == [{"twice": 10}]
    assert started == []  # one item: its worker runs in the Map's own thread


def test_an_execution_with_a_timeout_still_times_out(aws):
    import time

    arn = make_machine(aws, {"Hold": {"Type": "Wait", "Seconds": 5, "End": True}}, "Hold")
    sfn = aws.client("stepfunctions")
    definition = {
        "StartAt": "Hold",
        "TimeoutSeconds": 1,
        "States": {"Hold": {"Type": "Wait", "Seconds": 5, "End": True}},
    }
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition))

    started = time.monotonic()
    result = sync(aws, arn, {})

    assert result["status"] == "TIMED_OUT", result
    assert time.monotonic() - started < 4


def test_a_task_that_declares_a_timeout_still_times_out(aws, model_host):
    import time

    def slow(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        time.sleep(2.5)
        return 200, {"predictions": []}

    model_host("compat-slow", slow)
    arn = make_machine(aws, {"Invoke": {**INVOKE, "TimeoutSeconds": 1}}, "Invoke")

    result = sync(aws, arn, {"endpoint": "nrt-compat-slow", "body": "{}"})

    assert result["status"] == "FAILED"
    assert result["error"] == "States.Timeout"


def test_an_inline_task_error_still_reaches_its_catch(aws, model_host):
    model_host("compat-catch", lambda _: (500, {"message": "boom"}))
    state = {
        **{k: v for k, v in INVOKE.items() if k != "End"},
        "Next": "Ok",
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Caught"}],
    }
    arn = make_machine(
        aws,
        {"Invoke": state, "Ok": {"Type": "Succeed"}, "Caught": {"Type": "Pass", "End": True}},
        "Invoke",
    )

    result = sync(aws, arn, {"endpoint": "nrt-compat-catch", "body": "{}"})

    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["caught"]["Error"] == "SageMakerRuntime.ModelErrorException"
    assert output["endpoint"] == "nrt-compat-catch"


def test_map_iterations_read_the_map_input_without_changing_it_for_each_other(aws):
    arn = make_machine(
        aws,
        {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"value.$": "$$.Map.Item.Value", "shared.$": "$.shared"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Mark",
                    "States": {
                        # Writes into this iteration's copy of the shared part.
                        "Mark": {"Type": "Pass", "InputPath": "$.value", "ResultPath": "$.shared.seen", "End": True}
                    },
                },
                "ResultPath": "$.results",
                "End": True,
            }
        },
        "Each",
    )

    output = json.loads(sync(aws, arn, {"items": [1, 2, 3], "shared": {"tag": "t"}})["output"])

    assert output["shared"] == {"tag": "t"}
    assert output["results"] == [{"value": v, "shared": {"tag": "t", "seen": v}} for v in (1, 2, 3)]


def test_when_every_kept_alive_connection_has_gone_stale_the_call_reconnects_and_is_answered(aws, model_host):
    import http.client
    import queue
    import socket

    host = model_host("stale-pool")
    body = b'{"instances": [[1, 2, 3]]}'
    idle = emulator.sagemaker._idle.setdefault(host.url, queue.SimpleQueue())
    # GIVEN three kept-alive connections whose far end has closed them (a quiet minute after a busy one)
    with socket.create_server(("127.0.0.1", 0)) as closing:
        for _ in range(3):
            stale = http.client.HTTPConnection("127.0.0.1", closing.getsockname()[1], timeout=5)
            stale.connect()
            accepted, _ = closing.accept()
            accepted.close()
            idle.put(stale)

        # WHEN the next reading is scored, THEN it is answered, not a ServiceUnavailable
        assert emulator.invoke_model_host(host.url, body, "application/json")[0] == 200


def test_an_item_s_size_is_summed_once_per_attribute_and_an_item_over_the_limit_is_still_refused(aws, monkeypatch):
    import uuid

    from moto.dynamodb.models.dynamo_type import DynamoType

    ddb, table = aws.client("dynamodb"), aws.ctx.refs["FailuresTable"]
    sized: list[str] = []
    size = DynamoType.size

    def counted(self: Any) -> int:
        sized.append(self.type)
        return int(size(self))

    monkeypatch.setattr(DynamoType, "size", counted)
    item = {"failure_id": {"S": f"size-{uuid.uuid4().hex[:6]}"}, **{f"a{i}": {"S": "x"} for i in range(50)}}

    ddb.put_item(TableName=table, Item=item)

    # moto summed every attribute already added again for each one it added: 1,377 sizes here.
    assert len(sized) <= 2 * len(item)
    assert ddb.get_item(TableName=table, Key={"failure_id": item["failure_id"]}, ConsistentRead=True)["Item"] == item
    too_large = {"failure_id": {"S": "too-large"}, "a": {"S": "x" * 300_000}, "b": {"S": "y" * 110_000}}
    with pytest.raises(ddb.exceptions.ClientError, match="Item size has exceeded the maximum allowed size"):
        ddb.put_item(TableName=table, Item=too_large)


def test_a_condition_expression_is_lexed_once_per_text_and_still_judged_on_each_write_s_values(aws, monkeypatch):
    import uuid

    from moto.dynamodb.comparisons import ConditionExpressionParser

    ddb, table = aws.client("dynamodb"), aws.ctx.refs["FailuresTable"]
    key = {"failure_id": {"S": f"lex-{uuid.uuid4().hex[:6]}"}}
    ddb.put_item(TableName=table, Item={**key, "n": {"N": "5"}})
    matched: list[str] = []
    lex_one = ConditionExpressionParser._lex_one_node

    def counted(self: Any, remaining: str) -> Any:
        matched.append(remaining)
        return lex_one(self, remaining)

    monkeypatch.setattr(ConditionExpressionParser, "_lex_one_node", counted)
    condition = "#n < :limit AND attribute_exists(failure_id) AND NOT #n = :zero"

    def guarded_put(n: str, limit: str) -> None:
        ddb.put_item(
            TableName=table,
            Item={**key, "n": {"N": n}},
            ConditionExpression=condition,
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":zero": {"N": "0"}, ":limit": {"N": limit}},
        )

    # WHEN the same condition text guards writes with different values
    guarded_put("6", "9")
    lexed = len(matched)
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        guarded_put("7", "6")

    # THEN its text was split into tokens at most once, and each write was judged on its own values
    assert len(matched) == lexed
    stored = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert stored["n"] == {"N": "6"}


def test_an_evaluation_step_names_its_field_and_skips_work_once_the_program_has_ended(aws, monkeypatch):
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    arn = make_machine(
        aws,
        {
            "Sum": {
                "Type": "Pass",
                "Parameters": {"n.$": "States.MathAdd($.a, $.b)", "seen.$": "$.a"},
                "Next": "Missing",
            },
            "Missing": {"Type": "Pass", "Parameters": {"x.$": "$.missing"}, "Next": "Never"},
            "Never": {"Type": "Pass", "Result": "reached", "End": True},
        },
        "Sum",
    )
    asked: list[bool] = []
    is_running = Environment.is_running

    def counted(self: Any) -> bool:
        asked.append(True)
        return bool(is_running(self))

    monkeypatch.setattr(Environment, "is_running", counted)

    # WHEN a state's path names nothing in its input
    result = sync(aws, arn, {"a": 2, "b": 3})

    # THEN the execution fails naming the field being evaluated, as moto's step does, and the
    # states after it are never evaluated
    assert result["status"] == "FAILED", result
    assert result["error"] == "States.Runtime"
    assert "The JSONPath '$.missing' specified for the field 'x.$' could not be found" in result["cause"]
    # AND the program state is read once per step, not asked of the environment each time
    assert len(asked) < 10


def plain_paths(value: Any, prefix: str = "$") -> Iterator[str]:
    """Every plain path ($.a[0].b) to a node of value, and one past each leaf and list end."""
    yield prefix
    if isinstance(value, dict):
        for key, member in value.items():
            yield from plain_paths(member, f"{prefix}.{key}")
        yield f"{prefix}.absent"
        yield f"{prefix}[0]"
    elif isinstance(value, list):
        for index, member in enumerate(value):
            yield from plain_paths(member, f"{prefix}[{index}]")
        yield f"{prefix}[{len(value)}]"
        yield f"{prefix}.name"
    else:
        yield f"{prefix}.name"
        yield f"{prefix}[0]"


def test_a_plain_path_is_walked_to_the_value_jsonpath_ng_finds_and_missing_where_it_finds_none():
    from jsonpath_ng.ext import parse

    from nrt.emulator.speed import _MISSING, follow, plain_steps

    wine = load_wine()
    # A getItem answer (DynamoDB's typed JSON) and a batch of real readings, with nulls, flags and text.
    state = {
        "cache": {"Item": {"seconds": {"N": "600"}, "version": {"S": "nrt-wine-v2"}}},
        "readings": [
            {"sensor": f"s-{i}", "data": row.tolist(), "flag": i % 2 == 0, "note": None}
            for i, row in enumerate(wine.data[:3])
        ],
        "names": list(wine.feature_names[:4]),
        "text": "abc",
        "empty": {},
        "none": [],
    }
    paths = list(plain_paths(state))

    for path in paths:
        steps = plain_steps(path)
        assert steps is not None, path
        found = [match.value for match in parse(path).find(state)]
        walked = follow(steps, state)
        assert (walked is _MISSING) == (not found), path
        if found:
            assert walked == found[0], path
    assert len(paths) > 100


@pytest.mark.parametrize("path", ["$.a[-1]", "$.a[*]", "$.a[0:2]", "$..a", "$['a']", "$.a[?(@.b)]", "$.a-b", "$.1a"])
def test_any_other_path_is_left_to_jsonpath_ng(path):
    from nrt.emulator.speed import plain_steps

    assert plain_steps(path) is None


@pytest.mark.parametrize(
    ("path", "state"),
    [
        ("$.result", {"a": 1}),
        ("$.a.b", {"a": {"c": 2}}),
        ("$.x.y.z", {"a": 1}),  # objects made on the way
        ("$.a", {"a": {"old": True}}),  # replaced whole
        ("$.cache.entry", {"cache": {"Item": {"seconds": {"N": "600"}}}}),
    ],
)
def test_a_plain_result_path_sets_what_jsonpath_ng_sets(path, state):
    import copy

    from jsonpath_ng import parse

    from nrt.emulator.speed import plain_steps, set_plain

    value = {"reply": [load_wine().data[0].tolist()], "flag": False, "none": None}
    expected = parse(path).update_or_create(copy.deepcopy(state), copy.deepcopy(value))
    names = plain_steps(path)
    assert names is not None
    got = copy.deepcopy(state)

    assert set_plain(tuple(str(name) for name in names), got, copy.deepcopy(value)) is True
    assert got == expected


def test_a_result_path_through_something_other_than_an_object_is_left_to_moto(aws):
    from nrt.emulator.speed import set_plain

    assert set_plain(("a", "b"), {"a": "text"}, 1) is False
    arn = make_machine(aws, {"Set": {"Type": "Pass", "Result": 1, "ResultPath": "$.a.b", "End": True}}, "Set")

    refused = sync(aws, arn, {"a": "text"})  # moto's own way: the execution fails

    assert refused["status"] == "FAILED", refused
    assert json.loads(sync(aws, arn, {"a": {"c": 0}})["output"]) == {"a": {"c": 0, "b": 1}}


def serialized(service: str, operation: str, params: dict[str, Any]) -> tuple[str, str, dict[str, str], bytes | str]:
    """What botocore's own serializer makes of a call (as InProcessClient sends it)."""
    import urllib.parse

    import boto3

    client = boto3.client(
        service,
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:4566",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    model = client.meta.service_model.operation_model(operation)
    request = client._serializer.serialize_to_request(params, model)
    query = urllib.parse.urlencode(request["query_string"], doseq=True) if request["query_string"] else ""
    url = client.meta.endpoint_url + request["url_path"] + (f"?{query}" if query else "")
    return request["method"], url, {**request["headers"], "Authorization": "AWS4-HMAC-SHA256 x"}, request["body"]


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        ("dynamodb", "PutItem", {"TableName": "t", "Item": {"k": {"S": "ü"}}, "ConditionExpression": "a = :b"}),
        ("dynamodb", "GetItem", {"TableName": "t", "Key": {"k": {"S": "x"}}}),
        ("sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "nrt-m", "Body": b'{"instances": [[1, 2]]}'}),
        ("s3", "PutObject", {"Bucket": "b", "Key": "dir/ü x%2F.txt", "Body": b"x", "Metadata": {"my_key": "v"}}),
        ("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "a b/", "MaxKeys": 5}),
        ("sqs", "SendMessage", {"QueueUrl": "http://127.0.0.1:4566/1/q", "MessageBody": "hé"}),
        ("stepfunctions", "ListExecutions", {"stateMachineArn": "arn:aws:states:eu-west-1:1:stateMachine:m"}),
    ],
)
def test_a_request_built_from_its_environ_is_the_request_moto_builds(service, operation, params):
    from moto.core.request import Request

    from nrt.emulator.speed import wsgi_request

    method, url, headers, body = serialized(service, operation, params)
    ours = wsgi_request(method, url, headers, body)
    motos = Request.from_primitives(method, url, headers, body)

    def environ(request: Any) -> dict[str, Any]:
        return {k: v for k, v in request.environ.items() if k not in ("wsgi.input", "wsgi.errors", "werkzeug.request")}

    assert environ(ours) == environ(motos)
    assert ours.get_data() == motos.get_data()
    assert (ours.raw_url, list(ours.headers), ours.form.to_dict()) == (
        motos.raw_url,
        list(motos.headers),
        motos.form.to_dict(),
    )


def test_a_missing_variable_is_still_missing_and_its_message_written_only_when_read(aws, monkeypatch):
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import NoSuchVariable, Variable
    from moto.stepfunctions.parser.asl.utils import json_path

    written: list[str] = []
    message = json_path.NoSuchJsonPathError.message
    monkeypatch.setattr(
        json_path.NoSuchJsonPathError, "message", property(lambda e: written.append("") or message.fget(e))
    )
    arn = make_machine(
        aws,
        {
            "Has": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.gone", "IsPresent": True, "Next": "Yes"},
                    {"Not": {"Variable": "$.here[1]", "IsPresent": True}, "Next": "No"},
                ],
                "Default": "Yes",
            },
            "Yes": {"Type": "Pass", "Result": "present", "End": True},
            "No": {"Type": "Pass", "Result": "absent", "End": True},
        },
        "Has",
    )

    assert json.loads(sync(aws, arn, {"here": [1], "big": "x" * 10_000})["output"]) == "absent"
    assert json.loads(sync(aws, arn, {"gone": None, "here": [1]})["output"]) == "present"
    assert written == []  # two missing variables, neither written out

    class Sampler:  # a path that is not in the input, as the Choice's Variable evaluates it
        literal_value = "$.gone"
        error = json_path.NoSuchJsonPathError("$.gone", {"here": 1})

        def eval(self, env: Any) -> None:
            raise self.error

    class Env:
        stack: ClassVar[list[Any]] = []

    variable = Variable.__new__(Variable)
    variable.string_sampler = Sampler()  # type: ignore[assignment]
    variable._eval_body(Env())  # type: ignore[arg-type]
    missing = Env.stack.pop()
    assert isinstance(missing, NoSuchVariable) and written == []
    assert missing.path == f"$.gone, {Sampler.error}"  # moto's text, written when read


def test_random_identifiers_keep_moto_s_alphabet_and_length_and_follow_its_seed(aws):
    import string

    from moto.moto_api._internal.moto_random import MotoRandom

    ids = [MotoRandom().get_random_string(52) for _ in range(200)]
    assert all(len(i) == 52 and set(i) <= set(string.ascii_letters + string.digits) for i in ids)
    assert len(set(ids)) == 200 and set("".join(ids)) == set(string.ascii_letters + string.digits)
    assert set(MotoRandom().get_random_string(400, include_digits=False)) <= set(string.ascii_letters)
    assert MotoRandom().get_random_string(30, lower_case=True).islower()
    hexes = MotoRandom().get_random_hex(400)
    assert len(hexes) == 400 and set(hexes) == set("0123456789abcdef")
    one, two = MotoRandom(), MotoRandom()
    one.seed(7)
    two.seed(7)
    assert one.get_random_string(52) == two.get_random_string(52)  # moto's seeding still makes ids repeatable
    answer = aws.client("dynamodb").list_tables()["ResponseMetadata"]["RequestId"]
    assert len(answer) == 52 and answer.isalnum()
