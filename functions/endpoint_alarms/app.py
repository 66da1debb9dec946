"""Alarms for each model endpoint, and only those: one for model errors, one for cold starts,
and (with QUALITY_NAMESPACE set) one for live quality below the model's training quality and
one for drift, from what statemachine/monitor.asl.json publishes.

CloudWatch alarms cannot select endpoints by a name prefix (Metrics Insights' WHERE supports
only =, != and AND; alarms cannot use SEARCH), so the template cannot hold them. This
function keeps one pair per endpoint named <prefix>*: it runs on every SageMaker endpoint
state change for the prefix and every hour, and makes what exists match what should.

It is also the stack's custom resource `EndpointAlarms`: on the stack's create and update it
reconciles at once, and on its delete it deletes every alarm it owns (named <stack>-endpoint-*),
so that none outlives the stack.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import EndpointSummaryTypeDef

# Endpoint states in which a model serves (or is about to): its alarms should exist.
WATCHED = {"Creating", "Updating", "SystemUpdating", "InService", "RollingBack"}


@dataclass(frozen=True)
class Settings:
    endpoint_prefix: str
    alarm_prefix: str  # <stack>-endpoint-: every alarm this function owns starts with it
    topic_arn: str  # empty: the alarms exist but notify nobody, as the template's do
    cold_starts_threshold: float
    # Where statemachine/monitor.asl.json publishes each model's live and training quality; empty: no quality alarm.
    quality_namespace: str = ""
    quality_margin: float = 0.05

    @classmethod
    def from_environment(cls) -> Settings:
        required = ("ENDPOINT_PREFIX", "ALARM_PREFIX", "COLD_STARTS_THRESHOLD", "QUALITY_NAMESPACE", "QUALITY_MARGIN")
        missing = [n for n in required if not os.environ.get(n)]
        if missing:
            raise RuntimeError(f"{', '.join(missing)} not set")
        return cls(
            endpoint_prefix=os.environ["ENDPOINT_PREFIX"],
            alarm_prefix=os.environ["ALARM_PREFIX"],
            topic_arn=os.environ.get("ALARM_TOPIC_ARN", ""),
            cold_starts_threshold=float(os.environ["COLD_STARTS_THRESHOLD"]),
            quality_namespace=os.environ["QUALITY_NAMESPACE"],
            quality_margin=float(os.environ["QUALITY_MARGIN"]),
        )


def _query(function: str, metric: str, endpoint: str) -> str:
    schema = 'SCHEMA("AWS/SageMaker", EndpointName, VariantName)'
    return f"SELECT {function}({metric}) FROM {schema} WHERE EndpointName = '{endpoint}'"


# The shortfall of live quality against training, from the monitor's hourly figures: a score
# (direction 1: F1, macro F1) by how much it fell; an error (direction -1: MAE) by the share it
# grew. The monitor publishes training and direction only with enough labelled readings.
SHORTFALL = "IF(direction > 0, training - live, (live - training) / ABS(training))"
QUALITY_PERIOD = 3600  # the monitor runs hourly


def _quality_metric(metric_id: str, name: str, model: str, namespace: str) -> dict[str, Any]:
    metric = {"Namespace": namespace, "MetricName": name, "Dimensions": [{"Name": "Model", "Value": model}]}
    return {
        "Id": metric_id,
        "MetricStat": {"Metric": metric, "Period": QUALITY_PERIOD, "Stat": "Maximum"},
        "ReturnData": False,
    }


def quality_alarm(endpoint: str, settings: Settings, common: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's model's live quality below its training quality by more than the margin."""
    model = endpoint[len(settings.endpoint_prefix) :]
    namespace = settings.quality_namespace
    return {
        "AlarmName": f"{settings.alarm_prefix}{endpoint}-quality",
        "AlarmDescription": (
            f"{endpoint}: live quality (last 7 days, enough labelled readings) below training by more than "
            f"{settings.quality_margin:g} (a share of the training value for an error metric)."
        ),
        "Metrics": [
            _quality_metric("live", "LiveQuality", model, namespace),
            _quality_metric("training", "TrainingQuality", model, namespace),
            _quality_metric("direction", "QualityDirection", model, namespace),
            {"Id": "shortfall", "Expression": SHORTFALL, "Label": "shortfall", "ReturnData": True},
        ],
        "Threshold": settings.quality_margin,
        **common,
    }


DRIFT_THRESHOLD = 0.25  # PSI: major drift (nrt/lake/drift.py)


