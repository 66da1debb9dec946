"""The workflow-outcome-to-HTTP mapping (what the response template relays, and nrt status counts)."""

from __future__ import annotations

import json

import pytest

from nrt.apigateway.contract import answer_from_execution


def test_a_succeeded_execution_answers_200_with_its_output():
    answer = answer_from_execution("SUCCEEDED", '{"prediction": 1}', None)
    assert (answer.status, answer.body) == (200, {"prediction": 1})


@pytest.mark.parametrize("status", [400, 404, 409, 429, 503])
def test_a_failed_execution_answers_with_the_status_its_cause_carries(status):
    cause = json.dumps({"status": status, "error": "E", "message": "m"}, separators=(",", ":"))

    answer = answer_from_execution("FAILED", None, cause)

    assert answer.status == status
    assert answer.body == {"status": status, "error": "E", "message": "m"}


@pytest.mark.parametrize(("status", "cause"), [("TIMED_OUT", None), ("FAILED", "States.Runtime: oops")])
def test_any_other_outcome_is_a_503_never_a_500(status, cause):
    answer = answer_from_execution(status, None, cause)
    assert answer.status == 503
    assert status in answer.body["message"]


@pytest.mark.parametrize("status", [400, 404, 409])
def test_a_client_error_ends_the_execution_in_success_with_the_answer_as_its_output(status):
    output = json.dumps({"status": status, "error": "E", "message": "m"}, separators=(",", ":"))

    answer = answer_from_execution("SUCCEEDED", output, None)

    assert (answer.status, answer.body) == (status, {"status": status, "error": "E", "message": "m"})
