"""The latency tier (LatencyTier Enabled): the template's POST /predictions goes to the
PredictFunction (functions/predict), run in process on the embedded AWS as `nrt up
--latency-tier` runs it. A model on the Lambda tier is scored in memory and stored as the
workflow stores it; every other request is the workflow's, answered as before."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from functions.predict import adapters
from functions.predict.adapters import lambda_key
from nrt.apigateway.executions import Executions
from nrt.apigateway.rest_api import Reply, RestApi
from nrt.apigateway.server import make_api
from nrt.emulator.server import EmbeddedAws, local_model_bucket
from nrt.ops import cache
from nrt.ops.deploy import set_tier
from nrt.state.store import Store
from tests.helpers.model_hosts import FakeModelHost
from tests.workflow.test_any_model import served
from tests.workflow.test_inference_workflow import failures_for, stored
from tests.workflow.test_stream import Leg, rows_for
from training import inference
from training.package import package

_ts = itertools.count(1_760_000_000_000, 1000)
# What differs between two readings of the same features: their key, and when they were scored.
PER_READING = ("sensor", "timestamp_endpoint", "timestamp", "event_id", "reading", "predicted_at")


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A breast-cancer classifier fitted on a DataFrame, saved as nrt saves a model, and its archive."""
    folder = tmp_path_factory.mktemp("cancer")
    data = load_breast_cancer(as_frame=True)
    x = data.data.rename(columns=lambda c: c.replace(" ", "_"))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, data.target)
    joblib.dump(model, folder / inference.ARTIFACT)
    signature = inference.derive_signature(model)
    (folder / inference.SIGNATURE).write_text(signature.to_json())
    package(folder, folder / "model.tar.gz")
    return folder, x


