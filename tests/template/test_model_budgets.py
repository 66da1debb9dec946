"""The model budgets: each route's machine, its worst case read from the ASL and the template,
and what the failure path may call."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nrt.template import ROOT, Tag, resources

ASL = json.loads((ROOT / "statemachine/inference.asl.json").read_text())
STATES = ASL["States"]
API_PATHS = resources()["Api"]["Properties"]["DefinitionBody"]["paths"]

# What the workflow does besides calling the model, on AWS: StartSyncExecution, the Pass and
# Choice states, one PutItem per reading (10 at a time) or the failure record; well under 1 s,
# and the reserve leaves room for a throttled write's first retry (at most 1 s) as well.
REST_OF_THE_WORKFLOW_SECONDS = 5
EXPRESS_LIMIT_SECONDS = 300  # "Maximum execution duration: 5 minutes" (Express workflows)


def substitution(machine: str, key: str) -> str:
    value: str = resources()[machine]["Properties"]["DefinitionSubstitutions"][key]
    return value


def max_waits(retriers: list[dict[str, Any]]) -> float:
    """The longest a state's retriers can wait in all: full jitter waits at most the interval."""
    return sum(
        min(r.get("MaxDelaySeconds", 10**6), r.get("IntervalSeconds", 1) * r.get("BackoffRate", 2.0) ** i)
        for r in retriers
        for i in range(r.get("MaxAttempts", 3))
    )


def attempts(retriers: list[dict[str, Any]]) -> int:
    """Each retrier counts its own attempts: the worst case uses every one of them."""
    return 1 + sum(r.get("MaxAttempts", 3) for r in retriers)


def model_worst_case(machine: str) -> float:
    """Every InvokeModel attempt taking the whole budget, every wait its longest, then
    DescribeEndpoint on the failure path (its timeout, its retries)."""
    budget = int(substitution(machine, "ModelAttemptSeconds"))
    invoke, describe = STATES["InvokeModel"], STATES["DescribeEndpoint"]
    retries = describe.get("Retry", [])
    return (
        attempts(invoke["Retry"]) * budget
        + max_waits(invoke["Retry"])
        + attempts(retries) * describe["TimeoutSeconds"]
        + max_waits(retries)
    )


def test_each_call_is_bounded_by_the_machines_budget_set_from_its_substitution():
    invoke = STATES["InvokeModel"]
    assert "TimeoutSeconds" not in invoke
    assert invoke["TimeoutSecondsPath"] == "$.attempt_seconds"
    for name in ("AsSingleReading", "AsBatch"):
        assert STATES[name]["Parameters"]["attempt_seconds.$"] == "States.StringToJson('${ModelAttemptSeconds}')"
        assert STATES[name]["Next"] == "ResolveEndpoint"  # every path to InvokeModel has its budget


def test_the_predictions_worst_case_fits_in_api_gateways_integration_timeout():
    integration = API_PATHS["/predictions"]["post"]["x-amazon-apigateway-integration"]
    assert integration["timeoutInMillis"] == 29000
    worst = model_worst_case("InferenceStateMachine")
    assert worst == 24  # 10 + 2 + 10 + 2, as InvokeModel's Comment works it out
    assert worst + REST_OF_THE_WORKFLOW_SECONDS <= integration["timeoutInMillis"] / 1000
    assert "10 + 2 + 10 + 2 = 24 s" in STATES["InvokeModel"]["Comment"]


def test_the_events_budget_is_longer_and_its_worst_case_leaves_the_failure_record_room_in_5_minutes():
    events, predictions = (
        int(substitution(m, "ModelAttemptSeconds")) for m in ("EventsStateMachine", "InferenceStateMachine")
    )
    assert events > predictions
    # SageMaker itself cuts an invocation at 60 s: an events attempt outlasts it.
    assert events > 60
    record = STATES["RecordFailure"]
    # A PutItem attempt takes well under 1 s; its retries' waits are what adds up.
    worst = model_worst_case("EventsStateMachine") + max_waits(record["Retry"]) + attempts(record["Retry"]) * 1
    assert worst + REST_OF_THE_WORKFLOW_SECONDS <= EXPRESS_LIMIT_SECONDS
    assert "90 + 2 + 90 + 2 = 184 s" in STATES["InvokeModel"]["Comment"]


