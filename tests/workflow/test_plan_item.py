"""The capacity plan prices the item the real workflow stores: the same attributes, the same
DynamoDB size (and so the same write units), the same change record on the stream."""

from __future__ import annotations

import json
from typing import Any

from nrt import emulator
from nrt.emulator.server import EmbeddedAws
from nrt.ops.plan.facts import facts
from nrt.ops.plan.records import MODEL, PREDICTION, item_bytes, prediction_item, sample_reading


def scores_as_the_plan_assumes(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"predictions": [PREDICTION for _ in request["instances"]]}


def test_given_a_reading_of_30_features_when_stored_then_the_plans_item_is_the_stored_items_size(
    aws: EmbeddedAws, model_host
):
    model_host(MODEL, scores_as_the_plan_assumes)
    body = sample_reading(30)

    result = emulator.start_sync_execution(
        aws.state_machine_arn, json.dumps(body), account=aws.ctx.account, region=aws.ctx.region
    )
    assert result["status"] == "SUCCEEDED", result
    item = aws.client("dynamodb").get_item(
        TableName=aws.ctx.refs["PredictionsTable"],
        Key={"sensor": {"S": body["sensor"]}, "timestamp_endpoint": {"S": f"{body['timestamp']}#nrt-{MODEL}"}},
    )["Item"]

    planned = prediction_item(facts().prediction_attributes, 30)
    assert set(planned) == set(item)
    # predicted_at is the execution's start time: the same length, another instant.
    assert {k: v for k, v in planned.items() if k != "predicted_at"} == {
        k: v for k, v in item.items() if k != "predicted_at"
    }
    assert item_bytes(planned) == item_bytes(item)
