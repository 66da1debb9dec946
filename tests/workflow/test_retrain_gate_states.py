"""The retrain ASL's gate states, taken from statemachine/retrain.asl.json as they are and run on
the embedded Step Functions from the training job's result onwards: each verdict the job can
print reaches its branch with the gate and the reason it says (issue 25). Only the gate's own
states run: where they hand over (CreateModel, the notifications), the run ends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nrt.emulator.server import EmbeddedAws
from nrt.template import ROOT
from tests.helpers.emulator import make_machine, sync

GATE_STATES = ("HasVerdict", "QualityGate", "Judged", "JudgedWorse", "TooClose", "TooFewRows", "TooFewOfALabel")
GATE_STATES += ("ServingNotScored",)


def gate_machine(aws: EmbeddedAws) -> str:
    """The gate's states as the ASL has them; each hand-over becomes a Pass that ends the run there."""
    states: dict[str, Any] = json.loads((ROOT / "statemachine" / "retrain.asl.json").read_text())["States"]
    taken = {name: states[name] for name in GATE_STATES}
    handed = {
        n for s in taken.values() for n in [s.get("Next"), s.get("Default")] + [c["Next"] for c in s.get("Choices", [])]
    }
    ends = {n: {"Type": "Pass", "Result": n, "ResultPath": "$.reached", "End": True} for n in handed - set(taken)}
    return make_machine(aws, {**taken, **ends}, "HasVerdict")


def job(verdict: float, **numbers: float) -> dict[str, Any]:
    """The Train state's $.candidate: each metric the job printed, as a one-value list."""
    return {
        "candidate": {"job": "nrt-m-r1", "verdict": [verdict], **{k: [v] for k, v in numbers.items()}},
        "serving_tags": {"metric": ["roc_auc"]},
    }


JUDGED = {"value": 0.91, "serving": 0.93, "rows": 40.0, "low": -0.08, "high": 0.03}


@pytest.mark.parametrize(
    ("given", "reached", "gate"),
    [
        (
            job(1, **JUDGED, quality=0.88),
            "CreateModel",
            {"candidate": 0.91, "serving": 0.93, "rows": "40", "low": -0.08, "high": 0.03, "quality": 0.88},
        ),
        (job(1, **JUDGED), "NotifyNoMetric", None),  # promoted without its quality value: nothing to tag
        (job(0, **JUDGED), "NotifyRejected", {"candidate": 0.91, "serving": 0.93, "rows": "40"}),
        (
            job(3, **JUDGED),
            "NotifyUndecided",
            {
                "reason": "40 held-out rows cannot tell them apart: roc_auc candidate - serving in [-0.08, 0.03] "
                "(95% paired bootstrap) holds both no change and a loss over the margin"
            },
        ),
        (
            job(2, rows=12.0),
            "NotifyUndecided",
            {"rows": "12", "reason": "the hold-out has 12 rows, fewer than the 30 the gate needs to judge"},
        ),
        (
            job(5, rows=63.0, minority=3.0),
            "NotifyUndecided",
            {
                "minority": "3",
                "reason": "the hold-out has 3 rows of its rarest label, fewer than the 5 the gate needs to judge",
            },
        ),
        (job(4, rows=40.0, value=0.9), "NotifyUndecided", {"candidate": 0.9, "rows": "40"}),
        (job(1, rows=40.0), "NotifyNoMetric", None),  # a verdict without the scores it needs
        ({"candidate": {"job": "j", "verdict": []}}, "NotifyNoMetric", None),  # no verdict at all
    ],
)
def test_each_verdict_of_the_training_job_reaches_its_branch_with_what_it_says(aws, given, reached, gate):
    result = sync(aws, gate_machine(aws), given)

    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["reached"] == reached
    if gate is not None:
        assert output["gate"] == {**output["gate"], **gate, "metric": "roc_auc"}
