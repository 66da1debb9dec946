"""training/gate.py on real data: the metric that fits the data, the metrics' directions, and the
verdict on the same hold-out rows (a clearly better candidate passes, a clearly worse one is
rejected, a hold-out too small or too noisy to tell them apart is undecided, with the reason)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from training import gate
from training.gate import GATE_METRICS, MIN_MINORITY_ROWS, MIN_ROWS, Verdict, decide, default_metric, metric_for


def rare_cancer() -> tuple[Any, Any]:
    """Breast cancer with malignant (the positive) cut to 30 of 387 rows: about 8% positives."""
    x, target = load_breast_cancer(return_X_y=True)
    malignant = target == 0
    rng = np.random.default_rng(0)
    keep = np.r_[np.flatnonzero(~malignant), rng.choice(np.flatnonzero(malignant), 30, replace=False)]
    return x[keep], malignant[keep]


def linear() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


@pytest.fixture(scope="module")
def rare_scores() -> tuple[Any, Any, Any]:
    """The held-out half's truth, a good model's and a weak model's positive probabilities."""
    x, y = rare_cancer()
    x_fit, x_held, y_fit, y_held = train_test_split(x, y, test_size=0.5, random_state=0, stratify=y)
    good = linear().fit(x_fit, y_fit).predict_proba(x_held)[:, 1]
    weak = linear().fit(x_fit[:, [9]], y_fit).predict_proba(x_held[:, [9]])[:, 1]  # mean fractal dimension alone
    return y_held, good, weak


def test_given_rare_positives_the_default_metric_is_pr_auc_and_balanced_binary_keeps_roc_auc():
    _, y = rare_cancer()
    _, target = load_breast_cancer(return_X_y=True)

    assert y.mean() < gate.RARE_POSITIVE_SHARE <= (target == 0).mean()
    assert default_metric("binary", y, True) == "pr_auc"
    assert default_metric("binary", target == 0, True) == "roc_auc"
    assert default_metric("multiclass", load_wine().target) == "macro_f1"
    assert default_metric("regression", load_diabetes().target) == "rmse"


def test_every_selectable_metric_has_its_kind_and_direction():
    directions = {name: (m.kind, m.higher_is_better) for name, m in GATE_METRICS.items()}

    assert directions == {
        "pr_auc": ("binary", True),
        "roc_auc": ("binary", True),
        "macro_f1": ("multiclass", True),
        "accuracy": ("multiclass", True),
        "rmse": ("regression", False),
        "mae": ("regression", False),
    }
    assert gate.LEGACY_METRIC == {"binary": "roc_auc", "multiclass": "macro_f1", "regression": "rmse"}


def test_a_metric_of_another_kind_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="does not judge a multiclass model: choose one of macro_f1, accuracy"):
        metric_for("pr_auc", "multiclass")


def test_given_rare_positives_a_clearly_better_candidate_passes_and_a_clearly_worse_one_is_rejected(rare_scores):
    y, good, weak = rare_scores
    pr_auc = GATE_METRICS["pr_auc"]

    better = decide(pr_auc, y, good, weak)
    worse = decide(pr_auc, y, weak, good)

    assert better.verdict == Verdict.NOT_WORSE and better.low is not None and better.low > 0.3
    assert better.candidate == pytest.approx(worse.serving)  # the same rows, the same scores
    assert (better.rows, better.minority_rows) == (194, 15)
    assert worse.verdict == Verdict.WORSE and worse.high is not None and worse.high < 0
    assert "worse on 194 held-out rows: pr_auc candidate - serving in [" in worse.reason


def test_the_same_model_on_both_sides_is_not_worse_with_a_zero_interval(rare_scores):
    y, good, _ = rare_scores

    same = decide(GATE_METRICS["roc_auc"], y, good, good)

    assert same.verdict == Verdict.NOT_WORSE and (same.low, same.high) == (0.0, 0.0)


