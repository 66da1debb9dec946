"""GET /models: the models usable now, i.e. SageMaker endpoints named <prefix><model>."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3


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


PREFIX = os.environ.get("ENDPOINT_PREFIX", "")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not PREFIX:
        raise RuntimeError("ENDPOINT_PREFIX is not set")
    models = list_models(boto3.client("sagemaker"), PREFIX)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"prefix": PREFIX, "models": models}),
    }
