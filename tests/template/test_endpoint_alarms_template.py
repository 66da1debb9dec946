"""The per-endpoint alarms go when the stack goes, and the function that keeps them logs to a log
group that exists before it can run (template.yaml's EndpointAlarms* resources)."""

from __future__ import annotations

import re

from nrt.template import Tag, resources

RESOURCES = resources()
FUNCTION = RESOURCES["EndpointAlarmsFunction"]["Properties"]
PREFIX = FUNCTION["Environment"]["Variables"]["ALARM_PREFIX"]


def references(value: object) -> set[str]:
    """Every logical id a value names with !Ref, !GetAtt or ${...} in !Sub."""
    if isinstance(value, Tag):
        if value.name == "Ref":
            return {str(value.value)}
        if value.name == "GetAtt":
            return {str(value.value).split(".", 1)[0]}
        if value.name == "Sub":
            text = value.value if isinstance(value.value, str) else value.value[0]
            return {name.split(".", 1)[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
        return references(value.value)
    if isinstance(value, dict):
        return set().union(*(references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(references(v) for v in value)) if value else set()
    return set()


# "Custom resources" (CloudFormation): a Delete request is sent when the stack is deleted, and the
# resource is deleted before what it refers to, so the function still exists to answer it.
def test_a_custom_resource_calls_the_function_on_the_stacks_create_update_and_delete():
    custom = RESOURCES["EndpointAlarms"]
    assert custom["Type"] == "AWS::CloudFormation::CustomResource"
    assert custom["Properties"]["ServiceToken"] == Tag("GetAtt", "EndpointAlarmsFunction.Arn")
    assert custom["Properties"]["AlarmPrefix"] == PREFIX
    assert "DeletionPolicy" not in custom  # deleted with the stack, which is the point


def test_the_function_may_delete_only_the_alarms_it_names_under_the_stacks_prefix():
    statements = {s["Sid"]: s for p in FUNCTION["Policies"] for s in p["Statement"]}
    keep = statements["KeepEndpointAlarms"]
    assert "cloudwatch:DeleteAlarms" in keep["Action"]
    assert keep["Resource"].value.endswith(":alarm:${AWS::StackName}-endpoint-*")
    assert Tag("Sub", "${AWS::StackName}-endpoint-") == PREFIX


# Lambda makes /aws/lambda/<function> itself (no retention) at an invocation that finds no log
# group; a LogGroup resource named after the function is made after it, so an early event or
# schedule run can win and the stack fails on "already exists". Named apart and given to the
# function (LoggingConfig), it is made first.
def test_every_functions_log_group_exists_before_the_function_can_run():
    functions = [n for n, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"]
    assert "EndpointAlarmsFunction" in functions and len(functions) >= 3
    for name in functions:
        logging = RESOURCES[name]["Properties"].get("LoggingConfig")
        assert logging is not None, f"{name} has no LoggingConfig"
        [group_id] = references(logging["LogGroup"])
        group = RESOURCES[group_id]["Properties"]
        assert name not in references(group), f"{group_id} is named after {name}: made after it"
        assert "RetentionInDays" in group
