"""template.yaml: retraining started by a model's quality or drift alarm (RetrainOnAlarm, off by
default): the rule's pattern matches exactly the alarms functions/endpoint_alarms makes for this
stack's endpoints entering ALARM, its target is the retraining workflow, and the workflow may only
see and start its own executions."""

from __future__ import annotations

import copy
import dataclasses
import datetime
from typing import Any

import pytest
from moto.events.models import EventPattern

from functions.endpoint_alarms.app import alarms_for
from nrt.ops.alarms import alarm_event, alarm_rule, alarm_settings
from nrt.template import LocalContext, Tag, resources
from tests.helpers import load_event

ARN = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"


def matches(pattern: dict[str, Any], alarm_name: str, state: str = "ALARM") -> bool:
    event = copy.deepcopy(load_event("cloudwatch_alarm_quality.json"))
    event["detail"]["alarmName"] = alarm_name
    event["detail"]["state"]["value"] = state
    return bool(EventPattern(None, pattern).matches_event(event))


def on(ctx: LocalContext) -> LocalContext:
    return dataclasses.replace(ctx, parameters={**ctx.parameters, "RetrainOnAlarm": "true"})


def test_the_rule_is_off_by_default_and_on_with_retrain_on_alarm():
    ctx = LocalContext()

    assert resources()["RetrainStateMachine"]["Properties"]["Events"]["Alarm"]["Type"] == "EventBridgeRule"
    assert alarm_rule(ctx)[0] is False
    assert alarm_rule(on(ctx))[0] is True


@pytest.mark.parametrize("model", ["failure", "fraud-v2"])
def test_the_pattern_matches_the_quality_and_drift_alarms_of_this_stacks_endpoints_entering_alarm_only(model):
    ctx = LocalContext()
    _, pattern = alarm_rule(ctx)
    settings = alarm_settings(ctx)
    names = {a["AlarmName"].rsplit("-", 1)[-1]: a["AlarmName"] for a in alarms_for(f"nrt-{model}", settings)}

    assert set(names) == {"quality", "drift", "errors", "starts"}  # model-errors, cold-starts
    assert matches(pattern, names["quality"]) and matches(pattern, names["drift"])
    assert not matches(pattern, names["errors"]) and not matches(pattern, names["starts"])
    assert not matches(pattern, names["quality"], state="OK")
    assert not matches(pattern, names["quality"].replace(ctx.stack_name, "another-stack", 1))


def test_the_event_made_locally_for_a_model_is_what_the_rule_matches_and_names_the_model():
    ctx = LocalContext()
    event = alarm_event(ctx, "failure", "below training", datetime.datetime(2026, 12, 6, 6, 4, tzinfo=datetime.UTC))

    assert EventPattern(None, alarm_rule(ctx)[1]).matches_event(event)
    dimensions = [
        m["metricStat"]["metric"]["dimensions"]
        for m in event["detail"]["configuration"]["metrics"]
        if "metricStat" in m
    ]
    assert dimensions and all(d == {"Model": "failure"} for d in dimensions)
    assert event["time"] == "2026-12-06T06:04:00Z"


def test_the_workflow_may_list_describe_and_start_only_its_own_executions():
    found = resources()["RetrainStateMachine"]["Properties"]["Policies"]
    by_sid = {s["Sid"]: s for p in found for s in p.get("PolicyDocument", p)["Statement"]}

    assert (by_sid["SeeRunningRetrainings"]["Action"], by_sid["SeeRunningRetrainings"]["Resource"]) == (
        "states:ListExecutions",
        Tag("Sub", f"{ARN}:stateMachine:${{AWS::StackName}}-retrain"),
    )
    assert by_sid["ReadRunningRetrainings"]["Resource"] == Tag("Sub", f"{ARN}:execution:${{AWS::StackName}}-retrain:*")
    assert by_sid["StartRetrainingForAlarm"]["Resource"] == Tag(
        "Sub", f"{ARN}:stateMachine:${{AWS::StackName}}-retrain"
    )
    assert resources()["RetrainStateMachine"]["Properties"]["Name"] == Tag("Sub", "${AWS::StackName}-retrain")
