"""End to end under faults: 10,000 readings through `nrt up --faults ...` with the stream worker
crashing mid-flush and killed, and every accepted reading accounted for."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from benchmarks.faults import ISSUE_FAULTS, UNKNOWN_MODEL, Outcome, scenario
from benchmarks.stack import Stack, nrt_up
from nrt.lake.stream import CRASH_BEFORE_CHECKPOINT
from tests.helpers import ROOT

READINGS = 10_000


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with nrt_up(
        "--faults", ISSUE_FAULTS, "--faults-seed", "11", "--flush-seconds", "1", env={CRASH_BEFORE_CHECKPOINT: "1"}
    ) as running:
        yield running


@pytest.fixture(scope="module")
def outcome(stack: Stack) -> Outcome:
    return scenario(stack, READINGS, batch=50, concurrency=8, kills=[5.0, 30.0])


def test_the_banner_names_the_faults(stack):
    assert f"faults        {ISSUE_FAULTS},cold_start_seconds=2" in stack.banner


def test_every_reading_is_stored_once_or_recorded_none_lost_none_duplicated(outcome):
    accounting = outcome.accounting

    assert accounting.sent == READINGS + 50
    assert accounting.lost == frozenset()
    assert accounting.lake_missing == frozenset()
    assert accounting.lake_duplicates == frozenset()
    assert accounting.stored >= READINGS  # retries absorbed every injected fault
    assert accounting.recorded >= 50  # the readings for a model nobody deployed


def test_the_faults_really_happened_and_the_worker_really_died(stack, outcome):
    injected = outcome.status["faults_injected"]

    # Expected at these rates: ~11 model errors (of ~215 model calls) and ~100 failed writes
    # (of ~10,100); throttles (~4) and cold starts (~2) can miss a run by chance, so the
    # workflow tests script each kind instead.
    assert set(injected) <= {"model_error", "throttle", "cold_start", "write_error"}
    assert injected["model_error"] > 0
    assert injected["write_error"] > 0
    assert sum(injected.values()) >= 50
    assert outcome.worker_kills >= 1
    assert outcome.worker_restarted
    assert (stack.state / "checkpoints" / "stream.crashed").exists()


def test_callers_got_answers_not_errors_and_the_unknown_model_a_404(outcome):
    assert outcome.sent["by_status"] == {200: READINGS // 50}
    assert outcome.unknown_model["by_status"] == {404: 5}


def test_nrt_status_and_nrt_failures_show_it(stack, outcome):
    status = subprocess.run(
        [sys.executable, "-m", "nrt.cli", "status", "--url", stack.url],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    failures = subprocess.run(
        [sys.executable, "-m", "nrt.cli", "failures", "--aws-port", str(stack.aws_port), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("health  ")
    # The unknown model's five batches, plus every answer the producer retried (a 429 when an
    # injected throttle outlasted the workflow's retry, a 503 likewise): 4xx or 5xx as it came.
    answered = re.search(r"answered \d+ \(([^)]*)\)", status.stdout)
    errors = {kind: int(n) for kind, n in re.findall(r"(4xx|5xx) (\d+)", answered.group(1) if answered else "")}
    retried = outcome.sent["retries"] + outcome.unknown_model["retries"]
    assert errors.get("4xx", 0) >= 5
    assert errors.get("4xx", 0) + errors.get("5xx", 0) == 5 + retried
    assert re.search(r"faults (cold_start \d+, )?model_error \d+, (throttle \d+, )?write_error \d+$", status.stdout)
    assert failures.returncode == 0, failures.stderr
    recorded = json.loads(failures.stdout)
    assert sum(1 for f in recorded if f["model"] == UNKNOWN_MODEL and f["status"] == 404) == 5
