"""Faults injected at the embedded AWS's boundary, handled by the real workflow's Retry and Catch."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from nrt.emulator import faults
from nrt.emulator.faults import Faults, FaultSpecError, parse
from nrt.emulator.server import EmbeddedAws
from tests.workflow.test_inference_workflow import failures_for, reading, run, stored


@dataclass
class ScriptedFaults(Faults):
    """Faults that hit the next N calls of each kind, then none: a test decides, not chance."""

    script: dict[str, int] = field(default_factory=dict)

    def draw(self, fault: str) -> bool:
        if self.script.get(fault, 0) > 0:
            self.script[fault] -= 1
            self.injected[fault] += 1
            return True
        return False


@pytest.fixture
def inject(aws: EmbeddedAws) -> Iterator[Any]:
    def put(**script: int) -> ScriptedFaults:
        scripted = ScriptedFaults(cold_start_seconds=0.5, script=dict(script))
        faults.install(scripted, aws.wiring)
        return scripted

    yield put
    faults.install(None, aws.wiring)


# --- the --faults value ---------------------------------------------------------------------


def test_given_the_issue_s_spec_when_parsed_then_each_rate_is_set():
    parsed = parse("model_error=0.05,throttle=0.02,cold_start=0.01,write_error=0.01", seed=7)

    assert (parsed.model_error, parsed.throttle, parsed.cold_start, parsed.write_error) == (0.05, 0.02, 0.01, 0.01)
    assert parsed.active
    assert parsed.describe() == "model_error=0.05,throttle=0.02,cold_start=0.01,write_error=0.01,cold_start_seconds=2"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("model_eror=0.1", "unknown fault 'model_eror'"),
        ("throttle", "fault 'throttle' needs a value"),
        ("throttle=lots", "fault 'throttle' must be a number, got 'lots'"),
        ("throttle=1.5", "fault 'throttle' is a rate per call: between 0 and 1, got 1.5"),
        ("cold_start_seconds=-1", "cold_start_seconds must be between 0 and 60"),
    ],
)
def test_given_a_bad_spec_when_parsed_then_the_error_names_the_part(spec, message):
    with pytest.raises(FaultSpecError, match=message):
        parse(spec)


def test_given_a_seed_when_drawn_then_the_same_faults_repeat_at_about_the_rate():
    first, second = parse("throttle=0.2", seed=3), parse("throttle=0.2", seed=3)

    draws = [first.draw("throttle") for _ in range(5000)]

    assert draws == [second.draw("throttle") for _ in range(5000)]
    assert 900 < sum(draws) < 1100
    assert first.injected == Counter(throttle=sum(draws))
    assert not any(first.draw("model_error") for _ in range(100))


# --- the workflow handles them as on AWS ----------------------------------------------------


def test_given_a_throttle_when_scored_then_the_workflow_retries_and_answers(aws, model_host, inject):
    host = model_host("throttled-then-ok")
    injected = inject(throttle=1)
    body = reading("throttled-then-ok", sensor="fault-1")

    answer = run(aws, body)

    assert answer.status == 200
    assert injected.injected == Counter(throttle=1)
    assert len(host.requests) == 1
    assert stored(aws, "fault-1", body["timestamp"], "nrt-throttled-then-ok") is not None


def test_given_two_throttles_when_scored_then_429_after_the_one_retry_the_budget_allows(aws, model_host, inject):
    host = model_host("throttled-twice")
    injected = inject(throttle=2)
    body = reading("throttled-twice", sensor="fault-1b")

    answer = run(aws, body)

    assert answer.status == 429
    assert injected.injected == Counter(throttle=2)
    assert host.requests == []
    [failure] = failures_for(aws, "throttled-twice")
    assert failure["status"] == {"N": "429"}


def test_given_a_model_failing_every_call_when_scored_then_503_and_recorded_with_the_reading(aws, model_host, inject):
    host = model_host("always-fails")
    injected = inject(model_error=10)
    body = reading("always-fails", sensor="fault-2")

    answer = run(aws, body)

    assert answer.status == 503
    assert answer.body["error"] == "ModelUnavailable"
    assert injected.injected == Counter(model_error=1)  # a model's own error is not retried: replay is
    assert host.requests == []
    assert stored(aws, "fault-2", body["timestamp"], "nrt-always-fails") is None
    [failure] = failures_for(aws, "always-fails")
    assert failure["status"] == {"N": "503"}
    assert failure["error"] == {"S": "SageMakerRuntime.ModelErrorException"}
    assert '"sensor":"fault-2"' in failure["request"]["S"]


def test_given_a_cold_start_when_scored_then_the_answer_is_late_but_right(aws, model_host, inject):
    model_host("cold")
    inject(cold_start=1)
    body = reading("cold", sensor="fault-3")

    started = time.monotonic()
    answer = run(aws, body)

    assert answer.status == 200
    assert time.monotonic() - started >= 0.5


def test_given_a_failed_write_when_stored_then_the_workflow_retries_and_stores_once(aws, model_host, inject):
    model_host("write-once")
    injected = inject(write_error=1)
    body = reading("write-once", sensor="fault-4")

    answer = run(aws, body)

    assert answer.status == 200
    assert answer.body["duplicate"] is False
    assert injected.injected == Counter(write_error=1)
    assert stored(aws, "fault-4", body["timestamp"], "nrt-write-once") is not None


def test_given_the_table_failing_every_retry_when_stored_then_503_and_the_reading_is_recorded(aws, model_host, inject):
    model_host("store-down")
    injected = inject(write_error=4)  # the PutItem and its 3 retries
    body = reading("store-down", sensor="fault-5")

    answer = run(aws, body)

    assert answer.status == 503
    assert answer.body["error"] == "StoreUnavailable"
    assert injected.injected == Counter(write_error=4)
    assert stored(aws, "fault-5", body["timestamp"], "nrt-store-down") is None
    [failure] = failures_for(aws, "store-down")
    assert failure["error"] == {"S": "DynamoDB.ProvisionedThroughputExceededException"}
    assert '"sensor":"fault-5"' in failure["request"]["S"]