def test_a_tiny_hold_out_is_undecided_with_the_reason(rare_scores):
    y, good, weak = rare_scores
    rows = np.r_[np.flatnonzero(y)[:3], np.flatnonzero(~y)[: MIN_ROWS - 10]]

    tiny = decide(GATE_METRICS["pr_auc"], y[rows], good[rows], weak[rows])

    assert tiny.verdict == Verdict.TOO_FEW_ROWS
    assert tiny.reason == f"the hold-out has {MIN_ROWS - 7} rows, fewer than the {MIN_ROWS} the gate needs to judge"
    assert tiny.candidate is not None and tiny.serving is not None  # both scored, and still not judged


def test_a_hold_out_with_too_few_positives_is_undecided_naming_them(rare_scores):
    y, good, weak = rare_scores
    rows = np.r_[np.flatnonzero(y)[: MIN_MINORITY_ROWS - 1], np.flatnonzero(~y)[:100]]

    few = decide(GATE_METRICS["pr_auc"], y[rows], good[rows], weak[rows])

    assert few.verdict == Verdict.TOO_FEW_OF_A_LABEL
    assert f"has {MIN_MINORITY_ROWS - 1} rows of its rarest label" in few.reason


def test_two_close_models_on_forty_rows_cannot_be_told_apart():
    x, target = load_breast_cancer(return_X_y=True)
    y = target == 0
    x_fit, x_held, y_fit, y_held = train_test_split(x, y, test_size=40, random_state=1, stratify=y)
    radius = LogisticRegression(max_iter=1000).fit(x_fit[:, [0]], y_fit).predict_proba(x_held[:, [0]])[:, 1]
    perimeter = LogisticRegression(max_iter=1000).fit(x_fit[:, [2]], y_fit).predict_proba(x_held[:, [2]])[:, 1]

    close = decide(GATE_METRICS["roc_auc"], y_held, radius, perimeter)

    assert close.verdict == Verdict.TOO_CLOSE
    assert close.low is not None and close.high is not None and close.low < -0.01 < 0 < close.high
    assert "40 held-out rows cannot tell them apart" in close.reason


def test_on_wine_a_fitted_model_beats_the_majority_label_by_macro_f1_and_accuracy_and_not_the_other_way_round():
    x, y = load_wine(return_X_y=True)
    x_fit, x_held, y_fit, y_held = train_test_split(x, y, test_size=0.4, random_state=0, stratify=y)
    fitted = linear().fit(x_fit, y_fit).predict(x_held)
    majority = DummyClassifier().fit(x_fit, y_fit).predict(x_held)

    assert decide(GATE_METRICS["macro_f1"], y_held, fitted, majority).verdict == Verdict.NOT_WORSE
    assert decide(GATE_METRICS["macro_f1"], y_held, majority, fitted).verdict == Verdict.WORSE
    assert decide(GATE_METRICS["accuracy"], y_held, majority, fitted).verdict == Verdict.WORSE


def test_on_diabetes_lower_error_passes_and_higher_error_is_rejected_by_rmse_and_mae():
    x, y = load_diabetes(return_X_y=True)
    x_fit, x_held, y_fit, y_held = train_test_split(x, y, test_size=0.3, random_state=0)
    ridge = Ridge().fit(x_fit, y_fit).predict(x_held)
    mean = DummyRegressor().fit(x_fit, y_fit).predict(x_held)

    better = decide(GATE_METRICS["rmse"], y_held, ridge, mean)

    assert better.verdict == Verdict.NOT_WORSE and better.candidate is not None and better.serving is not None
    assert better.candidate < better.serving and better.high is not None and better.high < 0  # lower error
    assert decide(GATE_METRICS["rmse"], y_held, mean, ridge).verdict == Verdict.WORSE
    assert decide(GATE_METRICS["mae"], y_held, mean, ridge).verdict == Verdict.WORSE


def test_a_serving_model_that_was_not_scored_leaves_the_gate_undecided_with_why(rare_scores):
    y, good, _ = rare_scores

    unscored = decide(GATE_METRICS["pr_auc"], y, good, None, "model.tar.gz does not load: EOFError")

    assert unscored.verdict == Verdict.SERVING_NOT_SCORED and unscored.serving is None
    assert unscored.reason == "the serving model was not scored on the hold-out: model.tar.gz does not load: EOFError"
