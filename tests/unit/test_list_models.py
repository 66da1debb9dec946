"""functions/list_models: which endpoints are models."""

from __future__ import annotations

from functions.list_models.models import models_from_endpoints


def test_only_prefixed_endpoints_are_models_and_the_prefix_is_stripped():
    endpoints = [
        {"EndpointName": "nrt-failure", "EndpointArn": "arn:failure", "EndpointStatus": "InService"},
        {"EndpointName": "nrt-fraud", "EndpointArn": "arn:fraud", "EndpointStatus": "Creating"},
        {"EndpointName": "other-nrt-x", "EndpointArn": "arn:x", "EndpointStatus": "InService"},
        {"EndpointName": "nrt-", "EndpointArn": "arn:", "EndpointStatus": "InService"},
    ]
    tags = {
        "arn:failure": {
            "nrt:kind": "binary",
            "nrt:features": "a,b,c",
            "nrt:feature_count": "3",
            "nrt:cache_seconds": "300",
        }
    }

    models = models_from_endpoints(endpoints, "nrt-", tags)

    assert models == [
        {
            "model": "failure",
            "endpoint": "nrt-failure",
            "status": "InService",
            "available": True,
            "kind": "binary",
            "features": ["a", "b", "c"],
            "feature_count": 3,
            "unknown_categories": "refuse",  # tagged before the policy was: the signature's default
            "tier": "endpoint",  # tagged before tiers were: its endpoint's
            "cache_seconds": 300,
        },
        # Made by other tools: no tags, so its kind and features are unknown.
        {
            "model": "fraud",
            "endpoint": "nrt-fraud",
            "status": "Creating",
            "available": False,
            "kind": None,
            "features": None,
            "feature_count": None,
            "unknown_categories": None,
            "tier": "endpoint",
            "cache_seconds": 0,  # the cache is opt-in
        },
    ]


def test_get_models_shows_the_tier_deploy_model_tagged():
    endpoints = [
        {"EndpointName": f"nrt-{name}", "EndpointArn": f"arn:{name}", "EndpointStatus": "InService"}
        for name in ("fast", "slow")
    ]
    tags = {"arn:fast": {"nrt:tier": "lambda"}, "arn:slow": {"nrt:tier": "endpoint"}}

    models = models_from_endpoints(endpoints, "nrt-", tags)

    assert [(m["model"], m["tier"]) for m in models] == [("fast", "lambda"), ("slow", "endpoint")]


def test_get_models_shows_the_unknown_categories_policy_deploy_model_tagged():
    from nrt.ops.deploy import model_tags
    from training.inference import Feature, Signature

    signature = Signature(
        "regression", [Feature("channel", "category", True, ["app", "web"])], unknown_categories="missing"
    )
    endpoints = [{"EndpointName": "nrt-shop", "EndpointArn": "arn:shop", "EndpointStatus": "InService"}]
    tags = {"arn:shop": {t["Key"]: t["Value"] for t in model_tags("shop", signature, None)}}

    [model] = models_from_endpoints(endpoints, "nrt-", tags)

    assert (model["kind"], model["features"], model["unknown_categories"]) == ("regression", ["channel"], "missing")
    assert all(len(value) <= 256 for value in tags["arn:shop"].values())


class Context:
    function_name = "list-models"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:list-models"
    aws_request_id = "req-1"


class Paginator:
    def paginate(self, NameContains: str):
        endpoint = {"EndpointName": f"{NameContains}failure", "EndpointArn": "arn:f", "EndpointStatus": "InService"}
        yield {"Endpoints": [endpoint]}


class SageMaker:
    def get_paginator(self, name: str) -> Paginator:
        assert name == "list_endpoints"
        return Paginator()

    def list_tags(self, ResourceArn: str) -> dict[str, list[dict[str, str]]]:
        assert ResourceArn == "arn:f"
        return {"Tags": [{"Key": "nrt:kind", "Value": "regression"}, {"Key": "nrt:features", "Value": "x"}]}


def test_the_handler_answers_the_models_logs_structured_and_emits_an_emf_metric(monkeypatch, capsys, caplog):
    import json

    from functions.list_models import app

    monkeypatch.setenv("ENDPOINT_PREFIX", "nrt-")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "list_models")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "nrt-inference")
    monkeypatch.setattr(app.boto3, "client", lambda service: SageMaker())
    monkeypatch.setattr(app.metrics, "namespace", "nrt-inference")

    answer = app.handler({}, Context())

    assert answer["statusCode"] == 200
    [model] = json.loads(answer["body"])["models"]
    assert (model["endpoint"], model["kind"], model["features"]) == ("nrt-failure", "regression", ["x"])
    assert [r.getMessage() for r in caplog.records] == ["models listed"]
    assert caplog.records[0].available == 1  # a structured field, not text
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert (emf and emf[0]["ModelsAvailable"] == [1.0]) or emf[0]["ModelsAvailable"] == 1.0


def test_the_handler_names_missing_settings(monkeypatch):
    import pytest

    from functions.list_models import app

    monkeypatch.delenv("ENDPOINT_PREFIX", raising=False)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "list_models")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "nrt-inference")

    with pytest.raises(RuntimeError, match="ENDPOINT_PREFIX not set"):
        app.settings()
