"""Cold starts are budgeted, not failed: the model budget of each route, the timeout's answer,
and a model that cannot load, on the real ASL and the embedded AWS."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from nrt import emulator
from nrt.apigateway.contract import Answer, answer_from_execution
from nrt.emulator.server import EVENTS_STATE_MACHINE, STATE_MACHINE, EmbeddedAws
from nrt.ops import failures
from nrt.template import resources, state_machine_definition
from tests.helpers.model_hosts import Behaviour, rule_model
from tests.workflow.test_inference_workflow import failures_for, reading, run, stored


def attempt_seconds(logical_id: str) -> int:
    """A machine's model budget per attempt, as the template declares it."""
    return int(resources()[logical_id]["Properties"]["DefinitionSubstitutions"]["ModelAttemptSeconds"])


def slow(seconds: float, behaviour: Behaviour = rule_model) -> Behaviour:
    def answer(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        time.sleep(seconds)
        return behaviour(request)

    return answer


@pytest.fixture(scope="module")
def one_second_machine(aws: EmbeddedAws) -> Iterator[str]:
    """/predictions' own definition and substitutions with a 1 s budget per attempt, so that a
    test sees the timeout's answer in seconds (the ASL is the template's, unchanged)."""
    definition = state_machine_definition(STATE_MACHINE, aws.ctx)
    declared = f"States.StringToJson('{attempt_seconds(STATE_MACHINE)}')"
    assert declared in definition
    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"budget-1s-{uuid.uuid4().hex[:8]}",
        definition=definition.replace(declared, "States.StringToJson('1')"),
        roleArn=f"arn:aws:iam::{aws.ctx.account}:role/budget-test",
        type="EXPRESS",
    )["stateMachineArn"]
    yield arn
    sfn.delete_state_machine(stateMachineArn=arn)


def run_on(aws: EmbeddedAws, arn: str, body: dict[str, Any]) -> tuple[Answer, dict[str, Any]]:
    result = emulator.start_sync_execution(arn, json.dumps(body), account=aws.ctx.account, region=aws.ctx.region)
    aws.wiring.sync()
    return answer_from_execution(result["status"], result.get("output"), result.get("cause")), result


def set_endpoint(aws: EmbeddedAws, endpoint: str, status: str, reason: str | None = None) -> None:
    """The endpoint's status as SageMaker would report it (set on the embedded AWS's own record)."""
    from moto.sagemaker.models import sagemaker_backends

    record = sagemaker_backends[aws.ctx.account][aws.ctx.region].endpoints[endpoint]
    record.endpoint_status = status
    record.failure_reason = reason


# --- the budgets ----------------------------------------------------------------------------------


def test_given_a_cold_start_longer_than_the_old_5_s_limit_when_predicted_then_200(aws, model_host):
    # The old TimeoutSeconds was 5: the first request after idle failed whenever the image took longer.
    model_host("cold-6s", slow(6.0))
    body = reading("cold-6s", sensor="budget-1")

    answer = run(aws, body)

    assert answer.status == 200
    assert stored(aws, "budget-1", body["timestamp"], "nrt-cold-6s") is not None


def test_given_a_model_slower_than_the_predictions_budget_when_sent_as_an_event_then_it_is_stored(aws, model_host):
    from nrt.apigateway.executions import Executions

    predictions, events = attempt_seconds(STATE_MACHINE), attempt_seconds(EVENTS_STATE_MACHINE)
    assert events > predictions
    model_host("slower-than-sync", slow(predictions + 0.5))
    body = reading("slower-than-sync", sensor="budget-2")
    inference = Executions(aws, async_workers=1)

    accepted = inference.submit(body)
    left = inference.finish(timeout=predictions + 30)
    inference.stop()

    assert accepted.status == 202
    assert left == 0
    assert stored(aws, "budget-2", body["timestamp"], "nrt-slower-than-sync") is not None
    assert failures_for(aws, "slower-than-sync") == []


