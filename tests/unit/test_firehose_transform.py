"""functions/firehose_transform on real-shaped Firehose events (tests/events/firehose_*.json)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from functions.firehose_transform import app
from nrt.lake import table_spec
from nrt.stream import LambdaContext, transform_environment
from tests.conftest import load_event


def test_the_function_runs_with_the_environment_the_template_gives_it():
    assert transform_environment() == {
        "POWERTOOLS_SERVICE_NAME": "firehose_transform",
        "POWERTOOLS_METRICS_NAMESPACE": "nrt-inference",
    }


def invoke(name: str) -> list[dict[str, Any]]:
    event = load_event(name)
    answer = app.handler(event, LambdaContext())
    assert [r["recordId"] for r in answer["records"]] == [r["recordId"] for r in event["records"]]
    return list(answer["records"])


def row(result: dict[str, Any]) -> dict[str, Any]:
    assert result["result"] == "Ok", result
    data = base64.b64decode(result["data"])
    assert data.endswith(b"\n")
    decoded: dict[str, Any] = json.loads(data)
    return decoded


def test_given_an_insert_when_transformed_then_the_row_has_exactly_the_glue_columns_with_their_values():
    (result,) = invoke("firehose_insert.json")

    got = row(result)

    assert list(got) == table_spec().column_names
    assert got == {
        "event_id": "pump-7:1795342530000",
        "sensor": "pump-7",
        "timestamp": 1795342530000,
        "model": "failure",
        "endpoint": "nrt-failure",
        "prediction": 1,
        "probability": 0.9731,
        "features": [12.0, 87.0, 20.0],
        "predicted_at": "2026-11-22T10:15:30.123Z",
        "change_type": "INSERT",
        "changed_at": 1795342530125,
        "ingested_at": 1795342530410,
        "dedup_key": got["dedup_key"],
    }
    assert len(got["dedup_key"]) == 64


def test_given_a_modify_when_transformed_then_the_row_carries_the_new_image():
    (result,) = invoke("firehose_modify.json")

    got = row(result)

    assert (got["change_type"], got["prediction"], got["probability"]) == ("MODIFY", 0, 0.0412)


def test_given_removes_with_and_without_an_old_image_when_transformed_then_neither_fails_the_batch():
    with_old, keys_only = invoke("firehose_remove.json")

    old = row(with_old)
    bare = row(keys_only)

    assert (old["change_type"], old["sensor"], old["model"]) == ("REMOVE", "pump-7", "failure")
    assert (bare["change_type"], bare["sensor"], bare["timestamp"]) == ("REMOVE", "pump-8", 1795342531000)
    assert bare["model"] is None and bare["prediction"] is None and bare["features"] is None


def test_given_malformed_records_when_transformed_then_each_fails_alone_and_keeps_its_data():
    event = load_event("firehose_malformed.json")
    results = invoke("firehose_malformed.json")

    assert [r["result"] for r in results] == ["Ok", "ProcessingFailed", "ProcessingFailed", "ProcessingFailed"]
    for sent, result in zip(event["records"][1:], results[1:], strict=True):
        assert result["data"] == sent["data"]


def test_given_the_same_change_delivered_twice_when_transformed_then_both_rows_share_one_dedup_key():
    first, second = invoke("firehose_duplicate.json")

    assert row(first)["dedup_key"] == row(second)["dedup_key"]


def test_a_different_change_to_the_same_item_gets_another_dedup_key():
    insert = row(invoke("firehose_insert.json")[0])
    modify = row(invoke("firehose_modify.json")[0])

    assert insert["dedup_key"] != modify["dedup_key"]


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ({"sensor": {"S": "s"}}, "missing timestamp"),
        ({"sensor": {"S": "s"}, "timestamp": {"S": "soon"}}, "timestamp is not int"),
        ({"sensor": {"S": "s"}, "timestamp": {"N": "1"}, "features": {"S": "[1, true]"}}, "features"),
        ({"sensor": {"S": "s"}, "timestamp": {"N": "1"}, "probability": {"N": "NaN"}}, "finite"),
        ({"sensor": {"S": "s"}, "timestamp": {"N": "1"}, "model": {"X": "?"}}, "unsupported attribute type"),
    ],
)
def test_a_change_whose_item_is_not_a_prediction_is_malformed(image, problem):
    change = {"eventName": "INSERT", "dynamodb": {"Keys": {}, "NewImage": image}}

    with pytest.raises(app.MalformedChange, match=problem):
        app.to_row(change, 0)


def test_attribute_values_become_plain_values():
    assert app.plain({"M": {"a": {"L": [{"N": "1"}, {"N": "2.5"}, {"BOOL": True}, {"NULL": True}]}}}) == {
        "a": [1, 2.5, True, None]
    }
    assert app.plain({"SS": ["b", "a"]}) == ["a", "b"]