@pytest.fixture
def api(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> RestApi:
    """The template's API with LatencyTier Enabled; a tier switch applies at the next request."""
    monkeypatch.setattr(adapters, "TIER_SECONDS", 0.0)
    monkeypatch.setitem(aws.ctx.parameters, "LatencyTier", "Enabled")
    return make_api(Executions(aws, async_workers=0))


@pytest.fixture
def cancer_model(
    aws: EmbeddedAws, model_host: Callable[..., FakeModelHost], cancer: tuple[Path, pd.DataFrame]
) -> Iterator[tuple[str, FakeModelHost]]:
    """The model `cancer-<n>` deployed (its endpoint served by the real serving code) and on the Lambda tier."""
    folder, _ = cancer
    name = f"cancer-{next(_ts) % 100_000}"
    host = model_host(name, served(inference.model_fn(str(folder))))
    endpoint = f"{aws.prefix}{name}"
    set_tier(aws.client("s3"), local_model_bucket(aws.ctx), endpoint, "lambda", folder / "model.tar.gz", print)
    yield name, host
    set_tier(aws.client("s3"), local_model_bucket(aws.ctx), endpoint, "endpoint", None, print)


def post(api: RestApi, body: Any) -> Reply:
    text = body if isinstance(body, str) else json.dumps(body)
    return api.handle("POST", "/predictions", {"content-type": "application/json"}, text.encode())


def features(x: pd.DataFrame, row: int) -> dict[str, float]:
    return {k: float(v) for k, v in x.iloc[row].items()}


def without(item: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
    assert item is not None
    return {k: v for k, v in item.items() if k not in keys}


def test_given_a_model_on_the_lambda_tier_when_a_reading_is_posted_then_it_is_answered_without_its_endpoint_and_stored_as_the_workflow_stores_it(  # noqa: E501
    aws, api, cancer, cancer_model
):
    _, x = cancer
    name, host = cancer_model
    endpoint = f"{aws.prefix}{name}"
    on_lambda = {"sensor": "tier-lambda", "model": name, "timestamp": next(_ts), "features": features(x, 3)}

    answer = post(api, on_lambda)

    assert answer.status == 200, answer.body
    assert host.requests == []  # no InvokeEndpoint: the endpoint's host was never called
    assert answer.json()["endpoint"] == endpoint and answer.json()["duplicate"] is False
    set_tier(aws.client("s3"), local_model_bucket(aws.ctx), endpoint, "endpoint", None, print)
    on_endpoint = {**on_lambda, "sensor": "tier-endpoint", "timestamp": next(_ts)}
    by_workflow = post(api, on_endpoint)
    assert by_workflow.status == 200 and len(host.requests) == 1
    # The same answer, and the same item but for what is the reading's own.
    drop = ("event_id", "sensor", "timestamp")
    assert without(answer.json(), drop) == without(by_workflow.json(), drop)
    lambda_item = stored(aws, "tier-lambda", on_lambda["timestamp"], endpoint)
    workflow_item = stored(aws, "tier-endpoint", on_endpoint["timestamp"], endpoint)
    assert without(lambda_item, PER_READING) == without(workflow_item, PER_READING)
    assert set(lambda_item) == set(workflow_item)  # type: ignore[arg-type]
    assert json.loads(lambda_item["reading"]["S"]) == on_lambda  # type: ignore[index]
    assert lambda_item["event_id"] == {"S": f"tier-lambda:{on_lambda['timestamp']}"}  # type: ignore[index]


def test_given_an_event_id_when_claimed_on_the_lambda_tier_then_its_claim_expires_when_the_workflows_does(
    aws, api, cancer, cancer_model
):
    _, x = cancer
    name, _ = cancer_model
    endpoint = f"{aws.prefix}{name}"
    lam = {"sensor": "claim-l", "model": name, "timestamp": next(_ts), "features": features(x, 1), "event_id": "l-1"}
    assert post(api, lam).status == 200
    set_tier(aws.client("s3"), local_model_bucket(aws.ctx), endpoint, "endpoint", None, print)
    flow = {**lam, "sensor": "claim-w", "timestamp": next(_ts), "event_id": "w-1"}
    assert post(api, flow).status == 200

    ids = aws.client("dynamodb")
    table = aws.ctx.refs["EventIdsTable"]
    claims = [ids.get_item(TableName=table, Key={"event_id": {"S": e}})["Item"] for e in ("l-1", "w-1")]
    assert claims[0]["expires_at"] == claims[1]["expires_at"]
    assert claims[0]["timestamp_endpoint"] == {"S": f"{lam['timestamp']}#{endpoint}"}


def test_given_the_lambda_tier_when_a_reading_is_resent_then_the_stored_answer_is_given_again_and_another_reading_is_a_conflict(  # noqa: E501
    aws, api, cancer, cancer_model
):
    _, x = cancer
    name, _ = cancer_model
    body = {"sensor": "resend-1", "model": name, "timestamp": next(_ts), "features": features(x, 7)}

    first, again = post(api, body), post(api, body)
    other = post(api, {**body, "features": features(x, 8)})
    reused = post(api, {**body, "timestamp": next(_ts), "event_id": "taken", "features": features(x, 9)})
    taken = post(api, {**body, "sensor": "resend-2", "event_id": "taken"})

    assert (first.status, again.status) == (200, 200)
    assert again.json() == {**first.json(), "duplicate": True}
    assert other.status == 409 and "for other data" in other.json()["message"]
    assert reused.status == 200
    assert taken.status == 409 and taken.json()["message"] == "event_id taken already names another reading or model"


def test_given_the_lambda_tier_when_the_model_refuses_a_reading_then_it_is_a_400_naming_the_feature_and_recorded(
    aws, api, cancer, cancer_model
):
    _, x = cancer
    name, host = cancer_model
    refused = {**features(x, 0), "mean_radius": "large"}
    body = {"sensor": "refused-1", "model": name, "timestamp": next(_ts), "features": refused}

    answer = post(api, body)

    assert answer.status == 400
    assert answer.json()["feature"] == "mean_radius" and answer.json()["error"] == "InvalidReading"
    assert host.requests == []
    [failure] = [f for f in failures_for(aws, name) if json.loads(f["request"]["S"]) == body]
    assert failure["status"] == {"N": "400"} and failure["feature"] == {"S": '"mean_radius"'}
    assert failure["failure_id"]["S"].endswith(":0")


def test_given_the_lambda_tier_when_a_batch_holds_a_refused_reading_then_the_others_are_scored_and_stored(
    aws, api, cancer, cancer_model
):
    _, x = cancer
    name, host = cancer_model
    readings = [{"sensor": "batch-l", "timestamp": next(_ts), "features": features(x, i)} for i in range(5)]
    readings[2]["features"] = {**readings[2]["features"], "mean_area": None}

    answer = post(api, {"model": name, "readings": readings})

    assert answer.status == 200 and host.requests == []
    results = answer.json()["results"]
    assert answer.json()["count"] == 5
    assert [r.get("status") for r in results] == [None, None, 400, None, None]
    assert results[2]["feature"] == "mean_area"
    endpoint = f"{aws.prefix}{name}"
    assert all(stored(aws, "batch-l", r["timestamp"], endpoint) for i, r in enumerate(readings) if i != 2)


def test_given_the_lambda_tier_when_predictions_are_stored_then_they_reach_the_lake(
    aws, api, store: Store, cancer, cancer_model, tmp_path
):
    _, x = cancer
    name, _ = cancer_model
    leg = Leg(aws, store, tmp_path / "lake")
    body = {"sensor": "lake-tier-1", "model": name, "timestamp": next(_ts), "features": features(x, 11)}

    assert post(api, body).status == 200
    leg.pump()

    [row] = rows_for(tmp_path / "lake", "lake-tier-1")
    assert (row["model"], row["ts"], row["change_type"]) == (name, body["timestamp"], "INSERT")
    assert json.loads(row["input"]) == body["features"]


def test_given_the_latency_tier_when_a_model_is_on_the_endpoint_tier_then_the_workflow_answers_as_without_the_tier(
    aws, api, model_host
):
    host = model_host("flow-only")
    plain = make_api(Executions(aws, async_workers=0))
    reading = {"sensor": "flow-1", "model": "flow-only", "timestamp": next(_ts), "data": [12, 87, 20]}

    through_function = post(api, reading)
    calls = len(host.requests)
    unknown = [post(a, {**reading, "model": "no-such-model"}) for a in (api, plain)]
    invalid = [post(a, {**reading, "timestamp": 5}) for a in (api, plain)]
    too_large = [post(a, {**reading, "data": [1.0] * 14_000}) for a in (api, plain)]

    assert through_function.status == 200 and calls == 1
    assert through_function.json()["endpoint"] == f"{aws.prefix}flow-only"
    for enabled, disabled in (unknown, invalid, too_large):
        assert (enabled.status, enabled.json()) == (disabled.status, disabled.json())
    assert [unknown[0].status, invalid[0].status, too_large[0].status] == [404, 400, 413]


def test_given_a_model_deployed_with_tier_lambda_when_deployed_again_with_tier_endpoint_then_the_listing_and_the_path_follow(  # noqa: E501
    aws, api, cancer
):
    from nrt.ops.deploy import Serverless, deploy_model
    from nrt.ops.target import local_target

    folder, x = cancer
    name = "switch-tier"
    target = local_target(aws.ctx, aws.prefix)
    sm, s3 = aws.client("sagemaker"), aws.client("s3")
    endpoint = f"{aws.prefix}{name}"

    def deploy(tier: str) -> None:
        deploy_model(sm, s3, name, folder, target, Serverless(), "local", lambda _: None, False, 0.1, tier)  # type: ignore[arg-type]

    def listed() -> str:
        reply = api.handle("GET", "/models", {}, b"")
        return next(str(m["tier"]) for m in reply.json()["models"] if m["model"] == name)

    deploy("lambda")
    on_lambda = post(api, {"sensor": "sw-1", "model": name, "timestamp": next(_ts), "features": features(x, 2)})
    assert (on_lambda.status, listed()) == (200, "lambda")
    assert s3.head_object(Bucket=target.bucket, Key=lambda_key(endpoint))["ContentLength"] > 0

    deploy("endpoint")
    assert listed() == "endpoint"
    assert s3.list_objects_v2(Bucket=target.bucket, Prefix=lambda_key(endpoint)).get("KeyCount") == 0


def test_given_the_cache_on_for_a_lambda_tier_model_when_the_same_features_come_again_then_the_held_model_is_not_called_and_the_item_says_cached(  # noqa: E501
    aws, api, cancer, cancer_model, monkeypatch
):
    folder, x = cancer
    name, host = cancer_model
    endpoint = f"{aws.prefix}{name}"
    calls: list[str] = []
    scorer = adapters.HeldScorer.__call__
    monkeypatch.setattr(adapters.HeldScorer, "__call__", lambda self, body: calls.append(body) or scorer(self, body))
    # GIVEN the cache on for 60 s, as nrt deploy-model --tier lambda --cache 60 leaves it
    cache.enable(aws.client("dynamodb"), aws.ctx.refs["CacheTable"], endpoint, f"{endpoint}-v1", 60)
    reading = {"sensor": "tier-cache", "model": name, "features": features(x, 7)}

    # WHEN the same features come twice (a retried checkout: another timestamp)
    first = post(api, {**reading, "timestamp": next(_ts)})
    again = {**reading, "timestamp": next(_ts)}
    second = post(api, again)

    # THEN the second is answered from the cache: the same prediction, no model call, stored as cached
    assert (first.status, second.status) == (200, 200), second.body
    assert (first.json()["cached"], second.json()["cached"]) == (False, True)
    assert second.json()["prediction"] == first.json()["prediction"]
    assert len(calls) == 1 and host.requests == []
    assert stored(aws, "tier-cache", again["timestamp"], endpoint)["cached"] == {"BOOL": True}  # type: ignore[index]

    # WHEN a new artifact is put on the Lambda tier (another model version), the old answers are not its
    set_tier(aws.client("s3"), local_model_bucket(aws.ctx), endpoint, "lambda", retrained(folder), print)
    third = post(api, {**reading, "timestamp": next(_ts)})
    assert third.json()["cached"] is False and len(calls) == 2

    # WHEN the cache is turned off, every reading is scored
    cache.enable(aws.client("dynamodb"), aws.ctx.refs["CacheTable"], endpoint, f"{endpoint}-v1", 0)
    fourth = post(api, {**reading, "timestamp": next(_ts)})
    assert fourth.json()["cached"] is False and len(calls) == 3


def retrained(folder: Path) -> Path:
    """Another archive of a model like the one in folder: another artifact version on the tier."""
    other = folder.parent / f"{folder.name}-retrained"
    other.mkdir(exist_ok=True)
    joblib.dump(joblib.load(folder / inference.ARTIFACT), other / inference.ARTIFACT, compress=3)  # other bytes
    (other / inference.SIGNATURE).write_bytes((folder / inference.SIGNATURE).read_bytes())
    return package(other, other / "model.tar.gz")
