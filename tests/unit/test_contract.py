"""Validation rules and the workflow-outcome-to-HTTP mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nrt.contract import (
    MAX_BODY_BYTES,
    RequestRejected,
    answer_from_execution,
    parse_body,
    validate_request,
)
from tests.conftest import load_event


def rejection(body: Any) -> dict[str, Any]:
    with pytest.raises(RequestRejected) as caught:
        validate_request(body)
    assert caught.value.answer.status == 400
    answer: dict[str, Any] = caught.value.answer.body
    assert answer["error"] == "ValidationError"
    return answer


def named(**features: Any) -> dict[str, Any]:
    body = {k: v for k, v in load_event("reading.json").items() if k != "data"}
    return {**body, "features": features}


def test_a_reading_with_named_features_of_numbers_text_and_null_is_valid():
    body = named(carat=0.31, cut="Ideal", depth=None)

    assert validate_request(body) is body
    batch = {"model": "spend", "readings": [{"sensor": "s", "timestamp": 1_700_000_000_000, "features": {"a": 1}}]}
    assert validate_request(batch) is batch


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**named(a=1), "data": [1]}, "body: has data and features; send one of them, not both"),
        ({k: v for k, v in named(a=1).items() if k != "features"}, "body: needs data or features"),
        (named(a=True), "features.a: true is not a number, null (missing), text (1-256 characters)"),
        (named(a=[1]), "features.a: [1] is not a number"),
        (named(a=""), "features.a"),
        (named(**{"mean radius": 1}), "features: 'mean radius' does not match"),
        (named(**{f"f{i}": 1 for i in range(1001)}), "features: "),
        (named(), "features: {} should be non-empty"),
    ],
)
def test_named_features_follow_the_same_rules_and_the_message_names_the_feature(body, message):
    assert message in rejection(body)["message"]


def test_the_seeds_reading_and_a_batch_are_valid():
    assert validate_request(load_event("reading.json"))["sensor"] == "sensor-1"
    assert len(validate_request(load_event("batch.json"))["readings"]) == 3


@pytest.mark.parametrize(
    ("change", "field_named"),
    [
        ({"sensor": ""}, "sensor"),
        ({"sensor": "a" * 129}, "sensor"),
        ({"sensor": "../etc/passwd"}, "sensor"),
        ({"sensor": 'x"y'}, "sensor"),
        ({"model": "has space"}, "model"),
        ({"timestamp": 1.5}, "timestamp"),
        ({"timestamp": "1700000000000"}, "timestamp"),
        ({"timestamp": 946_684_799_999}, "timestamp"),
        ({"timestamp": 4_102_444_800_000}, "timestamp"),
        ({"data": []}, "data"),
        ({"data": [1] * 1001}, "data"),
        ({"data": [1, "2", 3]}, "data[1]"),
        ({"data": [True, 2, 3]}, "data[0]"),
        ({"data": [1, None]}, "data[1]"),
        ({"data": [[1], 2]}, "data[0]"),
        ({"event_id": ""}, "event_id"),
        ({"extra": 1}, "body"),
    ],
)
def test_each_rule_is_enforced_and_the_message_names_the_field(change, field_named):
    body = {**load_event("reading.json"), **change}

    answer = rejection(body)

    assert answer["message"].startswith(field_named + ":")


@pytest.mark.parametrize("missing", ["sensor", "model", "timestamp", "data"])
def test_a_missing_field_is_named(missing):
    body = load_event("reading.json")
    del body[missing]

    assert missing in rejection(body)["message"]


def test_the_timestamp_bounds_are_inclusive_below_and_exclusive_above():
    body = load_event("reading.json")
    assert validate_request({**body, "timestamp": 946_684_800_000})
    assert validate_request({**body, "timestamp": 4_102_444_799_999})


def test_a_batch_holds_1_to_100_readings():
    one = load_event("batch.json")["readings"][0]
    assert rejection({"model": "m", "readings": []})["message"].startswith("readings:")
    assert rejection({"model": "m", "readings": [one] * 101})["message"].startswith("readings:")
    assert validate_request({"model": "m", "readings": [one] * 100})


def test_a_batch_reading_cannot_name_its_own_model():
    one = {**load_event("batch.json")["readings"][0], "model": "other"}

    assert rejection({"model": "m", "readings": [one]})["message"].startswith("readings[0]:")


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_a_body_that_is_not_an_object_is_refused(body):
    assert rejection(body)["message"] == "body must be a JSON object"


@pytest.mark.parametrize("raw", [b"NaN", b'{"data": [Infinity]}', b'{"data": [-Infinity]}', b"{", b"", b"\xff\xfe"])
def test_parse_body_refuses_what_is_not_strict_json(raw):
    with pytest.raises(RequestRejected) as caught:
        parse_body(raw)
    assert caught.value.answer.status == 400


def test_parse_body_refuses_deep_nesting_with_400():
    with pytest.raises(RequestRejected) as caught:
        parse_body(b"[" * 100_000 + b"]" * 100_000)
    assert caught.value.answer.status == 400


def test_parse_body_refuses_a_body_over_the_workflow_input_quota_with_413():
    with pytest.raises(RequestRejected) as caught:
        parse_body(b" " * (MAX_BODY_BYTES + 1))
    assert caught.value.answer.status == 413
    assert caught.value.answer.body["error"] == "PayloadTooLarge"


def test_a_succeeded_execution_answers_200_with_its_output():
    answer = answer_from_execution("SUCCEEDED", '{"prediction": 1}', None)
    assert (answer.status, answer.body) == (200, {"prediction": 1})


@pytest.mark.parametrize("status", [400, 404, 409, 429, 503])
def test_a_failed_execution_answers_with_the_status_its_cause_carries(status):
    cause = json.dumps({"status": status, "error": "E", "message": "m"}, separators=(",", ":"))

    answer = answer_from_execution("FAILED", None, cause)

    assert answer.status == status
    assert answer.body == {"status": status, "error": "E", "message": "m"}


@pytest.mark.parametrize(("status", "cause"), [("TIMED_OUT", None), ("FAILED", "States.Runtime: oops")])
def test_any_other_outcome_is_a_503_never_a_500(status, cause):
    answer = answer_from_execution(status, None, cause)
    assert answer.status == 503
    assert status in answer.body["message"]
