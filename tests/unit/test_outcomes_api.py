"""POST /outcomes on the template's API (validator, mapping templates, responses), in front of
a stand-in Step Functions: what reaches the outcomes workflow, and how its answers come back."""

from __future__ import annotations

import json

import pytest

from tests.helpers.gateway import OUTCOMES_STATE_MACHINE, make, post

OUTCOME = {"model": "big", "sensor": "till-1", "timestamp": 1767225600000, "outcome": "yes"}
BATCH = {
    "model": "big",
    "outcomes": [{"event_id": "o-1", "outcome": 1}, {"sensor": "till-2", "timestamp": 1767225600001, "outcome": 2.5}],
}


@pytest.mark.parametrize("body", [OUTCOME, BATCH], ids=["single", "batch"])
def test_given_an_outcome_when_posted_then_the_outcomes_workflow_gets_exactly_the_body_synchronously(body):
    api, services = make()

    reply = post(api, "/outcomes", body)

    assert reply.status == 200
    [(action, request)] = services.calls
    assert (action, request["stateMachineArn"]) == ("StartSyncExecution", OUTCOMES_STATE_MACHINE)
    assert json.loads(request["input"]) == body


@pytest.mark.parametrize(
    "body",
    [
        {**OUTCOME, "label": "yes"},  # an unknown field
        {**OUTCOME, "outcome": {"label": "yes"}},  # an object
        {**OUTCOME, "outcome": True},  # a boolean
        {**OUTCOME, "outcome": "x" * 257},  # text over 256 characters
        {**OUTCOME, "model": "not_a_name"},
        {"model": "big", "outcomes": [{"event_id": "o-1", "outcome": 1, "features": {}}]},
    ],
    ids=["unknown-field", "object", "boolean", "long-text", "bad-model-name", "unknown-field-in-batch"],
)
def test_given_a_body_outside_the_schema_when_posted_then_it_is_a_400_before_any_execution(body):
    api, services = make()

    reply = post(api, "/outcomes", body)

    assert reply.status == 400 and services.calls == []


@pytest.mark.parametrize("status", [400, 404])
def test_given_the_workflow_answers_a_client_error_then_the_api_answers_it_with_its_status(status):
    output = json.dumps({"status": status, "error": "UnknownOutcome", "message": "m"}, separators=(",", ":"))
    api, _ = make(lambda action, request: (200, json.dumps({"status": "SUCCEEDED", "output": output}).encode()))

    reply = post(api, "/outcomes", OUTCOME)

    assert (reply.status, reply.json()["error"]) == (status, "UnknownOutcome")


def test_given_the_workflow_fails_with_a_503_answer_then_the_api_answers_503():
    cause = json.dumps({"status": 503, "error": "ServiceUnavailable", "message": "m"})
    api, _ = make(lambda action, request: (200, json.dumps({"status": "FAILED", "cause": cause}).encode()))

    reply = post(api, "/outcomes", OUTCOME)

    assert reply.status == 503