def test_given_a_slow_model_within_the_budget_then_200(aws, model_host, one_second_machine):
    model_host("within-budget", slow(0.3))
    body = reading("within-budget", sensor="budget-3")

    answer, _ = run_on(aws, one_second_machine, body)

    assert answer.status == 200


def test_given_a_model_beyond_the_budget_then_a_recorded_replayable_503_naming_the_budget(
    aws, model_host, one_second_machine
):
    host = model_host("beyond-budget", slow(2.5))
    body = reading("beyond-budget", sensor="budget-4")

    started = time.monotonic()
    answer, result = run_on(aws, one_second_machine, body)
    took = time.monotonic() - started

    assert answer.status == 503
    assert answer.body["error"] == "ModelTimeout"
    assert answer.body["message"] == (
        "the model did not answer within 1 s, twice (a cold start or a slow model); retry"
    )
    assert result["status"] == "FAILED"  # the stack's own failure: ExecutionsFailed counts it
    assert len(host.requests) == 2  # the first attempt and its one retry
    assert took < 2 * 1 + 2 + 1.5  # two attempts, one wait of at most 2 s, some slack
    [item] = failures_for(aws, "beyond-budget")
    recorded = failures.from_item(item)
    assert (recorded.status, recorded.error) == (503, "States.Timeout")
    assert recorded.cause == "no answer within 1 s, on each of 2 calls"
    assert recorded.request == body
    assert recorded.replayable
    assert failures.recorded_again(answer.status, answer.body)
    assert stored(aws, "budget-4", body["timestamp"], "nrt-beyond-budget") is None


# --- a model that cannot load ---------------------------------------------------------------------


def test_given_a_failed_endpoint_then_a_non_retryable_424_naming_the_load_error(aws, model_host):
    host = model_host("cannot-load")
    reason = "ClientError: Please ensure model.joblib loads: No module named 'xgboost'"
    set_endpoint(aws, "nrt-cannot-load", "Failed", reason)
    body = reading("cannot-load", sensor="budget-5")

    answer = run(aws, body)

    assert answer.status == 424
    assert answer.body == {
        "status": 424,
        "error": "ModelFailed",
        "message": f"model cannot-load cannot load (endpoint nrt-cannot-load is Failed): {reason}",
    }
    assert host.requests == []
    [item] = failures_for(aws, "cannot-load")
    recorded = failures.from_item(item)
    assert recorded.status == 424
    assert recorded.replayable  # once the model is deployed again
    assert failures.recorded_again(answer.status, answer.body)


def test_given_a_failed_endpoint_without_a_reason_then_424_still_says_so(aws, model_host):
    model_host("no-reason")
    set_endpoint(aws, "nrt-no-reason", "Failed")

    answer = run(aws, reading("no-reason", sensor="budget-6"))

    assert answer.status == 424
    assert answer.body["message"].endswith("is Failed): SageMaker gave no FailureReason; see the endpoint's logs")


@pytest.mark.parametrize("status", ["Creating", "Updating"])
def test_given_an_endpoint_not_in_service_yet_then_a_retryable_503_naming_its_status(aws, model_host, status):
    name = f"starting-{status.lower()}"
    model_host(name)
    set_endpoint(aws, f"nrt-{name}", status)
    if status == "Updating":  # an update serves the old model where it has a host, as AWS does: none here
        aws.wiring.model_hosts.withdraw(f"nrt-{name}")

    answer = run(aws, reading(name, sensor="budget-7"))

    assert answer.status == 503
    assert answer.body["error"] == "ModelNotReady"
    assert answer.body["message"] == f"model {name} is not ready yet (endpoint nrt-{name} is {status}); retry"
    [item] = failures_for(aws, name)
    assert failures.from_item(item).replayable


def test_given_no_endpoint_then_still_404_after_describing_it(aws):
    answer = run(aws, reading("never-deployed", sensor="budget-8"))

    assert answer.status == 404
    assert answer.body["error"] == "ModelNotFound"
