"""Live model quality against training: `nrt quality`, and the rule the health line and `nrt status`
apply (nrt/lake/quality.py), on a lake of real predictions and outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.metrics import f1_score

from nrt.lake.athena import LocalAthena
from nrt.lake.quality import BELOW, EVALUATED, OK, TAGGED, TOO_FEW, QualityWatch, judge, verdicts
from tests.helpers.outcome_lakes import Labelled, three_labelled_models, write_labelled_lake


@pytest.fixture(scope="module")
def labelled() -> list[Labelled]:
    return three_labelled_models()


@pytest.fixture(scope="module")
def state(labelled: list[Labelled], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory: the lake, and each model's training report as nrt train writes it."""
    root = tmp_path_factory.mktemp("state")
    write_labelled_lake(root / "lake", labelled)
    for name, metrics in {
        "cancer": {"f1": 0.99, "precision": 0.99, "recall": 0.99},  # far better than live: below training
        "wine": {"macro_f1": 0.5, "accuracy": 0.5},  # worse than live: fine
        "progression": {"mae": 43.0, "rmse": 54.0},
    }.items():
        (root / "models" / name).mkdir(parents=True)
        (root / "models" / name / "evaluation.json").write_text(json.dumps({"metric": "x", "metrics": metrics}))
    return root


def cancer_f1(labelled: list[Labelled]) -> float:
    cancer = labelled[0]
    return float(f1_score(cancer.truth, cancer.predicted, pos_label="malignant"))


def test_given_enough_labels_and_live_f1_far_under_training_when_judged_then_it_is_below_training(state, labelled):
    got = {v.model: v for v in verdicts(LocalAthena(state / "lake"), state / "models", min_labelled=50)}

    assert got["cancer"].state == BELOW
    assert got["cancer"].live == pytest.approx(cancer_f1(labelled), abs=1e-9)
    assert got["cancer"].training == 0.99
    assert got["wine"].state == OK
    assert (
        "cancer f1 0." in got["cancer"].words()
        and "< 0.99 at training (evaluation.json) over 171 labelled" in got["cancer"].words()
    )


def test_given_too_few_labels_then_the_verdict_says_so_and_is_no_alarm(state):
    got = {v.model: v for v in verdicts(LocalAthena(state / "lake"), state / "models")}  # 200 needed by default

    assert got["cancer"].state == TOO_FEW
    assert got["cancer"].words() == "cancer 171 labelled of 200 needed to judge quality"


def test_given_a_promoted_model_tagged_with_its_own_value_then_it_is_judged_by_the_tag_not_evaluation_json(state):
    tags = {"cancer": {"f1": 0.8}}  # the promoted model's held-out F1 (its endpoint's nrt:quality_value)

    got = {v.model: v for v in verdicts(LocalAthena(state / "lake"), state / "models", 0.05, 50, tags.get)}

    assert (got["cancer"].training, got["cancer"].source, got["cancer"].state) == (0.8, TAGGED, OK)
    assert got["cancer"].words() == "cancer f1 0.871 live vs 0.8 at training over 171 labelled"
    assert (got["wine"].training, got["wine"].source) == (0.5, EVALUATED)  # no tag: the folder's report


def test_an_error_metric_is_below_training_when_it_grows_past_the_margin_as_a_share():
    row = {"model": "price", "kind": "regression", "mae": 10.6, "labelled": 500}

    assert judge(row, {"mae": 10.0}, 0.05, 200).state == BELOW  # 10.6 > 10.5
    assert judge(row, {"mae": 10.2}, 0.05, 200).state == OK  # 10.6 < 10.71
    assert judge({**row, "mae": 10.0}, {"mae": 12.0}, 0.05, 200).state == OK


def test_nrt_quality_prints_each_day_with_intervals_beside_the_training_metric(state, capsys):
    from nrt.cli import main

    assert main(["quality", "cancer", "--state-dir", str(state), "--min-labelled", "50"]) == 0
    out = capsys.readouterr().out.splitlines()

    assert (
        out[0]
        == "nrt quality cancer: binary, f1 at training 0.9900 (evaluation.json: no running stack to read its tags)"
    )
    assert out[1].startswith("last 7 days: below training: cancer f1 ")
    assert out[2].split() == [
        "day",
        "labelled",
        "precision",
        "[95",
        "%]",
        "recall",
        "[95",
        "%]",
        "f1",
        "accuracy",
        "[95",
        "%]",
    ]
    day = out[3].split()
    assert day[1] == "171" and day[2].startswith("0.") and day[3].startswith("[0.")


def test_nrt_quality_json_holds_the_days_and_the_verdict(state, labelled, capsys):
    from nrt.cli import main

    assert main(["quality", "progression", "--state-dir", str(state), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)

    assert got["training"] == {"mae": 43.0, "rmse": 54.0}
    assert got["training_from"] == "evaluation.json: no running stack to read its tags"
    assert got["last_7_days"]["state"] == TOO_FEW and got["last_7_days"]["labelled"] == len(labelled[2].truth)
    assert sum(day["labelled"] for day in got["days"]) == len(labelled[2].truth)


def test_nrt_quality_of_a_model_without_outcomes_says_where_they_come_from(tmp_path, capsys):
    from nrt.cli import main

    assert main(["quality", "nosuch", "--state-dir", str(tmp_path)]) == 0
    assert "no labelled readings of this model" in capsys.readouterr().out


def test_the_health_line_names_a_model_below_training_and_says_too_few_labels_without_alarm(state):
    from nrt import health

    strict = QualityWatch(state / "lake", state / "models", min_labelled=50).report()
    waiting = QualityWatch(state / "lake", state / "models").report()

    below = health.line({"quality": strict})
    assert (
        "quality below training: cancer f1 0.871 live < 0.99 at training (evaluation.json) over 171 labelled" in below
    )
    quiet = health.line({"quality": waiting})
    assert "below training" not in quiet
    assert "quality: cancer 171 labelled of 200 needed to judge quality; " in quiet


def test_the_watch_runs_no_query_without_outcomes_and_looks_again_only_after_its_interval(state, tmp_path):
    empty = QualityWatch(tmp_path / "lake", tmp_path / "models", every_s=60)
    assert empty.report(now=0.0) == []

    watch = QualityWatch(state / "lake", state / "models", min_labelled=50, every_s=60)
    first = watch.report(now=0.0)
    watch.min_labelled = 10_000  # a new look would find too few labels
    assert watch.report(now=59.0) is first
    assert [q["state"] for q in watch.report(now=61.0)] == [TOO_FEW] * 3


def test_nrt_status_with_other_settings_judges_the_lake_again_with_them(state, monkeypatch, capsys):
    from nrt.cli import main, stack

    served = {"readings_per_s": 0.0, "quality": [{"model": "cancer", "state": TOO_FEW, "words": "as the stack judged"}]}
    monkeypatch.setattr(stack, "get_local", lambda args, path: dict(served))

    assert main(["status", "--state-dir", str(state)]) == 0
    assert "quality: as the stack judged" in capsys.readouterr().out
    assert main(["status", "--state-dir", str(state), "--min-labelled", "50"]) == 0
    assert (
        "quality below training: cancer f1 0.871 live < 0.99 at training (evaluation.json) over 171 labelled"
        in capsys.readouterr().out
    )
