"""Retraining on a model's alarm, on the local stack: the template's own rule (RetrainStateMachine's
`Alarm` event, on with the RetrainOnAlarm parameter), fed by the local side's quality verdict.

On AWS, CloudWatch sends "CloudWatch Alarm State Change" when a model's quality alarm
(functions/endpoint_alarms) enters ALARM, and EventBridge starts the retraining workflow with that
event when the rule's pattern matches. Locally nothing publishes to CloudWatch: the health line's
verdict (nrt/lake/quality.py) stands in for the alarm. A model turning "below training" is the
alarm entering ALARM: the same event, built from the alarm functions/endpoint_alarms defines,
matched against the template's pattern (as EventBridge matches, by moto's matcher) and handed to
the workflow as its input, whose first states start one retraining of the model, none while one
for it runs. The drift alarm likewise: a model whose most drifting feature's PSI over the last day
(the dashboard's figure, nrt/lake/drift.py) rises above the alarm's threshold is its drift alarm
entering ALARM.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from functions.endpoint_alarms.app import DRIFT_THRESHOLD, Settings, drift_alarm, quality_alarm
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


QUALITY, DRIFT = "quality", "drift"
ALARMS = {QUALITY: quality_alarm, DRIFT: drift_alarm}


def alarm_event(
    ctx: LocalContext, model: str, reason: str, now: datetime.datetime, kind: str = QUALITY
) -> dict[str, Any]:
    """The "CloudWatch Alarm State Change" event of the model's quality (or drift) alarm entering ALARM."""
    settings = alarm_settings(ctx)
    alarm = ALARMS[kind](f"{settings.endpoint_prefix}{model}", settings, {})
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
    _states: dict[tuple[str, str], bool] = field(default_factory=dict)  # (model, kind) -> in ALARM
    _rule: tuple[bool, dict[str, Any]] = (False, {})

    def __post_init__(self) -> None:
        self._rule = alarm_rule(self.ctx)

    @property
    def enabled(self) -> bool:
        return self._rule[0]

    def note(self, verdicts: list[dict[str, Any]], now: datetime.datetime | None = None) -> list[str]:
        """The executions started for the verdicts that entered "below training" since the last look."""
        started = []
        for verdict in verdicts:
            model = str(verdict.get("model", ""))
            alarming = str(verdict.get("state", "")) == BELOW
            started += self._enter(model, QUALITY, alarming, str(verdict.get("words", "")), now)
        return started

    def note_drift(self, worst: Mapping[str, Mapping[str, Any]], now: datetime.datetime | None = None) -> list[str]:
        """The executions started for the models whose worst drift (model -> its most drifting
        feature's `psi`, `feature`, `moved`) rose above the drift alarm's threshold since the last look."""
        started = []
        for model, top in worst.items():
            psi = float(top.get("psi", 0.0))
            feature, moved = top.get("feature"), top.get("moved")
            reason = f"{feature} drifted from training: PSI {psi:.2f} above {DRIFT_THRESHOLD} ({moved})"
            started += self._enter(model, DRIFT, psi > DRIFT_THRESHOLD, reason, now)
        return started

    def _enter(self, model: str, kind: str, alarming: bool, reason: str, now: datetime.datetime | None) -> list[str]:
        """The model's alarm of this kind is ALARM or not now; entering ALARM starts the workflow."""
        from moto.events.models import EventPattern

        entered = alarming and not self._states.get((model, kind), False)
        self._states[(model, kind)] = alarming
        enabled, pattern = self._rule
        if not (model and entered and enabled):
            return []
        event = alarm_event(self.ctx, model, reason, now or datetime.datetime.now(datetime.UTC), kind)
        if not EventPattern(None, pattern).matches_event(cast(Any, event)):
            return []
        arn = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=uuid.uuid4().hex, input=json.dumps(event)
        )["executionArn"]
        self.log(f"{kind} alarm of {model}: retraining it ({arn})")
        return [arn]
