"""End to end, as a user switches tiers: `nrt up --latency-tier`, then `nrt deploy-model NAME
--local --tier lambda` answers from the nrt up process with no model host started, `nrt models`
shows the tier, and `--tier endpoint` moves the model back to its endpoint's host."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.stack import Stack, nrt_up
from nrt.default_model import DEFAULT_MODEL
from nrt.statedir import StateDir
from tests.e2e.test_any_model_stack import local, nrt, wait_for
from tests.e2e.test_model_lifecycle_stack import model_hosts
from tests.e2e.test_restart_stack import post


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # An idle model host stops after 2 s: a reading that started none was scored elsewhere.
    with nrt_up("--latency-tier", "--flush-seconds", "1", "--model-idle-seconds", "2") as running:
        yield running


def reading(timestamp: int) -> dict[str, Any]:
    return {"sensor": "e2e-1", "model": "fast", "timestamp": timestamp, "data": [12, 87, 20]}


def deploy(stack: Stack, tier: str) -> None:
    model_dir = StateDir(stack.state).model(DEFAULT_MODEL)
    done = nrt(stack, "deploy-model", "fast", *local(stack), "--model-dir", str(model_dir), "--tier", tier)
    assert done.returncode == 0, done.stderr


def test_given_nrt_up_latency_tier_when_a_model_moves_to_the_lambda_tier_and_back_then_its_host_serves_only_on_the_endpoint_tier(  # noqa: E501
    stack: Stack,
):
    assert "latency tier  on" in stack.banner

    deploy(stack, "lambda")
    assert wait_for(lambda: not model_hosts(stack))  # the deploy's own check started one; idle now
    status, answer = post(f"{stack.url}/predictions", reading(1_790_000_000_000))
    listed = nrt(stack, "models", "--state-dir", str(stack.state))

    assert status == 200 and answer["endpoint"] == "nrt-fast", answer
    assert model_hosts(stack) == set()  # the endpoint was not invoked: no host started
    assert any(line.split()[:1] == ["fast"] and "lambda" in line.split() for line in listed.stdout.splitlines())

    deploy(stack, "endpoint")
    status, again = post(f"{stack.url}/predictions", reading(1_790_000_001_000))

    assert status == 200 and again["probability"] == answer["probability"]
    assert len(model_hosts(stack)) == 1
