"""The prediction cache on the real statemachine/inference.asl.json (the embedded AWS): opt-in per
model, keyed by the serving version and the features, checked for age by the workflow itself."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from functions.firehose_transform.app import to_row
from nrt.emulator.server import EmbeddedAws
from nrt.ops import cache
from tests.workflow.test_inference_workflow import always_one, reading, run, stored

_features = itertools.count(1000)


def fresh_data() -> list[int]:
    """Features no other test sent: the first request for them is a miss."""
    n = next(_features)
    return [n, n + 75, n + 3]


def turn_on(aws: EmbeddedAws, endpoint: str, seconds: int, version: str | None = None) -> str:
    """The setting nrt deploy-model writes once the endpoint is InService (nrt/ops/cache.py)."""
    serving = version or aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    cache.enable(aws.client("dynamodb"), aws.ctx.refs["CacheTable"], endpoint, serving, seconds)
    return serving


def entries(aws: EmbeddedAws, endpoint: str) -> list[dict[str, Any]]:
    pages = aws.client("dynamodb").get_paginator("scan").paginate(TableName=aws.ctx.refs["CacheTable"])
    return [i for page in pages for i in page["Items"] if i["key"]["S"].startswith(f"entry#{endpoint}#")]


def started_at(monkeypatch: pytest.MonkeyPatch, moment: str) -> None:
    """The execution's StartTime, as the cache's clock reads it."""
    from nrt.emulator import sdk_tasks

    monkeypatch.setattr(sdk_tasks, "iso_timestamp", lambda _: moment)


def test_given_a_model_deployed_without_cache_when_the_same_features_come_twice_then_the_model_answers_both(
    aws, model_host
):
    host = model_host("uncached")
    data = fresh_data()

    first = run(aws, reading("uncached", sensor="u-1", data=data))
    second = run(aws, reading("uncached", sensor="u-2", data=data))

    assert (first.status, second.status) == (200, 200)
    assert (first.body["cached"], second.body["cached"]) == (False, False)
    assert len(host.requests) == 2
    assert entries(aws, "nrt-uncached") == []


def test_given_a_cached_model_when_the_same_features_come_again_then_no_model_call_and_stored_and_streamed_as_cached(
    aws, model_host
):
    host = model_host("cached")
    version = turn_on(aws, "nrt-cached", 300)
    data = fresh_data()
    miss_reading = reading("cached", sensor="c-1", data=data)
    hit_reading = reading("cached", sensor="c-2", data=data)

    miss = run(aws, miss_reading)
    hit = run(aws, hit_reading)

    assert len(host.requests) == 1
    assert (miss.body["cached"], hit.body.get("cached")) == (False, True), hit.body
    assert {k: v for k, v in hit.body.items() if k not in ("event_id", "sensor", "timestamp", "cached")} == {
        k: v for k, v in miss.body.items() if k not in ("event_id", "sensor", "timestamp", "cached")
    }
    [entry] = entries(aws, "nrt-cached")
    assert entry["key"]["S"].startswith(f"entry#nrt-cached#{version}#")
    assert json.loads(entry["reply"]["S"])["predictions"][0]["prediction"] == miss.body["prediction"]
    item = stored(aws, "c-2", hit_reading["timestamp"], "nrt-cached")
    assert item is not None and item["cached"] == {"BOOL": True}
    assert "cached" not in stored(aws, "c-1", miss_reading["timestamp"], "nrt-cached")  # written on a hit only
    # The lake's row, as Firehose's transform makes it from the stream's change record.
    change = {"eventName": "INSERT", "dynamodb": {"Keys": {}, "NewImage": item, "ApproximateCreationDateTime": 1}}
    assert to_row(change, 2)["cached"] is True


def test_given_a_cached_answer_older_than_the_setting_when_sent_again_then_the_model_answers_and_the_entry_is_renewed(
    aws, model_host, monkeypatch
):
    host = model_host("expiring", always_one)
    turn_on(aws, "nrt-expiring", 1)
    data = fresh_data()

    started_at(monkeypatch, "2026-12-05T15:16:46.123Z")
    assert run(aws, reading("expiring", sensor="e-1", data=data)).body["cached"] is False
    within = run(aws, reading("expiring", sensor="e-2", data=data))  # the same second: still fresh
    started_at(monkeypatch, "2026-12-05T15:16:47.001Z")  # one second later: expired
    after = run(aws, reading("expiring", sensor="e-3", data=data))

    assert (within.body["cached"], after.body["cached"]) == (True, False)
    assert len(host.requests) == 2
    [entry] = entries(aws, "nrt-expiring")
    # Seconds since 2026-03-01T00:00:00Z, plus the setting's one.
    assert entry["fresh_until"] == {"N": str((279 * 86400) + 15 * 3600 + 16 * 60 + 47 + 1)}
    # DynamoDB's TTL: never before the entry is stale (the next hour, plus the setting in hundreds of seconds).
    assert entry["expires_at"] == {"N": str(1796486400 + 100)}


def test_a_cached_answer_is_not_served_across_march_first_when_the_clock_starts_a_new_year(
    aws, model_host, monkeypatch
):
    host = model_host("leap", always_one)
    turn_on(aws, "nrt-leap", 3600)
    data = fresh_data()

    started_at(monkeypatch, "2028-02-29T23:59:59.999Z")
    run(aws, reading("leap", sensor="l-1", data=data))
    started_at(monkeypatch, "2028-03-01T00:00:00.000Z")
    after = run(aws, reading("leap", sensor="l-2", data=data))

    assert after.body["cached"] is False
    assert len(host.requests) == 2


def test_given_a_new_model_version_when_the_same_features_come_then_the_new_model_answers_never_the_old_answer(
    aws, model_host
):
    def always_zero(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        zero = {"kind": "binary", "prediction": 0, "probability": 0.1, "probabilities": {"0": 0.9, "1": 0.1}}
        return 200, {"predictions": [zero for _ in request["instances"]]}

    old = model_host("versioned", always_one)
    turn_on(aws, "nrt-versioned", 300, version="nrt-versioned-v1")
    data = fresh_data()
    assert run(aws, reading("versioned", sensor="v-1", data=data)).body["prediction"] == 1

    # A redeploy: the endpoint serves another model, and the setting names its config.
    new = model_host("versioned-next", always_zero)
    aws.wiring.model_hosts.route("nrt-versioned", new.url)
    turn_on(aws, "nrt-versioned", 300, version="nrt-versioned-v2")
    answer = run(aws, reading("versioned", sensor="v-2", data=data))

    assert (answer.body["prediction"], answer.body["cached"]) == (0, False)
    assert (len(old.requests), len(new.requests)) == (1, 1)
    again = run(aws, reading("versioned", sensor="v-3", data=data))
    assert (again.body["prediction"], again.body["cached"]) == (0, True)  # the new version's own answer
    assert len(new.requests) == 1


def test_given_a_cached_model_when_a_batch_comes_again_then_one_lookup_answers_every_reading(aws, model_host):
    host = model_host("batch-cached")
    turn_on(aws, "nrt-batch-cached", 300)
    rows = [fresh_data() for _ in range(3)]

    def batch(prefix: str, data: list[list[int]]) -> dict[str, Any]:
        readings = [{"sensor": f"{prefix}-{i}", "timestamp": 1_700_000_000_000, "data": d} for i, d in enumerate(data)]
        return {"model": "batch-cached", "readings": readings}

    first, again, other = batch("b1", rows), batch("b2", rows), batch("b3", [*rows[:2], fresh_data()])
    answers = [run(aws, body) for body in (first, again, other)]

    assert [a.status for a in answers] == [200, 200, 200]
    assert [[r["cached"] for r in a.body["results"]] for a in answers] == [[False] * 3, [True] * 3, [False] * 3]
    assert [r["prediction"] for r in answers[1].body["results"]] == [
        r["prediction"] for r in answers[0].body["results"]
    ]
    assert len(host.requests) == 2  # the first batch and the one with other features
    for r in again["readings"]:
        assert stored(aws, r["sensor"], r["timestamp"], "nrt-batch-cached")["cached"] == {"BOOL": True}


def test_given_a_request_too_long_to_hash_when_scored_on_a_cached_model_then_it_is_answered_uncached(aws, model_host):
    host = model_host("wide-cached", always_one)
    turn_on(aws, "nrt-wide-cached", 300)
    readings = [
        {"sensor": f"w-{i}", "timestamp": 1_700_000_000_000 + i, "data": [1.000001 * j for j in range(60)]}
        for i in range(20)
    ]
    assert len(json.dumps([r["data"] for r in readings])) > 10_000  # States.Hash takes at most 10,000 characters

    first = run(aws, {"model": "wide-cached", "readings": readings})
    again = run(aws, {"model": "wide-cached", "readings": [{**r, "sensor": r["sensor"] + "-again"} for r in readings]})

    assert (first.status, again.status) == (200, 200)
    assert all(r["cached"] is False for r in again.body["results"])
    assert len(host.requests) == 2
    assert stored(aws, "w-0-again", 1_700_000_000_000, "nrt-wide-cached") is not None


@pytest.mark.parametrize(
    "setting",
    [
        {"seconds": {"N": "60"}, "hundreds": {"N": "1"}},  # paused: no version while an endpoint switches
        {"seconds": {"S": "60"}, "hundreds": {"N": "1"}, "version": {"S": "x"}},  # not what deploy writes
    ],
)
def test_given_a_setting_the_workflow_cannot_use_then_readings_are_scored_uncached(aws, model_host, setting):
    host = model_host("odd-setting", always_one)
    aws.client("dynamodb").put_item(
        TableName=aws.ctx.refs["CacheTable"], Item={"key": {"S": "setting#nrt-odd-setting"}, **setting}
    )
    data = fresh_data()

    answers = [run(aws, reading("odd-setting", sensor=f"o-{i}", data=data)) for i in range(2)]

    assert [(a.status, a.body["cached"]) for a in answers] == [(200, False), (200, False)]
    assert len(host.requests) == 2


def test_given_a_damaged_cache_entry_then_the_model_answers_and_the_entry_is_replaced(aws, model_host):
    host = model_host("damaged", always_one)
    version = turn_on(aws, "nrt-damaged", 300)
    data = fresh_data()
    run(aws, reading("damaged", sensor="d-1", data=data))
    [entry] = entries(aws, "nrt-damaged")
    ddb = aws.client("dynamodb")
    ddb.put_item(TableName=aws.ctx.refs["CacheTable"], Item={"key": entry["key"], "reply": {"N": "1"}})

    answer = run(aws, reading("damaged", sensor="d-2", data=data))

    assert (answer.status, answer.body["cached"]) == (200, False)
    assert len(host.requests) == 2
    [renewed] = entries(aws, "nrt-damaged")
    assert renewed["key"]["S"].startswith(f"entry#nrt-damaged#{version}#") and "S" in renewed["reply"]


def test_nrt_deploy_model_cache_names_the_serving_version_and_a_redeploy_without_it_turns_it_off(aws, model_dir):
    from functions.list_models.models import list_models
    from nrt.cli import build_parser
    from tests.helpers.model_hosts import FakeModelHost
    from tests.workflow.test_any_model import served
    from tests.workflow.test_deploy import deploy
    from training import inference

    ddb, table, sm = aws.client("dynamodb"), aws.ctx.refs["CacheTable"], aws.client("sagemaker")
    args = build_parser().parse_args(["deploy-model", "cache-cli", "--local", "--cache", "120"])
    assert (args.cache, build_parser().parse_args(["deploy-model", "cache-cli"]).cache) == (120, 0)

    def setting() -> dict[str, Any] | None:
        got: dict[str, Any] | None = ddb.get_item(TableName=table, Key=cache.setting_key("nrt-cache-cli")).get("Item")
        return got

    def listed() -> int:
        [model] = [m for m in list_models(sm, aws.prefix) if m["model"] == "cache-cli"]
        return int(model["cache_seconds"])

    def serve() -> FakeModelHost:
        """The deployed model behind a host that counts its calls (the real serving code)."""
        host = FakeModelHost(served(inference.model_fn(str(model_dir)))).start()
        aws.wiring.model_hosts.route("nrt-cache-cli", host.url)
        return host

    def scored(sensor: str) -> bool:
        answer = run(aws, reading("cache-cli", sensor=sensor, data=[12, 87, 20]))
        assert answer.status == 200, answer.body
        return bool(answer.body["cached"])

    first = deploy(aws, "cache-cli", model_dir, cache=cache.CacheSetting(ddb, table, args.cache))
    assert setting() == {
        "key": {"S": "setting#nrt-cache-cli"},
        "seconds": {"N": "120"},
        "hundreds": {"N": "2"},
        "version": {"S": first.version},
    }
    assert sm.describe_endpoint(EndpointName="nrt-cache-cli")["EndpointConfigName"] == first.version
    assert listed() == 120
    host = serve()
    assert (scored("cli-1"), scored("cli-2")) == (False, True)
    assert len(host.requests) == 1

    second = deploy(aws, "cache-cli", model_dir, cache=cache.CacheSetting(ddb, table, 120))
    assert setting()["version"] == {"S": second.version} != {"S": first.version}
    host = serve()
    assert (scored("cli-3"), scored("cli-4")) == (False, True)  # the new version's own answers only
    assert len(host.requests) == 1

    deploy(aws, "cache-cli", model_dir, cache=cache.CacheSetting(ddb, table, 0))
    assert setting() is None
    assert listed() == 0
    host = serve()
    assert (scored("cli-5"), scored("cli-6")) == (False, False)
    assert len(host.requests) == 2


def test_a_cache_without_waiting_for_the_new_version_is_refused_before_anything_is_deployed(aws, model_dir):
    from nrt.ops.deploy import endpoint_exists
    from nrt.ops.target import DeployError
    from tests.workflow.test_deploy import deploy

    setting = cache.CacheSetting(aws.client("dynamodb"), aws.ctx.refs["CacheTable"], 60)
    with pytest.raises(DeployError, match="--cache needs the wait"):
        deploy(aws, "cache-no-wait", model_dir, cache=setting, wait=False)
    with pytest.raises(DeployError, match="--cache must be 0"):
        deploy(aws, "cache-no-wait", model_dir, cache=cache.CacheSetting(setting.ddb, setting.table, -1))
    assert not endpoint_exists(aws.client("sagemaker"), "nrt-cache-no-wait")


def test_given_a_cached_model_when_retraining_promotes_a_new_version_then_the_setting_names_it(aws, model_dir):
    from nrt.ops.deploy import Serverless, deploy_model
    from nrt.ops.target import local_target
    from tests.helpers import SKLEARN_IMAGE
    from tests.workflow.test_retrain import retrain, serving

    ddb, table, sm = aws.client("dynamodb"), aws.ctx.refs["CacheTable"], aws.client("sagemaker")
    deployment = deploy_model(
        sm,
        aws.client("s3"),
        "cache-retrain",
        model_dir,
        local_target(aws.ctx, aws.prefix),
        Serverless(3072, 7),
        SKLEARN_IMAGE,
        log=lambda _: None,
        poll=0.01,
        cache=cache.CacheSetting(ddb, table, 600),
    )
    arn = sm.describe_endpoint(EndpointName=deployment.endpoint)["EndpointArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "nrt:metric_value", "Value": "0.5"}])  # any candidate beats it

    result = retrain(aws, "cache-retrain")

    assert result["status"] == "SUCCEEDED", result
    config, _, tags = serving(aws, deployment.endpoint)
    assert config != deployment.version
    setting = ddb.get_item(TableName=table, Key=cache.setting_key(deployment.endpoint))["Item"]
    assert (setting["version"], setting["seconds"]) == ({"S": config}, {"N": "600"})
    assert tags["nrt:cache_seconds"] == "600"
