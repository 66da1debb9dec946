"""GET /models: the models usable now, i.e. SageMaker endpoints named <prefix><model>."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext


def models_from_endpoints(endpoints: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """Endpoint summaries -> models, sorted by name; only names that start with the prefix."""
    models = [
        {
            "model": e["EndpointName"][len(prefix) :],
            "endpoint": e["EndpointName"],
            "status": e["EndpointStatus"],
            "available": e["EndpointStatus"] in ("InService", "Updating"),
        }
        for e in endpoints
        if e["EndpointName"].startswith(prefix) and len(e["EndpointName"]) > len(prefix)
    ]
    return sorted(models, key=lambda m: m["model"])


def list_models(client: Any, prefix: str) -> list[dict[str, Any]]:
    """Page through ListEndpoints (NameContains narrows, the prefix rule decides)."""
    endpoints: list[dict[str, Any]] = []
    for page in client.get_paginator("list_endpoints").paginate(NameContains=prefix):
        endpoints.extend(page["Endpoints"])
    return models_from_endpoints(endpoints, prefix)


# Every setting, by name; checked on the first call (the local runtime imports list_models too).
SETTINGS = ("ENDPOINT_PREFIX", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE")

logger = Logger()
metrics = Metrics()


def settings() -> dict[str, str]:
    missing = [name for name in SETTINGS if not os.environ.get(name)]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not set")
    return {name: os.environ[name] for name in SETTINGS}


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    prefix = settings()["ENDPOINT_PREFIX"]
    models = list_models(boto3.client("sagemaker"), prefix)
    available = sum(1 for m in models if m["available"])
    logger.info("models listed", prefix=prefix, models=len(models), available=available)
    metrics.add_metric(name="ModelsAvailable", unit=MetricUnit.Count, value=available)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"prefix": prefix, "models": models}),
    }
