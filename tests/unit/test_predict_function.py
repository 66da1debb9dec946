"""functions/predict/serving.py, the parts no workflow run shows: StartSyncExecution's own errors
as the API's templates answer them, and the event-id claim's expiry as the ASL computes it."""

from __future__ import annotations

import datetime
import json

import pytest

from functions.predict.serving import WorkflowRefused, batch, claim_expiry, refused, single_reading


@pytest.mark.parametrize(
    ("error", "status", "answer"),
    [
        ("InvalidName", 400, (413, "PayloadTooLarge")),
        ("ThrottlingException", 400, (429, "ServiceThrottled")),
        ("StateMachineDoesNotExist", 400, (500, "InternalError")),
        ("InternalServerError", 500, (503, "ServiceUnavailable")),
    ],
)
def test_a_workflow_refusal_is_answered_as_the_methods_error_templates_answer_it(error, status, answer):
    result = refused(WorkflowRefused(error, status))

    assert result["status"] == "FAILED"
    cause = json.loads(result["cause"])
    assert (cause["status"], cause["error"]) == answer
    assert result["cause"].startswith('{"status"')  # what the response template looks for


@pytest.mark.parametrize("day", ["2026-12-05", "2024-02-29", "2027-01-01", "2025-03-01"])
def test_an_event_id_claim_expires_at_utc_midnight_365_days_after_its_day(day):
    claimed = datetime.date.fromisoformat(day)
    expected = datetime.datetime.combine(claimed + datetime.timedelta(days=365), datetime.time(), datetime.UTC)

    assert claim_expiry(f"{day}T13:45:01.234Z") == int(expected.timestamp())


def test_the_validate_rules_are_the_workflows():
    reading = {"model": "m", "sensor": "s", "timestamp": 1_760_000_000_000, "data": [1]}
    assert single_reading(reading)
    assert not single_reading({**reading, "features": {"a": 1}})  # data and features
    assert not single_reading({**reading, "timestamp": 5})  # before 2000
    assert not single_reading({**reading, "timestamp": True})
    assert batch({"model": "m", "readings": [reading]})
    assert not batch({"model": "m", "readings": []})
    assert not batch({"model": "m", "readings": [reading] * 101})
    assert not batch({"model": "m", "readings": [reading], "sensor": "s"})
