"""`nrt train --gate-metric` and what `nrt retrain` prints of the preparation and the quality gate (issue 25)."""

from __future__ import annotations

import pytest

from nrt.cli import build_parser
from nrt.cli.models import gate_summary, preparation_summary, training_recipe
from training.gate import GATE_METRICS


def test_gate_metric_offers_exactly_the_gates_metrics_and_reaches_the_recipe(tmp_path):
    parser = build_parser()
    (tmp_path / "data.csv").write_text("a,label\n1,x\n2,y\n")

    args = parser.parse_args(
        ["train", "m", "--csv", str(tmp_path / "data.csv"), "--label", "label", "--gate-metric", "accuracy"]
    )

    assert all(parser.parse_args(["train", "m", "--gate-metric", name]).gate_metric == name for name in GATE_METRICS)
    assert training_recipe(args).gate_metric == "accuracy"
    assert parser.parse_args(["train", "m"]).gate_metric is None  # the data's default, chosen by train()
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "m", "--gate-metric", "auc"])


def test_retrain_prints_both_scores_on_the_same_rows_and_the_interval():
    output = {
        "decision": "rejected",
        "gate": {"metric": "rmse", "candidate": 63.84, "serving": 18.51, "rows": "120", "low": 40.2, "high": 57.7},
    }

    assert gate_summary(output) == (
        "rejected by the quality gate: new rmse 63.84, serving rmse 18.51 on the same 120 held-out rows "
        "(95% interval of new - serving: [40.2, 57.7])"
    )


def test_an_undecided_gate_prints_its_reason():
    output = {
        "decision": "undecided",
        "gate": {"metric": "rmse", "rows": "12", "reason": "the hold-out has 12 rows, too few"},
    }

    assert gate_summary(output) == (
        "undecided: the serving model stays: no scores on the same 12 held-out rows\n"
        "  the hold-out has 12 rows, too few"
    )


def test_retrain_prints_the_rows_each_rule_dropped_and_only_those_that_dropped_some():
    output = {
        "preparation": {
            "manifest": {
                "rows_in": 502,
                "sources": [{"file": "s3://b/data/m/a.csv"}, {"file": "s3://b/data/m/b.csv"}],
                "steps": [
                    {"rule": "duplicates", "rows_in": 502, "rows_out": 442},
                    {"rule": "unlabelled", "rows_in": 442, "rows_out": 442},
                ],
                "rows_out": {"train": 353, "holdout": 89},
                "split": "seeded (7)",
                "contract_changes": [],
            }
        }
    }

    assert preparation_summary(output) == [
        "prepared: 502 rows in from 2 files; 353 to fit, 89 held out (seeded (7)); dropped: 60 by duplicates"
    ]
    assert preparation_summary({"preparation": {"manifest": {"sources": [{"file": "synthetic"}]}}}) == [
        "prepared: synthetic"
    ]