def test_a_timeout_is_retried_then_answered_as_its_own_503_not_as_model_unavailable():
    invoke = STATES["InvokeModel"]
    assert any("States.Timeout" in r["ErrorEquals"] for r in invoke["Retry"])
    caught = [c["ErrorEquals"] for c in invoke["Catch"]]
    assert caught.index(["States.Timeout"]) < caught.index(["States.ALL"])
    timed_out = next(c for c in invoke["Catch"] if c["ErrorEquals"] == ["States.Timeout"])
    recorded = STATES[timed_out["Next"]]
    assert recorded["ResultPath"] == "$.caught" and "Cause.$" in recorded["Parameters"]
    answer = STATES[recorded["Next"]]
    assert (answer["Parameters"]["status"], answer["Parameters"]["error"]) == (503, "ModelTimeout")
    assert answer["Next"] == "RecordFailure"


def test_a_failed_model_is_told_apart_only_on_the_failure_path_and_never_retried():
    invoke = STATES["InvokeModel"]
    to_describe = next(c for c in invoke["Catch"] if c["Next"] == "DescribeEndpoint")
    assert set(to_describe["ErrorEquals"]) == {
        "SageMakerRuntime.ValidationErrorException",
        "SageMakerRuntime.ModelNotReadyException",
    }
    assert invoke["Next"] == "ReadReply"  # the hot path: one call, no describe
    describe = STATES["DescribeEndpoint"]
    assert describe["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint"
    assert "Retry" not in describe
    failed = STATES["ModelFailed"]["Parameters"]
    assert (failed["status"], failed["error"]) == (424, "ModelFailed")
    assert "$.described.FailureReason" in failed["message.$"]
    assert STATES["ModelFailed"]["Next"] == "RecordFailure"


@pytest.mark.parametrize("machine", ["InferenceStateMachine", "EventsStateMachine"])
def test_the_workflow_may_describe_prefixed_endpoints_only(machine):
    statements = [s for p in resources()[machine]["Properties"]["Policies"] for s in p["Statement"]]
    describe = [s for s in statements if "sagemaker:DescribeEndpoint" in str(s["Action"])]
    assert len(describe) == 1
    assert describe[0]["Action"] == "sagemaker:DescribeEndpoint"
    resource = describe[0]["Resource"]
    assert isinstance(resource, Tag) and resource.name == "Sub"
    assert resource.value.endswith(":endpoint/${EndpointPrefix}*")


def test_the_two_machines_differ_only_in_name_budget_and_log_group():
    sync = resources()["InferenceStateMachine"]["Properties"]
    events = resources()["EventsStateMachine"]["Properties"]

    def same_parts(props: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in props.items() if k not in {"Name", "Logging"}}
        kept["DefinitionSubstitutions"] = {
            k: v for k, v in props["DefinitionSubstitutions"].items() if k != "ModelAttemptSeconds"
        }
        return kept

    assert same_parts(sync) == same_parts(events)
    assert {**sync["Logging"], "Destinations": None} == {**events["Logging"], "Destinations": None}


def test_each_route_starts_its_own_machine():
    for path, machine in (("/predictions", "InferenceStateMachine"), ("/events", "EventsStateMachine")):
        template = API_PATHS[path]["post"]["x-amazon-apigateway-integration"]["requestTemplates"]["application/json"]
        assert template.value.count("${" + machine + "}") == 2, path
        assert "StateMachine}" not in template.value.replace("${" + machine + "}", ""), path
