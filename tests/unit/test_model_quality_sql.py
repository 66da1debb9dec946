"""athena/model_quality.sql and labelled_predictions.sql: live quality from predictions joined
with outcomes, checked against scikit-learn's metrics and SciPy's Wilson interval on real data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    recall_score,
    root_mean_squared_error,
)

from nrt.lake.athena import LocalAthena
from nrt.lake.parquet import table_spec, write_rows
from tests.helpers.kind_lakes import NOW
from tests.helpers.outcome_lakes import OUTCOMES, Labelled, outcome_row, three_labelled_models, write_labelled_lake

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def labelled() -> list[Labelled]:
    return three_labelled_models()


@pytest.fixture(scope="module")
def quality(labelled: list[Labelled], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    lake = write_labelled_lake(tmp_path_factory.mktemp("lake"), labelled)
    rows = LocalAthena(lake).execute("SELECT * FROM model_quality WHERE day IS NULL").records()
    return {r["model"]: r for r in rows}


def wilson(successes: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def by_name(labelled: list[Labelled], name: str) -> Labelled:
    return next(one for one in labelled if one.model == name)


def test_given_a_binary_model_with_outcomes_when_queried_then_its_figures_are_scikit_learns(labelled, quality):
    cancer = by_name(labelled, "cancer")
    got = quality["cancer"]
    truth, predicted = np.asarray(cancer.truth), np.asarray(cancer.predicted)
    positive = "malignant"  # the greater label: its probability is the lake's probability

    assert got["kind"] == "binary" and got["positive_label"] == positive
    assert got["labelled"] == len(truth)
    assert got["accuracy"] == pytest.approx(accuracy_score(truth, predicted), abs=TOLERANCE)
    assert got["precision"] == pytest.approx(precision_score(truth, predicted, pos_label=positive), abs=TOLERANCE)
    assert got["recall"] == pytest.approx(recall_score(truth, predicted, pos_label=positive), abs=TOLERANCE)
    assert got["f1"] == pytest.approx(f1_score(truth, predicted, pos_label=positive), abs=TOLERANCE)
    assert got["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"), abs=TOLERANCE)
    assert 0 < got["recall"] < 1 and 0 < got["precision"] < 1  # the model errs both ways: a real check


def test_given_a_binary_model_then_each_proportion_has_wilsons_interval(labelled, quality):
    cancer = by_name(labelled, "cancer")
    got = quality["cancer"]
    truth, predicted = np.asarray(cancer.truth), np.asarray(cancer.predicted)
    tp = int(((predicted == "malignant") & (truth == "malignant")).sum())
    pairs = {
        "accuracy": (int((truth == predicted).sum()), len(truth)),
        "precision": (tp, int((predicted == "malignant").sum())),
        "recall": (tp, int((truth == "malignant").sum())),
    }

    for metric, (successes, n) in pairs.items():
        low, high = wilson(successes, n)
        assert got[f"{metric}_low"] == pytest.approx(low, abs=TOLERANCE), metric
        assert got[f"{metric}_high"] == pytest.approx(high, abs=TOLERANCE), metric
        assert got[f"{metric}_low"] < got[metric] < got[f"{metric}_high"]


def test_given_a_multiclass_model_then_accuracy_and_macro_f1_are_scikit_learns_and_binary_figures_are_absent(
    labelled, quality
):
    wine = by_name(labelled, "wine")
    got = quality["wine"]

    assert got["kind"] == "multiclass" and got["labelled"] == len(wine.truth)
    assert got["accuracy"] == pytest.approx(accuracy_score(wine.truth, wine.predicted), abs=TOLERANCE)
    assert got["macro_f1"] == pytest.approx(f1_score(wine.truth, wine.predicted, average="macro"), abs=TOLERANCE)
    assert got["precision"] is None and got["recall"] is None and got["f1"] is None and got["mae"] is None


def test_given_a_regressor_then_mae_rmse_and_bias_are_scikit_learns_with_normal_intervals(labelled, quality):
    progression = by_name(labelled, "progression")
    got = quality["progression"]
    actual, predicted = np.asarray(progression.truth, dtype=float), np.asarray(progression.predicted, dtype=float)
    errors = predicted - actual
    z = stats.norm.ppf(0.975)

    assert got["kind"] == "regression" and got["labelled"] == len(actual)
    assert got["mae"] == pytest.approx(mean_absolute_error(actual, predicted), abs=TOLERANCE)
    assert got["rmse"] == pytest.approx(root_mean_squared_error(actual, predicted), abs=TOLERANCE)
    assert got["bias"] == pytest.approx(errors.mean(), abs=TOLERANCE)
    for metric, sample in (("mae", np.abs(errors)), ("bias", errors)):
        half = z * sample.std(ddof=1) / math.sqrt(len(sample))
        assert got[f"{metric}_low"] == pytest.approx(sample.mean() - half, abs=TOLERANCE), metric
        assert got[f"{metric}_high"] == pytest.approx(sample.mean() + half, abs=TOLERANCE), metric
    assert got["accuracy"] is None and got["macro_f1"] is None


def test_given_outcomes_corrected_redelivered_removed_or_unmatched_then_only_the_latest_match_counts(
    labelled, tmp_path: Path
):
    cancer = by_name(labelled, "cancer")
    lake = write_labelled_lake(tmp_path, [cancer])
    spec = table_spec(glue_table=OUTCOMES)
    flipped = {"benign": "malignant", "malignant": "benign"}
    later = int(NOW.timestamp() * 1000) + 60_000
    first = outcome_row(spec, cancer, 0)
    corrected = outcome_row(spec, cancer, 1, "MODIFY", label=flipped[cancer.truth[1]], changed_at=later)
    removed = outcome_row(spec, cancer, 2, "REMOVE", changed_at=later)
    unmatched = {**outcome_row(spec, cancer, 3), "event_id": "nobody:1", "dedup_key": "nobody"}
    write_rows(lake, spec, [first, corrected, removed, unmatched], NOW, "later.parquet")  # first: redelivered
    truth = [flipped[t] if i == 1 else t for i, t in enumerate(cancer.truth)]
    kept = [i for i in range(len(truth)) if i != 2]

    got = LocalAthena(lake).execute("SELECT * FROM model_quality WHERE day IS NULL").records()[0]

    assert got["labelled"] == len(kept)
    assert got["accuracy"] == pytest.approx(
        accuracy_score([truth[i] for i in kept], [cancer.predicted[i] for i in kept]), abs=TOLERANCE
    )


def test_given_readings_of_one_day_then_the_day_row_and_the_seven_day_row_agree(quality, labelled, tmp_path):
    lake = write_labelled_lake(tmp_path, labelled[1:2])
    rows = LocalAthena(lake).execute("SELECT * FROM model_quality ORDER BY day NULLS LAST").records()
    days = [r for r in rows if r["day"] is not None]

    assert sum(r["labelled"] for r in days) == rows[-1]["labelled"] == len(labelled[1].truth)
    assert rows[-1]["day"] is None


def test_given_a_small_sample_then_its_interval_is_wide(labelled, tmp_path):
    cancer = by_name(labelled, "cancer")
    small = Labelled(
        type(cancer.scored)("cancer", cancer.scored.rows[:10], cancer.scored.answers[:10]), cancer.truth[:10]
    )
    lake = write_labelled_lake(tmp_path, [small])

    got = LocalAthena(lake).execute("SELECT * FROM model_quality WHERE day IS NULL").records()[0]

    assert got["labelled"] == 10
    assert got["accuracy_high"] - got["accuracy_low"] > 0.25
