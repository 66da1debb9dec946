"""The real statemachine/inference.asl.json on the embedded AWS."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from nrt import emulator
from nrt.apigateway.contract import Answer, answer_from_execution
from nrt.emulator.server import EmbeddedAws
from tests.helpers import ROOT, load_event
from tests.helpers.model_hosts import rule_model
from training import inference as serving

_ts = itertools.count(1_700_000_000_000, 1000)


def run(aws: EmbeddedAws, body: dict[str, Any]) -> Answer:
    # As API Gateway hands it over: the text as it is (its \\u escapes are the request's JSON).
    result = emulator.start_sync_execution(
        aws.state_machine_arn, json.dumps(body, ensure_ascii=False), account=aws.ctx.account, region=aws.ctx.region
    )
    # As the local API answers: once every change the execution made is kept (the stream
    # worker reads the kept changes; without this the last one may not be there yet).
    aws.wiring.sync()
    return answer_from_execution(result["status"], result.get("output"), result.get("cause"))


def reading(model: str, sensor: str = "s-1", **extra: Any) -> dict[str, Any]:
    return {"sensor": sensor, "model": model, "timestamp": next(_ts), "data": [12, 87, 20], **extra}


def stored(aws: EmbeddedAws, sensor: str, timestamp: int, endpoint: str) -> dict[str, Any] | None:
    """The item of one reading scored by one model (the table's key: sensor, timestamp#endpoint)."""
    item: dict[str, Any] | None = (
        aws.client("dynamodb")
        .get_item(
            TableName=aws.ctx.refs["PredictionsTable"],
            Key={"sensor": {"S": sensor}, "timestamp_endpoint": {"S": f"{timestamp}#{endpoint}"}},
        )
        .get("Item")
    )
    return item


def failures_for(aws: EmbeddedAws, model: str) -> list[dict[str, Any]]:
    """The failure store's records for one model, every page of it: the store is shared by the
    worker's tests, some of which write records of their own shape or of 300 KB."""
    pages = aws.client("dynamodb").get_paginator("scan").paginate(TableName=aws.ctx.refs["FailuresTable"])
    return [i for page in pages for i in page["Items"] if i.get("model", {}).get("S") == model]


def test_given_a_reading_when_scored_then_the_prediction_is_answered_and_stored(aws, model_host):
    host = model_host("happy")
    body = reading("happy", sensor="happy-1")

    answer = run(aws, body)

    assert answer.status == 200
    assert answer.body == {
        "event_id": f"happy-1:{body['timestamp']}",
        "sensor": "happy-1",
        "timestamp": body["timestamp"],
        "model": "happy",
        "endpoint": "nrt-happy",
        "kind": "binary",
        "prediction": 1,
        "probability": 0.97,
        "probabilities": {"0": 0.03, "1": 0.97},
        "duplicate": False,
        "cached": False,
    }
    assert host.requests == [{"instances": [body]}]
    item = stored(aws, "happy-1", body["timestamp"], "nrt-happy")
    assert item is not None
    assert (item["kind"], item["prediction"], item["probability"]) == ({"S": "binary"}, {"S": "1"}, {"S": "0.97"})
    assert json.loads(item["probabilities"]["S"]) == {"0": 0.03, "1": 0.97}
    assert item["timestamp"] == {"N": str(body["timestamp"])}
    assert item["endpoint"] == {"S": "nrt-happy"}
    assert json.loads(item["reading"]["S"]) == body
    assert item["predicted_at"]["S"].endswith("Z")


def test_given_the_full_endpoint_name_when_scored_then_it_resolves_to_the_same_endpoint(aws, model_host):
    model_host("legacy")

    answer = run(aws, reading("nrt-legacy"))

    assert answer.status == 200
    assert answer.body["endpoint"] == "nrt-legacy"


def test_given_a_batch_when_scored_then_the_model_is_called_once_and_each_reading_is_stored(aws, model_host):
    host = model_host("batched")
    batch = load_event("batch.json")
    batch["model"] = "batched"
    for r in batch["readings"]:
        r["sensor"] = "batch-" + r["sensor"]

    answer = run(aws, batch)

    assert answer.status == 200
    assert answer.body["count"] == 3
    assert [r["prediction"] for r in answer.body["results"]] == [1, 0, 1]
    assert answer.body["results"][1]["event_id"] == "evt-2"
    assert len(host.requests) == 1
    assert host.requests[0] == {"instances": batch["readings"]}
    for r in batch["readings"]:
        assert stored(aws, r["sensor"], r["timestamp"], "nrt-batched") is not None


@pytest.mark.parametrize(
    "body",
    [
        {"model": "guarded", "timestamp": 1_700_000_000_000, "data": [1, 2, 3]},
        {"sensor": 7, "model": "guarded", "timestamp": 1_700_000_000_000, "data": [1, 2, 3]},
        {"sensor": "s", "model": "guarded", "timestamp": "soon", "data": [1, 2, 3]},
        {"sensor": "s", "model": "guarded", "timestamp": 5, "data": [1, 2, 3]},
        {"sensor": "s", "model": "guarded", "timestamp": 4_102_444_800_000, "data": [1, 2, 3]},
        {"sensor": "s", "model": "guarded", "timestamp": 1_700_000_000_000},
        {"sensor": "s", "model": "guarded", "timestamp": 1_700_000_000_000, "featurez": {"a": 1}},
        {"sensor": "s", "timestamp": 1_700_000_000_000, "data": [1, 2, 3]},
        {"readings": [], "model": 3},
        {"readings": [], "model": "guarded"},
        {"model": "guarded", "readings": [{"sensor": "s", "timestamp": 1_700_000_000_000, "data": [1, 2, 3]}] * 101},
        {"sensor": "s", "model": "guarded", "timestamp": 1_700_000_000_000, "data": [1, 2, 3], "features": {"a": 1}},
        {"model": "guarded", "data": [1, 2, 3], "readings": [{"sensor": "s", "timestamp": 1_700_000_000_000}]},
    ],
)
def test_given_bad_input_when_started_then_400_and_the_model_is_never_invoked(aws, model_host, body):
    host = model_host("guarded")

    answer = run(aws, body)

    assert answer.status == 400
    assert answer.body["error"] == "ValidationError"
    assert host.requests == []
    # Recorded as every failure is (on /events the 202 is already given): the request as sent.
    model = body["model"] if isinstance(body.get("model"), str) else "(none)"
    [failure] = [f for f in failures_for(aws, model) if json.loads(f["request"]["S"]) == body]
    assert failure["status"] == {"N": "400"}
    assert failure["error"] == {"S": "ValidationError"}
    assert "a reading needs sensor" in failure["cause"]["S"]


def test_given_an_unknown_model_when_scored_then_404_and_the_reading_is_kept_for_replay(aws):
    body = reading("nosuchmodel")

    answer = run(aws, body)

    assert answer.status == 404
    assert answer.body["error"] == "ModelNotFound"
    assert "nrt-nosuchmodel" in answer.body["message"]
    [failure] = failures_for(aws, "nosuchmodel")
    assert failure["error"]["S"] == "SageMakerRuntime.ValidationErrorException"
    assert failure["status"] == {"N": "404"}
    assert json.loads(failure["request"]["S"]) == body


def test_given_a_container_that_refuses_the_whole_request_then_400_with_its_reason_after_one_call(aws, model_host):
    # A container whose serving code answers 400 for the request as a whole (another tool's,
    # or ours from before refusals were answered in place): recorded, and never retried.
    host = model_host("strict")

    answer = run(aws, {**reading("strict"), "data": [1, 2]})

    assert answer.status == 400
    assert answer.body["error"] == "ValidationError"
    assert "expects 3 features" in answer.body["message"]
    assert answer.body["feature"] is None  # such a container names no field
    assert len(host.requests) == 1
    [failure] = failures_for(aws, "strict")
    assert failure["status"] == {"N": "400"}
    assert failure["error"]["S"] == "SageMakerRuntime.ModelErrorException"


def test_given_a_failing_model_when_scored_then_it_is_recorded_and_503_after_one_call(aws, model_host):
    host = model_host("broken", lambda _: (500, {"message": "out of memory"}))
    body = reading("broken", sensor="broken-1")

    answer = run(aws, body)

    assert answer.status == 503
    assert answer.body["error"] == "ModelUnavailable"
    assert len(host.requests) == 1  # a model's own error is not retried: the record is replayed
    [failure] = failures_for(aws, "broken")
    assert failure["error"]["S"] == "SageMakerRuntime.ModelErrorException"
    assert "out of memory" in failure["cause"]["S"]
    assert json.loads(failure["request"]["S"]) == body
    assert failure["status"] == {"N": "503"}
    assert stored(aws, "broken-1", body["timestamp"], "nrt-broken") is None


def test_given_a_resent_event_id_when_scored_then_it_is_stored_once_and_answered_as_duplicate(aws, model_host):
    model_host("idem")
    body = reading("idem", sensor="idem-1", event_id="evt-idem")

    first = run(aws, body)
    second = run(aws, body)

    assert first.status == second.status == 200
    assert first.body["duplicate"] is False
    assert second.body["duplicate"] is True
    assert {k: v for k, v in second.body.items() if k != "duplicate"} == {
        k: v for k, v in first.body.items() if k != "duplicate"
    }
    items = aws.client("dynamodb").query(
        TableName=aws.ctx.refs["PredictionsTable"],
        KeyConditionExpression="sensor = :s",
        ExpressionAttributeValues={":s": {"S": "idem-1"}},
    )["Items"]
    assert len(items) == 1


def test_given_another_event_at_a_taken_sensor_and_timestamp_when_scored_then_409(aws, model_host):
    model_host("clash")
    body = reading("clash", sensor="clash-1", event_id="first")
    assert run(aws, body).status == 200

    answer = run(aws, {**body, "event_id": "second"})

    assert answer.status == 409
    assert answer.body["error"] == "Conflict"
    item = stored(aws, "clash-1", body["timestamp"], "nrt-clash")
    assert item is not None
    assert item["event_id"] == {"S": "first"}


def test_given_an_event_id_sent_again_for_another_model_or_reading_then_409_and_nothing_stored(aws, model_host):
    model_host("first-model")
    model_host("second-model")
    body = reading("first-model", sensor="claim-1", event_id="evt-claimed")
    assert run(aws, body).status == 200

    other_model = run(aws, {**body, "model": "second-model"})
    other_reading = run(aws, {**body, "sensor": "claim-2"})
    in_a_batch = run(aws, {"model": "second-model", "readings": [{k: v for k, v in body.items() if k != "model"}]})

    for answer in (other_model, other_reading):
        assert (answer.status, answer.body["error"]) == (409, "Conflict"), answer.body
        assert "event_id evt-claimed already names another reading or model" in answer.body["message"]
    assert in_a_batch.body["results"][0]["status"] == 409
    assert stored(aws, "claim-1", body["timestamp"], "nrt-second-model") is None
    assert stored(aws, "claim-2", body["timestamp"], "nrt-first-model") is None
    assert run(aws, body).body["duplicate"] is True  # the first claimant's resend is still a resend


# DynamoDB TTL: the attribute is epoch seconds (a Number); the template names it and says 365 days.
@pytest.mark.parametrize(
    "started",
    [
        "2026-12-05T15:16:46.123Z",
        "2028-02-29T23:59:59.999Z",  # a leap day, counted from March of the year before
        "2028-03-01T00:00:00.000Z",
        "2027-01-01T00:00:00.000Z",
        "2099-12-31T08:00:00.000Z",
    ],
)
def test_an_event_id_claim_expires_365_days_after_the_day_it_was_made(aws, model_host, monkeypatch, started):
    import calendar
    import datetime

    from nrt.emulator import sdk_tasks

    monkeypatch.setattr(sdk_tasks, "iso_timestamp", lambda moment: started)  # the execution's StartTime
    model_host("ttl")
    event_id = f"evt-ttl-{started}"

    answer = run(aws, reading("ttl", sensor="ttl-1", event_id=event_id))

    assert answer.status == 200, answer.body
    claim = aws.client("dynamodb").get_item(TableName=aws.ctx.refs["EventIdsTable"], Key={"event_id": {"S": event_id}})[
        "Item"
    ]
    day = datetime.date.fromisoformat(started[:10]) + datetime.timedelta(days=365)
    assert claim["expires_at"] == {"N": str(calendar.timegm(day.timetuple()))}


def splits_in_clock() -> int:
    """The StringSplit calls of one reading of the clock (its Clock state's, one per field)."""
    clock = json.loads((ROOT / "statemachine/inference.asl.json").read_text())["States"]["Clock"]
    return json.dumps(clock["Parameters"]).count("States.StringSplit(")


@pytest.fixture
def clock_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The start times the workflow's clock (its Clock state, the only StringSplit) has read."""
    from moto.stepfunctions.parser.asl.component.intrinsic.function.statesfunction.string_operations import (
        string_split,
    )

    reads: list[str] = []
    split = string_split.StringSplit._eval_body

    def spy(self: Any, env: Any) -> None:
        split(self, env)
        reads.append(str(env.stack[-1]))

    monkeypatch.setattr(string_split.StringSplit, "_eval_body", spy)
    return reads


def test_given_no_event_id_and_no_cache_then_the_clock_is_not_read(aws, model_host, clock_reads):
    model_host("clockless")

    single = run(aws, reading("clockless", sensor="clockless-1"))
    batch = run(
        aws, {"model": "clockless", "readings": [reading("clockless", sensor=f"clockless-{i}") for i in (2, 3)]}
    )

    assert (single.status, batch.status) == (200, 200), (single.body, batch.body)
    assert clock_reads == []


def test_given_a_batch_whose_only_event_id_is_on_its_last_reading_then_its_claim_still_expires_in_365_days(
    aws, model_host, monkeypatch, clock_reads
):
    import calendar
    import datetime

    from nrt.emulator import sdk_tasks

    monkeypatch.setattr(sdk_tasks, "iso_timestamp", lambda moment: "2027-06-30T22:10:00.000Z")
    model_host("lastclaim")
    readings = [reading("lastclaim", sensor=f"lastclaim-{i}") for i in range(3)]
    readings[-1]["event_id"] = "evt-last-of-three"

    answer = run(aws, {"model": "lastclaim", "readings": readings})

    assert answer.status == 200, answer.body
    assert [result["event_id"] for result in answer.body["results"]][-1] == "evt-last-of-three"
    claim = aws.client("dynamodb").get_item(
        TableName=aws.ctx.refs["EventIdsTable"], Key={"event_id": {"S": "evt-last-of-three"}}
    )["Item"]
    assert claim["expires_at"] == {"N": str(calendar.timegm(datetime.date(2028, 6, 29).timetuple()))}
    assert len(clock_reads) == splits_in_clock()  # the clock read once for the batch, not per reading


def test_given_the_same_reading_for_two_models_without_an_event_id_then_each_model_stores_it(aws, model_host):
    model_host("left")
    model_host("right")
    body = reading("left", sensor="shadow-1")  # the event id is derived: sensor and timestamp

    assert run(aws, body).status == 200
    assert run(aws, {**body, "model": "right"}).status == 200
    assert stored(aws, "shadow-1", body["timestamp"], "nrt-left") is not None
    assert stored(aws, "shadow-1", body["timestamp"], "nrt-right") is not None


def always_one(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    one = {"kind": "binary", "prediction": 1, "probability": 0.9, "probabilities": {"0": 0.1, "1": 0.9}}
    return 200, {"predictions": [one for _ in request["instances"]]}


@pytest.mark.parametrize(
    ("first", "then"),
    [({"data": [12, 87, 20]}, {"data": [13, 87, 20]}), ({"features": {"a": 12}}, {"features": {"a": 13}})],
)
def test_given_other_data_at_a_taken_sensor_and_timestamp_when_scored_then_409_never_anothers_prediction(
    aws, model_host, first, then
):
    model_host("clash", always_one)
    # no event_id: sensor and timestamp identify the reading
    body = {"sensor": "clash-2", "model": "clash", "timestamp": next(_ts), **first}
    assert run(aws, body).status == 200

    answer = run(aws, {**{k: v for k, v in body.items() if k not in first}, **then})

    assert answer.status == 409, answer.body
    assert answer.body["error"] == "Conflict"
    assert "other data" in answer.body["message"]
    assert run(aws, body).body["duplicate"] is True  # the same data again is a resend


def refuse_negative(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """As training/inference.py answers: a reading that does not fit gets its own error."""
    status, answer = rule_model(request)
    for i, instance in enumerate(request["instances"]):
        if instance["data"][0] < 0:
            answer["predictions"][i] = {
                "kind": "binary",
                "error": "InvalidReading",
                "message": f"instances[{i}]: feature 'a' must be positive",
                "feature": "a",
            }
    return status, answer


def refuse_unnamed(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """As serving code from before refusals named their feature."""
    status, answer = refuse_negative(request)
    for prediction in answer["predictions"]:
        prediction.pop("feature", None)
    return status, answer


def test_given_a_batch_with_one_bad_reading_then_it_gets_its_own_400_is_recorded_and_the_others_are_stored(
    aws, model_host
):
    host = model_host("picky", refuse_negative)
    readings = [{"sensor": "picky-1", "timestamp": next(_ts), "data": [d, 87, 20]} for d in (12, -1, 13)]

    answer = run(aws, {"model": "picky", "readings": readings})

    assert answer.status == 200
    good, bad, other = answer.body["results"]
    assert "error" not in good and "error" not in other
    assert (bad["status"], bad["error"], bad["feature"]) == (400, "InvalidReading", "a")
    assert bad["message"] == "instances[1]: feature 'a' must be positive"
    assert stored(aws, "picky-1", readings[0]["timestamp"], "nrt-picky") is not None
    assert stored(aws, "picky-1", readings[1]["timestamp"], "nrt-picky") is None
    assert stored(aws, "picky-1", readings[2]["timestamp"], "nrt-picky") is not None
    assert len(host.requests) == 1
    [failure] = failures_for(aws, "picky")  # the refused reading alone, with the feature it names
    assert (failure["status"], failure["error"]["S"], failure["feature"]["S"]) == (
        {"N": "400"},
        "InvalidReading",
        '"a"',
    )
    assert json.loads(failure["request"]["S"]) == readings[1]
    assert "must be positive" in failure["cause"]["S"]


def test_given_one_reading_the_model_refuses_in_place_then_400_naming_the_feature_recorded_once(aws, model_host):
    host = model_host("choosy", refuse_negative)
    body = {**reading("choosy", sensor="choosy-1"), "data": [-5, 87, 20]}

    answer = run(aws, body)

    assert answer.status == 400
    assert answer.body == {
        "status": 400,
        "error": "InvalidReading",
        "message": "instances[0]: feature 'a' must be positive",
        "feature": "a",
    }
    assert len(host.requests) == 1
    [failure] = failures_for(aws, "choosy")
    assert json.loads(failure["request"]["S"]) == body
    assert stored(aws, "choosy-1", body["timestamp"], "nrt-choosy") is None


def test_given_refusals_that_name_no_feature_then_they_are_answered_and_recorded_with_none(aws, model_host):
    model_host("older", refuse_unnamed)
    readings = [{"sensor": "older-1", "timestamp": next(_ts), "data": [d, 87, 20]} for d in (12, -1)]

    answer = run(aws, {"model": "older", "readings": readings})

    assert answer.status == 200
    assert answer.body["results"][1]["feature"] is None
    [failure] = failures_for(aws, "older")
    assert failure["feature"]["S"] == "null"


def test_given_accepted_events_when_the_runtime_finishes_then_every_one_is_stored(aws, model_host):
    from nrt.apigateway.executions import Executions

    model_host("async")
    inference = Executions(aws, async_workers=2)
    bodies = [reading("async", sensor=f"async-{i}") for i in range(12)]

    answers = [inference.submit(body) for body in bodies]
    left = inference.finish(timeout=60)

    assert {a.status for a in answers} == {202}
    assert left == 0
    assert inference.pending == 0
    assert all(stored(aws, b["sensor"], b["timestamp"], "nrt-async") is not None for b in bodies)
    assert inference.health.window()["totals"]["events"] == 12


def test_given_events_that_fail_after_their_202_then_the_health_figures_count_them(aws, model_host):
    from nrt.apigateway.executions import Executions
    from nrt.health import line

    model_host("counted")
    inference = Executions(aws, async_workers=1)
    first = reading("counted", sensor="counted-1")
    conflicting = {**first, "data": [9, 9, 9]}  # the same sensor and timestamp, other data: a 409
    unknown = reading("nosuchmodel-counted", sensor="counted-2")  # a 404

    for body in (first, conflicting, unknown):
        assert inference.submit(body).status == 202
    assert inference.finish(timeout=60) == 0

    totals = inference.health.window()["totals"]
    assert (totals["events"], totals["events 2xx"], totals["events 4xx"]) == (3, 1, 2)
    assert "events 3 (4xx 2)" in line(inference.health.window())


LABEL = "a-label-of-thirty-two-characters"  # the longest label the stated limits cover (32 bytes)
WIDEST = {
    "binary": {"kind": "binary", "prediction": 1, "probability": 0.9, "probabilities": {"0": 0.1, "1": 0.9}},
    # A classifier answers its TOP_LABELS most likely labels' probabilities (training/inference.py).
    "many labels": {
        "kind": "multiclass",
        "prediction": f"{LABEL[:-1]}0",
        "probability": 0.123456,
        "probabilities": {f"{LABEL[:-1]}{i}": 0.123456 for i in range(serving.TOP_LABELS)},
    },
    "refused": {
        "kind": "multiclass",
        "error": "InvalidReading",
        "message": "m" * serving.MAX_MESSAGE,
        "feature": "f" * serving.MAX_NAME,
    },
}


@pytest.mark.parametrize("reply", WIDEST.values(), ids=WIDEST.keys())
def test_given_the_largest_body_the_api_accepts_when_scored_then_no_state_outgrows_the_payload_quota(
    aws, model_host, reply
):
    # The API refuses bodies over 64,000 characters (template.yaml); each of those characters
    # may take 3 bytes (any character of the Basic Multilingual Plane beyond U+07FF). The
    # model's reply is bounded by the serving code; the workflow holds it once.
    def echo(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"predictions": [reply] * len(request["instances"])}

    name = f"largest-{len(json.dumps(reply))}"
    model_host(name, echo)

    def body_with(n: int) -> dict[str, Any]:
        one = {"timestamp": 1_700_000_000_000, "features": {"city": "東" * n}}
        readings = [{"sensor": f"s-{i}", **one} for i in range(100)]
        return {"model": name, "readings": readings}

    empty = len(json.dumps(body_with(0), ensure_ascii=False))
    body = body_with((64_000 - empty) // 100)
    assert len(json.dumps(body, ensure_ascii=False)) <= 64_000
    assert len(json.dumps(body, ensure_ascii=False).encode()) > 170_000

    answer = run(aws, body)

    assert answer.status == 200, answer.body
    assert answer.body["count"] == 100


def test_a_callers_error_ends_the_execution_in_success_and_the_stacks_own_in_failure(aws, model_host):
    # Step Functions' ExecutionsFailed (the FailedExecutionsAlarm) must count only the latter.
    def broken(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 500, {"message": "the model crashed"}

    model_host("crashing", broken)
    start = {"account": aws.ctx.account, "region": aws.ctx.region}

    unknown = emulator.start_sync_execution(aws.state_machine_arn, json.dumps(reading("nobody")), **start)
    crashed = emulator.start_sync_execution(aws.state_machine_arn, json.dumps(reading("crashing")), **start)

    assert (unknown["status"], json.loads(unknown["output"])["status"]) == ("SUCCEEDED", 404)
    assert (crashed["status"], json.loads(crashed["cause"])["status"]) == ("FAILED", 503)


def test_given_a_full_event_queue_when_another_event_comes_then_429_says_when_to_retry(aws):
    import http.client

    from nrt.apigateway.executions import Executions
    from nrt.apigateway.server import serve_api

    inference = Executions(aws, async_workers=0, async_queue_size=2)  # nothing drains the queue
    server = serve_api(inference, port=0)
    try:
        answers = []
        for i in range(3):
            connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
            body = json.dumps(reading("queued", sensor=f"queued-{i}"))
            connection.request("POST", "/events", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answers.append((response.status, response.getheader("Retry-After"), json.loads(response.read())))
            connection.close()
    finally:
        server.shutdown()
        server.server_close()

    assert [(status, retry) for status, retry, _ in answers] == [(202, None), (202, None), (429, "1")]
    assert answers[2][2]["error"] == "ServiceThrottled"
    assert inference.pending == 2  # the refused event was not kept


def failure_item(aws: EmbeddedAws, failure_id: str) -> dict[str, Any] | None:
    table = aws.ctx.refs["FailuresTable"]
    found: dict[str, Any] | None = (
        aws.client("dynamodb").get_item(TableName=table, Key={"failure_id": {"S": failure_id}}).get("Item")
    )
    return found


def test_given_an_event_the_runtime_cannot_run_then_it_is_tried_3_times_then_recorded_as_failed(
    aws, tmp_path, monkeypatch
):
    import time

    from nrt.apigateway import executions
    from nrt.ops.failures import from_item
    from nrt.state.store import Store

    tries: list[str] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        tries.append(args[2])  # the execution's name
        raise RuntimeError("the embedded AWS broke")

    monkeypatch.setattr(executions.emulator, "start_sync_execution", broken)
    store = Store(tmp_path / "state.db")
    inference = executions.Executions(aws, async_workers=1, store=store)
    body = reading("never", sensor="poison-1")

    name = inference.start_execution(json.dumps(body))["executionArn"].rsplit(":", 1)[1]
    deadline = time.monotonic() + 30
    while store.accepted() and time.monotonic() < deadline:
        time.sleep(0.1)
    inference.stop()

    assert tries == [name] * 3  # then never again: not retried at every start
    assert store.accepted() == []
    item = failure_item(aws, name)
    assert item is not None
    failure = from_item(item)
    assert (failure.status, failure.error, failure.replayable) == (503, "EventNotRun", True)
    assert failure.request == body and failure.model == "never"
    assert "RuntimeError: the embedded AWS broke" in failure.cause


def test_given_an_event_whose_runs_ended_with_the_process_3_times_then_it_is_not_run_a_4th_time(
    aws, tmp_path, monkeypatch
):
    from nrt.apigateway import executions
    from nrt.state.store import Store

    store = Store(tmp_path / "state.db")
    body = reading("never", sensor="poison-2")
    store.accept("killed-thrice", json.dumps(body), 1.0)
    for _ in range(3):
        store.attempt("killed-thrice")  # as three starts that died running it left it
    monkeypatch.setattr(executions.emulator, "start_sync_execution", lambda *a, **k: pytest.fail("run a 4th time"))

    inference = executions.Executions(aws, async_workers=1, store=store)
    assert inference.resume() == 1
    left = inference.finish(timeout=30)
    inference.stop()

    assert left == 0 and store.accepted() == []
    item = failure_item(aws, "killed-thrice")
    assert item is not None and "3 runs ended with the process" in item["cause"]["S"]


@pytest.mark.parametrize("field", ["features", "data"])
def test_given_the_widest_stored_reading_when_resent_then_it_is_a_duplicate_and_other_data_a_conflict(
    aws, model_host, field
):
    # A single reading as wide as the body allows, in 3-byte characters (features) or numbers
    # (data): the resend is compared by DynamoDB, so the stored copy never joins it in the state.
    model_host(f"wide-{field}", lambda request: (200, {"predictions": [WIDEST["binary"]] * len(request["instances"])}))
    content: Any = {f"f{i:03d}": "東" * 256 for i in range(235)} if field == "features" else [1.25] * 10_600
    body = {"sensor": f"wide-{field}", "model": f"wide-{field}", "timestamp": next(_ts), field: content}
    assert len(json.dumps(body, ensure_ascii=False)) <= 64_000

    first, again = run(aws, body), run(aws, body)
    other = run(aws, {**body, field: {**content, "f000": "西"} if field == "features" else [2.5, *content[1:]]})

    assert (first.status, first.body["duplicate"]) == (200, False)
    assert (again.status, again.body["duplicate"]) == (200, True), again.body
    assert {k: v for k, v in again.body.items() if k != "duplicate"} == {
        k: v for k, v in first.body.items() if k != "duplicate"
    }
    assert (other.status, other.body["error"]) == (409, "Conflict"), other.body
    assert "other data" in other.body["message"]
