"""POST /predictions with the latency tier on, the Lambda handler: settings and clients
around serving.py's logic. The models it holds stay in memory between invocations."""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3

from functions.predict.adapters import DynamoTables, HeldModels, StepFunctionsWorkflow
from functions.predict.serving import Predict

# Every setting, by name; checked at the first invocation.
SETTINGS = ("ENDPOINT_PREFIX", "MODEL_BUCKET", "PREDICTIONS_TABLE", "EVENT_IDS_TABLE", "FAILURES_TABLE")


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
    models = HeldModels(boto3.client("s3"), found["MODEL_BUCKET"])
    return Predict(found["ENDPOINT_PREFIX"], tables, StepFunctionsWorkflow(boto3.client("stepfunctions")), models)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The StartSyncExecution request API Gateway's mapping template built -> its answer's shape."""
    return predict()(event)
