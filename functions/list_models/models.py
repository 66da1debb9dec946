"""GET /models, the logic: the models usable now, i.e. SageMaker endpoints named
<prefix><model>. Pure, and free of powertools, so the local API runs it in process."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import EndpointSummaryTypeDef

# The tags nrt deploy-model puts on an endpoint (nrt/ops/deploy.py writes them).
KIND_TAG = "nrt:kind"
FEATURES_TAG = "nrt:features"  # the first feature names, as many as a tag holds (256 characters)
FEATURE_COUNT_TAG = "nrt:feature_count"
UNKNOWN_CATEGORIES_TAG = "nrt:unknown_categories"  # refuse or missing: what an unseen category becomes
TIER_TAG = "nrt:tier"  # endpoint or lambda: where POST /predictions scores it (nrt deploy-model --tier)
CACHE_TAG = "nrt:cache_seconds"  # the prediction cache's seconds (0: off), as the last deploy set it


def models_from_endpoints(
    endpoints: Sequence[EndpointSummaryTypeDef], prefix: str, tags: dict[str, dict[str, str]] | None = None
) -> list[dict[str, Any]]:
    """Endpoint summaries (and each one's tags, by ARN) -> models, sorted by name; only prefixed names."""
    models = []
    for e in endpoints:
        if not e["EndpointName"].startswith(prefix) or len(e["EndpointName"]) <= len(prefix):
            continue
        models.append(
            {
                "model": e["EndpointName"][len(prefix) :],
                "endpoint": e["EndpointName"],
                "status": e["EndpointStatus"],
                "available": e["EndpointStatus"] in ("InService", "Updating"),
                **described((tags or {}).get(e.get("EndpointArn", ""), {})),
            }
        )
    return sorted(models, key=lambda m: m["model"])


def described(tags: dict[str, str]) -> dict[str, Any]:
    """What nrt deploy-model recorded of the model in its endpoint's tags; None for an endpoint made by other tools."""
    features = tags.get(FEATURES_TAG)
    count = tags.get(FEATURE_COUNT_TAG)
    kind = tags.get(KIND_TAG)
    return {
        "kind": kind,
        "features": features.split(",") if features else None,
        "feature_count": int(count) if count and count.isdigit() else None,
        # Deployed by nrt before the policy was tagged: its signature's default, refuse.
        "unknown_categories": tags.get(UNKNOWN_CATEGORIES_TAG, "refuse" if kind else None),
        # Deployed before tiers: the endpoint's.
        "tier": tags.get(TIER_TAG, "endpoint"),
        "cache_seconds": _whole(tags.get(CACHE_TAG)),
    }


def _whole(text: str | None) -> int:
    """A tag holding a whole number; 0 when absent (the cache is opt-in)."""
    return int(text) if text and text.isdigit() else 0


def list_models(client: SageMakerClient, prefix: str) -> list[dict[str, Any]]:
    """Page through ListEndpoints (NameContains narrows, the prefix rule decides), with each model's tags."""
    endpoints: list[EndpointSummaryTypeDef] = []
    for page in client.get_paginator("list_endpoints").paginate(NameContains=prefix):
        endpoints.extend(e for e in page["Endpoints"] if e["EndpointName"].startswith(prefix))
    tags = {
        e["EndpointArn"]: {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=e["EndpointArn"])["Tags"]}
        for e in endpoints
    }
    return models_from_endpoints(endpoints, prefix, tags)


def proxy_reply(prefix: str, models: list[dict[str, Any]]) -> dict[str, Any]:
    """The API Gateway proxy answer for GET /models."""
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"prefix": prefix, "models": models}),
    }
