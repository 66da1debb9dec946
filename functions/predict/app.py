"""POST /predictions with the latency tier on, the Lambda handler: settings, clients, logs and
metrics around serving.py's logic. The models it holds stay in memory between invocations."""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.predict.adapters import DynamoCache, DynamoTables, HeldModels, StepFunctionsWorkflow
from functions.predict.serving import Predict

# Every setting, by name; checked at the first invocation.
SETTINGS = (
    "ENDPOINT_PREFIX",
    "MODEL_BUCKET",
    "PREDICTIONS_TABLE",
    "EVENT_IDS_TABLE",
    "FAILURES_TABLE",
    "CACHE_TABLE",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
)

logger = Logger()
metrics = Metrics()


def settings() -> dict[str, str]:
    missing = [name for name in SETTINGS if not os.environ.get(name)]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not set")
    return {name: os.environ[name] for name in SETTINGS}


@functools.cache
def predict() -> Predict:
    """Made once per execution environment: its clients and the models it holds."""
    found = settings()
    tables = DynamoTables(
        boto3.client("dynamodb"), found["PREDICTIONS_TABLE"], found["EVENT_IDS_TABLE"], found["FAILURES_TABLE"]
    )
    models = HeldModels(boto3.client("s3"), found["MODEL_BUCKET"], log=logger.warning)
    workflow = StepFunctionsWorkflow(boto3.client("stepfunctions"))
    cache = DynamoCache(boto3.client("dynamodb"), found["CACHE_TABLE"])
    return Predict(found["ENDPOINT_PREFIX"], tables, workflow, models, cache=cache)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The StartSyncExecution request API Gateway's mapping template built -> its answer's shape."""
    execution = predict().execution(event)
    if execution is None:
        metrics.add_metric(name="ForwardedToWorkflow", unit=MetricUnit.Count, value=1)
        return predict().forward(event)
    result = execution.run()
    metrics.add_metric(name="ReadingsScoredInLambda", unit=MetricUnit.Count, value=len(execution.readings))
    logger.info("scored on the Lambda tier", endpoint=execution.endpoint, readings=len(execution.readings))
    return result