def drift_alarm(endpoint: str, settings: Settings, common: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's model's most drifting feature over the last 24 hours: PSI above 0.25."""
    model = endpoint[len(settings.endpoint_prefix) :]
    worst = _quality_metric("worst", "WorstDriftPsi", model, settings.quality_namespace)
    return {
        "AlarmName": f"{settings.alarm_prefix}{endpoint}-drift",
        "AlarmDescription": (
            f"{endpoint}: a feature of its recent readings drifted from training (PSI above {DRIFT_THRESHOLD})."
        ),
        "Metrics": [{**worst, "ReturnData": True}],
        "Threshold": DRIFT_THRESHOLD,
        **common,
    }


def alarms_for(endpoint: str, settings: Settings) -> list[dict[str, Any]]:
    """PutMetricAlarm requests for one endpoint."""
    actions = [settings.topic_arn] if settings.topic_arn else []
    common = {
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": actions,
        "OKActions": actions,
    }
    monitored = [quality_alarm(endpoint, settings, common), drift_alarm(endpoint, settings, common)]
    quality = monitored if settings.quality_namespace else []
    return [
        {
            "AlarmName": f"{settings.alarm_prefix}{endpoint}-model-errors",
            "AlarmDescription": f"{endpoint}: the model answered with an error (InvocationModelErrors).",
            "Metrics": [
                {"Id": "modelErrors", "Expression": _query("SUM", "InvocationModelErrors", endpoint), "Period": 300}
            ],
            "Threshold": 0.0,
            **common,
        },
        {
            "AlarmName": f"{settings.alarm_prefix}{endpoint}-cold-starts",
            "AlarmDescription": f"{endpoint}: serverless cold starts (ModelSetupTime samples) per 5 minutes.",
            "Metrics": [{"Id": "coldStarts", "Expression": _query("COUNT", "ModelSetupTime", endpoint), "Period": 300}],
            "Threshold": settings.cold_starts_threshold,
            **common,
        },
        *quality,
    ]


def plan(
    endpoints: Sequence[EndpointSummaryTypeDef], existing: set[str], settings: Settings
) -> tuple[list[dict[str, Any]], list[str]]:
    """(alarms to put, alarm names to delete) so that each watched <prefix>* endpoint has its
    pair and no alarm of this function outlives its endpoint. Putting is idempotent, so every
    wanted alarm is put again (a changed threshold or topic then applies)."""
    wanted = [
        alarm
        for e in endpoints
        if e["EndpointName"].startswith(settings.endpoint_prefix) and e["EndpointStatus"] in WATCHED
        for alarm in alarms_for(e["EndpointName"], settings)
    ]
    names = {a["AlarmName"] for a in wanted}
    stale = sorted(n for n in existing if n.startswith(settings.alarm_prefix) and n not in names)
    return wanted, stale


def reconcile(sagemaker: SageMakerClient, cloudwatch: CloudWatchClient, settings: Settings) -> tuple[int, int]:
    endpoints: list[EndpointSummaryTypeDef] = []
    for page in sagemaker.get_paginator("list_endpoints").paginate(NameContains=settings.endpoint_prefix):
        endpoints.extend(page["Endpoints"])
    existing: set[str] = set()
    for alarms in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=settings.alarm_prefix, AlarmTypes=["MetricAlarm"]
    ):
        existing.update(a["AlarmName"] for a in alarms["MetricAlarms"])
    wanted, stale = plan(endpoints, existing, settings)
    for alarm in wanted:
        cloudwatch.put_metric_alarm(**alarm)
    for start in range(0, len(stale), 100):  # DeleteAlarms takes at most 100 names
        cloudwatch.delete_alarms(AlarmNames=stale[start : start + 100])
    return len(wanted), len(stale)


def remove_all(cloudwatch: CloudWatchClient, settings: Settings) -> int:
    """Delete every alarm this function owns (the stack is going); how many."""
    owned: list[str] = []
    for alarms in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=settings.alarm_prefix, AlarmTypes=["MetricAlarm"]
    ):
        owned.extend(a["AlarmName"] for a in alarms["MetricAlarms"])
    for start in range(0, len(owned), 100):
        cloudwatch.delete_alarms(AlarmNames=owned[start : start + 100])
    return len(owned)


def stack_response(event: dict[str, Any], status: str, reason: str) -> dict[str, str]:
    """The answer CloudFormation waits for at the event's ResponseURL ("Custom resources",
    response objects). The physical id stays the alarm prefix, so an update never replaces it."""
    return {
        "Status": status,
        "Reason": reason[:1000],
        "PhysicalResourceId": event.get("PhysicalResourceId") or event["ResourceProperties"]["AlarmPrefix"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
    }


def send_stack_response(url: str, response: dict[str, str]) -> None:
    """PUT to CloudFormation's presigned S3 URL, signed without a content type: send none."""
    body = json.dumps(response).encode()
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


def on_stack_event(
    event: dict[str, Any], sagemaker: SageMakerClient, cloudwatch: CloudWatchClient, settings: Settings
) -> dict[str, str]:
    """The stack created, updated or deleted the custom resource: reconcile, or remove every
    owned alarm. Always an answer (a failure included): without one the stack waits an hour."""
    try:
        if event["RequestType"] == "Delete":
            reason = f"deleted {remove_all(cloudwatch, settings)} endpoint alarms"
        else:
            put, deleted = reconcile(sagemaker, cloudwatch, settings)
            reason = f"put {put} endpoint alarms, deleted {deleted}"
    except Exception as failure:  # answered FAILED with its reason, never left unanswered
        logger.exception("endpoint alarms not kept for the stack")
        return stack_response(event, "FAILED", f"{type(failure).__name__}: {failure}")
    return stack_response(event, "SUCCESS", reason)


logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    settings = Settings.from_environment()
    if "ResponseURL" in event:
        response = on_stack_event(event, boto3.client("sagemaker"), boto3.client("cloudwatch"), settings)
        logger.info(
            "stack event answered", request=event["RequestType"], status=response["Status"], reason=response["Reason"]
        )
        send_stack_response(event["ResponseURL"], response)
        return {}
    put, deleted = reconcile(boto3.client("sagemaker"), boto3.client("cloudwatch"), settings)
    logger.info("endpoint alarms reconciled", trigger=event.get("detail-type"), put=put, deleted=deleted)
    metrics.add_metric(name="EndpointAlarms", unit=MetricUnit.Count, value=put)
    return {"put": put, "deleted": deleted}
