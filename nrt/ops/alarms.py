"""Retraining on a model's alarm, on the local stack: the template's own rule (RetrainStateMachine's
`Alarm` event, on with the RetrainOnAlarm parameter), fed by the local side's quality verdict.

On AWS, CloudWatch sends "CloudWatch Alarm State Change" when a model's quality alarm
(functions/endpoint_alarms) enters ALARM, and EventBridge starts the retraining workflow with that
event when the rule's pattern matches. Locally nothing publishes to CloudWatch: the health line's
verdict (nrt/lake/quality.py) stands in for the alarm. A model turning "below training" is the
alarm entering ALARM: the same event, built from the alarm functions/endpoint_alarms defines,
matched against the template's pattern (as EventBridge matches, by moto's matcher) and handed to
the workflow as its input, whose first states start one retraining of the model, none while one
for it runs. Drift has no local verdict on the health line, so only the quality alarm is fed.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from functions.endpoint_alarms.app import Settings, quality_alarm
from nrt.lake.quality import BELOW
from nrt.template import LocalContext, load_template, resolve, resources

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

__all__ = ["AlarmRetraining", "alarm_event", "alarm_rule"]

RULE_OWNER, RULE = "RetrainStateMachine", "Alarm"
ALARMS_FUNCTION = "EndpointAlarmsFunction"


def alarm_rule(ctx: LocalContext) -> tuple[bool, dict[str, Any]]:
    """The template's rule as this stack has it: whether it is on (RetrainOnAlarm) and its pattern."""
    template = load_template()
    found = resolve(resources(template)[RULE_OWNER]["Properties"]["Events"][RULE]["Properties"], ctx, template)
    return found["State"] == "ENABLED", dict(found["Pattern"])


def alarm_settings(ctx: LocalContext) -> Settings:
    """functions/endpoint_alarms's settings as the template gives them to it."""
    template = load_template()
    env = resolve(resources(template)[ALARMS_FUNCTION]["Properties"]["Environment"]["Variables"], ctx, template)
    return Settings(
        endpoint_prefix=str(env["ENDPOINT_PREFIX"]),
        alarm_prefix=str(env["ALARM_PREFIX"]),
        topic_arn="",
        cold_starts_threshold=float(env["COLD_STARTS_THRESHOLD"]),
        quality_namespace=str(env["QUALITY_NAMESPACE"]),
        quality_margin=float(env["QUALITY_MARGIN"]),
    )


def _event_metric(metric: dict[str, Any]) -> dict[str, Any]:
    """One of PutMetricAlarm's Metrics as the state change event shows it (camelCase, dimensions a map)."""
    if "Expression" in metric:
        return {
            "id": metric["Id"],
            "expression": metric["Expression"],
            "label": metric.get("Label", ""),
            "returnData": metric["ReturnData"],
        }
    stat = metric["MetricStat"]
    dimensions = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
    shown = {"namespace": stat["Metric"]["Namespace"], "name": stat["Metric"]["MetricName"], "dimensions": dimensions}
    return {
        "id": metric["Id"],
        "metricStat": {"metric": shown, "period": stat["Period"], "stat": stat["Stat"]},
        "returnData": metric["ReturnData"],
    }


def alarm_event(ctx: LocalContext, model: str, reason: str, now: datetime.datetime) -> dict[str, Any]:
    """The "CloudWatch Alarm State Change" event of the model's quality alarm entering ALARM."""
    settings = alarm_settings(ctx)
    alarm = quality_alarm(f"{settings.endpoint_prefix}{model}", settings, {})
    at = now.astimezone(datetime.UTC)
    arn = f"arn:aws:cloudwatch:{ctx.region}:{ctx.account}:alarm:{alarm['AlarmName']}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": ctx.account,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": ctx.region,
        "resources": [arn],
        "detail": {
            "alarmName": alarm["AlarmName"],
            "state": {"value": "ALARM", "reason": reason, "timestamp": at.isoformat(timespec="milliseconds")},
            "previousState": {"value": "OK"},
            "configuration": {
                "description": alarm["AlarmDescription"],
                "metrics": [_event_metric(m) for m in alarm["Metrics"]],
            },
        },
    }


@dataclass
class AlarmRetraining:
    """The rule on the local stack: each model whose verdict turns "below training" (its quality
    alarm entering ALARM: once, until it leaves that state) starts the workflow with the event."""

    sfn: SFNClient
    state_machine_arn: str
    ctx: LocalContext
    log: Callable[[str], None] = print
    _states: dict[str, str] = field(default_factory=dict)
    _rule: tuple[bool, dict[str, Any]] = (False, {})

    def __post_init__(self) -> None:
        self._rule = alarm_rule(self.ctx)

    @property
    def enabled(self) -> bool:
        return self._rule[0]

    def note(self, verdicts: list[dict[str, Any]], now: datetime.datetime | None = None) -> list[str]:
        """The executions started for the verdicts that entered "below training" since the last look."""
        from moto.events.models import EventPattern

        enabled, pattern = self._rule
        started = []
        for verdict in verdicts:
            model, state = str(verdict.get("model", "")), str(verdict.get("state", ""))
            entered = state == BELOW and self._states.get(model) != BELOW
            self._states[model] = state
            if not (model and entered and enabled):
                continue
            event = alarm_event(
                self.ctx, model, str(verdict.get("words", "")), now or datetime.datetime.now(datetime.UTC)
            )
            if EventPattern(None, pattern).matches_event(cast(Any, event)):
                arn = self.sfn.start_execution(
                    stateMachineArn=self.state_machine_arn, name=uuid.uuid4().hex, input=json.dumps(event)
                )["executionArn"]
                self.log(f"quality alarm of {model}: retraining it ({arn})")
                started.append(arn)
        return started
