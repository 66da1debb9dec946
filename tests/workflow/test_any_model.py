"""The real inference.asl.json with real models of every kind, served by the real serving code
(training/inference.py's transform_fn) behind a model host: named and positional readings,
single and batched, refusals, and several models on one reading."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from nrt.ops.failures import from_item
from tests.helpers.model_hosts import Behaviour
from tests.workflow.test_inference_workflow import failures_for, run, stored
from training import inference
from training.examples import shop_csv, wine_csv
from training.train import Recipe, train

_ts = itertools.count(1_750_000_000_000, 1000)


def served(model: inference.Model) -> Behaviour:
    """A model host's answers: exactly what the container's transform_fn answers."""

    def behaviour(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        reply = inference.transform_fn(model, json.dumps(request), "application/json", "application/json")
        return reply.status, json.loads(reply.body)

    return behaviour


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, inference.Model]:
    folder: Path = tmp_path_factory.mktemp("kinds")
    recipes = {
        "wine": Recipe(str(wine_csv(folder)), "cultivar", None, "multiclass"),
        "spend": Recipe(str(shop_csv(folder, "spend")), "spend", None, "regression"),
        "big": Recipe(str(shop_csv(folder, "big")), "big", None, "binary"),
    }
    for name, recipe in recipes.items():
        train(folder / name, recipe)
    return {name: inference.model_fn(str(folder / name)) for name in recipes}


def named(model: str, features: dict[str, Any], sensor: str = "kinds-1") -> dict[str, Any]:
    return {"sensor": sensor, "model": model, "timestamp": next(_ts), "features": features}


def test_a_multiclass_reading_answers_its_label_and_every_labels_probability_and_stores_them(
    aws, model_host, models, tmp_path
):
    model_host("wine-a", served(models["wine"]))
    row = pd.read_csv(wine_csv(tmp_path)).iloc[0]
    body = named("wine-a", {k: float(v) for k, v in row.drop("cultivar").items()})

    answer = run(aws, body)

    assert answer.status == 200
    assert (answer.body["kind"], answer.body["prediction"]) == ("multiclass", row["cultivar"])
    assert set(answer.body["probabilities"]) == {"class_0", "class_1", "class_2"}
    item = stored(aws, body["sensor"], body["timestamp"], "nrt-wine-a")
    assert item is not None
    assert json.loads(item["prediction"]["S"]) == row["cultivar"]
    assert json.loads(item["reading"]["S"])["features"] == body["features"]


def test_a_regression_reading_with_text_and_missing_values_answers_a_number_and_a_resend_answers_it_again(
    aws, model_host, models
):
    model_host("spend-a", served(models["spend"]))
    body = named("spend-a", {"channel": "store", "basket": None, "member": "yes"})

    first = run(aws, body)
    again = run(aws, body)

    assert first.status == again.status == 200
    assert first.body["kind"] == "regression" and isinstance(first.body["prediction"], float)
    assert first.body["probability"] is None and first.body["probabilities"] is None
    assert again.body["duplicate"] is True
    assert again.body["prediction"] == first.body["prediction"]
    assert again.body["probability"] is None and again.body["kind"] == "regression"


def test_a_batch_of_named_readings_is_scored_in_one_call_and_each_stored(aws, model_host, models):
    host = model_host("big-a", served(models["big"]))
    readings = [
        {"sensor": f"big-{i}", "timestamp": next(_ts), "features": {"channel": c, "basket": b, "member": m}}
        for i, (c, b, m) in enumerate([("store", 11, "yes"), ("app", 1, "no"), (None, 5, "no")])
    ]

    answer = run(aws, {"model": "big-a", "readings": readings})

    assert answer.status == 200
    assert len(host.requests) == 1
    assert [r["prediction"] for r in answer.body["results"][:2]] == ["yes", "no"]
    assert all(set(r["probabilities"]) == {"no", "yes"} for r in answer.body["results"])
    assert all(stored(aws, r["sensor"], r["timestamp"], "nrt-big-a") for r in readings)


def test_batches_of_multiclass_and_regression_readings_are_answered_each_in_their_kinds_form(
    aws, model_host, models, tmp_path
):
    model_host("wine-batch", served(models["wine"]))
    model_host("spend-batch", served(models["spend"]))
    wine = pd.read_csv(wine_csv(tmp_path)).head(5)
    wine_readings = [
        {"sensor": f"cellar-{i}", "timestamp": next(_ts), "data": [float(v) for v in row.drop("cultivar")]}
        for i, (_, row) in enumerate(wine.iterrows())
    ]
    spend_readings = [
        {"sensor": f"till-{i}", "timestamp": next(_ts), "features": {"channel": c, "basket": b, "member": "no"}}
        for i, (c, b) in enumerate([("app", 1), ("store", 9), (None, None)])
    ]

    labels = run(aws, {"model": "wine-batch", "readings": wine_readings})
    values = run(aws, {"model": "spend-batch", "readings": spend_readings})

    assert (labels.status, values.status) == (200, 200)
    assert [r["prediction"] for r in labels.body["results"]] == list(wine["cultivar"])
    assert {r["kind"] for r in labels.body["results"]} == {"multiclass"}
    low, high, unknown = (r["prediction"] for r in values.body["results"])
    assert low < high and isinstance(unknown, float)
    assert all(r["probabilities"] is None for r in values.body["results"])


@pytest.mark.parametrize(
    ("features", "message", "feature"),
    [
        ({"channel": "mall", "basket": 1, "member": "no"}, "'mall' is not a known category", "channel"),
        ({"channel": "web", "basket": "one", "member": "no"}, "feature 'basket' must be a number", "basket"),
        ({"channel": "web", "member": "no"}, "feature 'basket' is missing", "basket"),
        ({"channel": "web", "basket": 1, "member": "no", "coupon": "x"}, "unknown feature 'coupon'", "coupon"),
    ],
)
def test_a_reading_that_does_not_fit_the_models_signature_is_a_400_recorded_as_not_replayable(
    aws, model_host, models, features, message, feature
):
    model = f"spend-{abs(hash(message)) % 10_000}"
    model_host(model, served(models["spend"]))

    answer = run(aws, named(model, features))

    assert answer.status == 400
    assert answer.body["error"] == "InvalidReading"
    assert message in answer.body["message"].replace('"', "'")
    assert answer.body["feature"] == feature  # the structured field a producer can act on
    [failure] = failures_for(aws, model)
    assert failure["status"] == {"N": "400"}
    assert not from_item(failure).replayable
    assert from_item(failure).feature == answer.body["feature"]


def test_positional_data_for_a_model_of_named_features_is_scored_in_the_signatures_order(aws, model_host, models):
    model_host("spend-b", served(models["spend"]))

    answer = run(aws, {"sensor": "pos-1", "model": "spend-b", "timestamp": next(_ts), "data": [3, 2]})

    assert answer.status == 400
    assert "has 2 features; this model expects 3 (channel, basket, member)" in answer.body["message"]


def test_the_same_reading_scored_by_two_models_is_stored_once_per_model(aws, model_host, models):
    model_host("spend-c", served(models["spend"]))
    model_host("big-c", served(models["big"]))
    features = {"channel": "web", "basket": 4, "member": "no"}
    reading = named("spend-c", features, sensor="both-1")

    by_spend = run(aws, reading)
    by_big = run(aws, {**reading, "model": "big-c"})
    resent = run(aws, {**reading, "model": "big-c"})

    assert (by_spend.status, by_big.status, resent.status) == (200, 200, 200)
    assert (by_spend.body["kind"], by_big.body["kind"]) == ("regression", "binary")
    assert resent.body["duplicate"] is True and resent.body["prediction"] == by_big.body["prediction"]
    assert stored(aws, "both-1", reading["timestamp"], "nrt-spend-c") is not None
    assert stored(aws, "both-1", reading["timestamp"], "nrt-big-c") is not None


def test_a_conflicting_event_is_still_a_409_for_the_same_model(aws, model_host, models):
    model_host("big-d", served(models["big"]))
    reading = {**named("big-d", {"channel": "web", "basket": 4, "member": "no"}), "event_id": "one"}
    assert run(aws, reading).status == 200

    answer = run(aws, {**reading, "event_id": "two"})

    assert answer.status == 409
    assert "by nrt-big-d" in answer.body["message"]
