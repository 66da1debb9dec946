"""`nrt retrain` follows its execution: every state it entered is printed, even those run between two polls."""

from __future__ import annotations

from typing import Any

from nrt.cli.models import follow_execution


class Execution:
    """A scripted execution that enters one more state on every call made to it, like one that runs between polls."""

    def __init__(self, states: list[str], status: str = "SUCCEEDED", stall: bool = False) -> None:
        self.states, self.final, self.stall = states, status, stall
        self.entered = 0

    def _advance(self) -> None:
        if not self.stall:
            self.entered = min(self.entered + 1, len(self.states))

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self._advance()
        done = self.entered == len(self.states)
        return {"executionArn": executionArn, "status": self.final if done else "RUNNING"}

    def get_execution_history(self, executionArn: str, maxResults: int) -> dict[str, Any]:
        self._advance()
        events: list[dict[str, Any]] = [{"type": "ExecutionStarted"}]
        for name in self.states[: self.entered]:
            events.append({"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}})
            events.append({"type": "TaskStateExited"})
        return {"events": events}


def test_every_state_is_printed_once_in_order_even_when_the_last_ones_ran_after_the_history_was_read() -> None:
    states = ["DescribeServingConfig", "ReadServingMetric", "NameThisVersion", "Train", "QualityGate", "Deploy"]
    printed: list[str] = []

    described = follow_execution(Execution(states), "arn:x", timeout=5, poll=0, out=printed.append)

    assert described is not None and described["status"] == "SUCCEEDED"
    assert printed == [f"  {name}" for name in states]


def test_a_failed_execution_is_returned_with_its_status() -> None:
    printed: list[str] = []

    described = follow_execution(Execution(["Train"], status="FAILED"), "arn:x", timeout=5, poll=0, out=printed.append)

    assert described is not None and described["status"] == "FAILED"
    assert printed == ["  Train"]


def test_an_execution_still_running_at_the_deadline_gives_none() -> None:
    stuck = Execution(["Train", "QualityGate"], stall=True)

    assert follow_execution(stuck, "arn:x", timeout=0, poll=0, out=lambda line: None) is None
