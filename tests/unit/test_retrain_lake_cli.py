"""`nrt retrain NAME --from-lake`: the workflow input it sends and what it prints of the lake's data set."""

from __future__ import annotations

import pytest

from nrt.cli import build_parser
from nrt.cli.models import gate_summary, preparation_summary, retrain_input


def test_from_lake_sends_the_source_and_only_the_options_given():
    parser = build_parser()

    assert retrain_input(parser.parse_args(["retrain", "pump", "--from-lake"])) == {"model": "pump", "source": "lake"}
    assert retrain_input(
        parser.parse_args(["retrain", "pump", "--from-lake", "--min-labels", "500", "--holdout-days", "7"])
    ) == {"model": "pump", "source": "lake", "min_labels": 500, "holdout_days": 7}
    assert retrain_input(parser.parse_args(["retrain", "pump", "--from-recipe", "--holdout-share", "0.3"])) == {
        "model": "pump",
        "source": "recipe",
        "holdout_share": 0.3,
    }
    assert retrain_input(parser.parse_args(["retrain", "pump"])) == {"model": "pump"}  # the stack's RetrainSource


@pytest.mark.parametrize(
    "argv",
    [
        ["--from-lake", "--from-recipe"],
        ["--holdout-days", "7", "--holdout-share", "0.2"],
        ["--min-labels", "0"],
        ["--holdout-share", "1.5"],
    ],
)
def test_conflicting_or_impossible_lake_options_are_refused(argv):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["retrain", "pump", *argv])


def test_retrain_prints_where_a_lake_retraining_learned_and_why_too_few_labels_stopped_it():
    promoted = {
        "preparation": {
            "manifest": {
                "rows_in": 569,
                "sources": [{"file": "s3://results/results/q.csv"}],
                "steps": [],
                "rows_out": {"train": 455, "holdout": 114},
                "split": "time: the newest 114 rows by 'reading_time'",
                "lake": {
                    "labelled_readings": 569,
                    "first_reading": "2026-11-06T03:00:00+00:00",
                    "last_reading": "2026-11-29T22:00:00+00:00",
                    "label_balance": {"0": 357, "1": 212},
                    "holdout": "the newest 20%",
                },
            }
        }
    }
    refused = {
        "decision": "undecided",
        "gate": {
            "metric": "roc_auc",
            "reason": "preparation refused: too few labelled readings: 50 in the lake, the gate needs at least 200",
        },
    }

    assert preparation_summary(promoted)[0] == (
        "from the lake: 569 labelled readings (2026-11-06T03:00:00+00:00 to 2026-11-29T22:00:00+00:00; 0 357, 1 212); "
        "held out: the newest 20%"
    )
    assert gate_summary(refused) == (
        "undecided: the serving model stays: no scores\n"
        "  preparation refused: too few labelled readings: 50 in the lake, the gate needs at least 200"
    )
