"""GET /models, the Lambda handler: settings, logs and metrics around models.py's logic."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

# In Lambda the build puts the package beside app.py (functions/list_models/Makefile).
from functions.list_models.models import list_models, proxy_reply

# Every setting, by name; checked on each call.
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
    return proxy_reply(prefix, models)
