"""functions/firehose_transform on real-shaped Firehose events (tests/events/firehose_*.json)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from functions.firehose_transform import app
from nrt.lake.firehose import LambdaContext, transform_environment
from nrt.lake.parquet import table_spec
from tests.helpers import load_event


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


@pytest.mark.parametrize(("stored", "column"), [({"BOOL": True}, True), ({"BOOL": False}, False), (None, False)])
def test_the_cached_marker_of_a_stored_prediction_is_the_lakes_cached_column(stored, column):
    image = {"sensor": {"S": "s"}, "timestamp": {"N": "1"}, **({"cached": stored} if stored else {})}

    row = app.to_row({"eventName": "INSERT", "dynamodb": {"Keys": {}, "NewImage": image}}, 1)

    assert row["cached"] is column


def test_a_cached_marker_that_is_not_a_boolean_is_a_malformed_change():
    image = {"sensor": {"S": "s"}, "timestamp": {"N": "1"}, "cached": {"S": "yes"}}

    with pytest.raises(app.MalformedChange, match="cached is not a boolean"):
        app.to_row({"eventName": "INSERT", "dynamodb": {"Keys": {}, "NewImage": image}}, 1)


def test_given_inserts_of_every_kind_when_transformed_then_each_row_has_the_glue_columns_typed_for_its_kind():
    binary, multiclass, regression = (row(r) for r in invoke("firehose_insert.json"))

    spec = table_spec()
    # Each column's JSON key: the Glue column ts reads the record's timestamp (a Hive keyword).
    assert list(binary) == [spec.json_keys.get(c, c) for c in spec.column_names]
    assert spec.json_keys == {"ts": "timestamp"}
    common = {
        "event_id": "pump-7:1795342530000",
        "sensor": "pump-7",
        "timestamp": 1795342530000,
        "predicted_at": "2026-11-22T10:15:30.123Z",
        "cached": False,  # the marker is written on a cache hit only
        "change_type": "INSERT",
        "changed_at": 1795342530125,
        "ingested_at": 1795342530410,
        "prediction": None,
        "features": None,
    }
    assert binary == {
        **common,
        "model": "failure",
        "endpoint": "nrt-failure",
        "kind": "binary",
        "label": "1",
        "value": None,
        "probability": 0.9731,
        "probabilities": {"0": 0.0269, "1": 0.9731},
        "input": "[12,87,20]",
        "dedup_key": binary["dedup_key"],
    }
    assert (multiclass["kind"], multiclass["label"], multiclass["probability"]) == ("multiclass", "Adelie", 0.81)
    assert multiclass["probabilities"] == {"Adelie": 0.81, "Chinstrap": 0.12, "Gentoo": 0.07}
    assert json.loads(multiclass["input"]) == {"bill_length_mm": 39.1, "island": "Torgersen", "sex": None}
    assert (regression["kind"], regression["label"], regression["value"]) == ("regression", None, 1234.5)
    assert regression["probability"] is None and regression["probabilities"] is None
    assert len({binary["dedup_key"], multiclass["dedup_key"], regression["dedup_key"]}) == 3


def test_given_an_item_written_before_models_of_every_kind_then_it_reads_as_a_binary_label():
    (result,) = invoke("firehose_insert_legacy.json")

    got = row(result)

    assert (got["kind"], got["label"], got["value"], got["probability"]) == ("binary", "1", None, 0.9731)
    assert (got["input"], got["prediction"], got["features"]) == ("[12,87,20]", None, None)


def test_given_a_modify_when_transformed_then_the_row_carries_the_new_image():
    (result,) = invoke("firehose_modify.json")

    got = row(result)

    assert (got["change_type"], got["label"], got["probability"]) == ("MODIFY", "0", 0.0412)


def test_given_removes_with_and_without_an_old_image_when_transformed_then_neither_fails_the_batch():
    with_old, keys_only = invoke("firehose_remove.json")

    old = row(with_old)
    bare = row(keys_only)

    assert (old["change_type"], old["sensor"], old["model"]) == ("REMOVE", "pump-7", "failure")
    assert (bare["change_type"], bare["sensor"], bare["timestamp"]) == ("REMOVE", "pump-8", 1795342531000)
    assert bare["model"] is None and bare["label"] is None and bare["input"] is None


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
    insert = row(invoke("firehose_insert_legacy.json")[0])
    modify = row(invoke("firehose_modify.json")[0])

    assert insert["dedup_key"] != modify["dedup_key"]


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ({"sensor": {"S": "s"}}, "missing timestamp"),
        ({"sensor": {"S": "s"}, "timestamp": {"S": "soon"}}, "timestamp is not int"),
        ({"sensor": {"S": "s"}, "timestamp": {"N": "1"}, "kind": {"S": "ranking"}}, "unknown kind"),
        (
            {"sensor": {"S": "s"}, "timestamp": {"N": "1"}, "kind": {"S": "regression"}, "prediction": {"S": '"x"'}},
            "not a number",
        ),
        (
            {"sensor": {"S": "s"}, "timestamp": {"N": "1"}, "kind": {"S": "binary"}, "prediction": {"S": "{"}},
            "not JSON",
        ),
        (
            {"sensor": {"S": "s"}, "timestamp": {"N": "1"}, "kind": {"S": "binary"}, "prediction": {"S": "true"}},
            "label",
        ),
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
