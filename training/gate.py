"""The retraining quality gate: the candidate and the serving model scored on the same held-out
rows, in the model's chosen metric, and a verdict that says when the rows cannot tell them apart.

Metrics (GATE_METRICS): binary pr_auc or roc_auc (of the positive label's probability),
multi-class macro_f1 or accuracy (of the predicted label), regression rmse or mae.
Default (default_metric): binary with positives under RARE_POSITIVE_SHARE of the rows -> pr_auc
(ROC AUC hardly moves when the few positives are ranked worse), other binary -> roc_auc,
multi-class -> macro_f1 (every label counts the same), regression -> rmse. A model trained before
the metric could be chosen keeps its kind's metric (LEGACY_METRIC).

The verdict (decide), with d = candidate - serving turned so that d > 0 means the candidate is
better, and MARGIN the difference too small to matter:
  - too few rows: fewer than MIN_ROWS hold-out rows, or (classifiers) fewer than
    MIN_MINORITY_ROWS of the rarest label: undecided, the serving model stays;
  - otherwise a paired bootstrap (BOOTSTRAP_RESAMPLES resamples of the hold-out rows, the same
    rows for both models, seeded with BOOTSTRAP_SEED) gives a CONFIDENCE interval of d:
      upper bound < 0          -> worse: rejected;
      lower bound >= -margin   -> not worse by more than the margin: promoted;
      else                     -> the interval holds both "no worse" and "worse by more than the
                                  margin": the rows cannot tell them apart, undecided.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    mean_absolute_error,
    roc_auc_score,
    root_mean_squared_error,
)

from training.inference import Kind

RARE_POSITIVE_SHARE = 0.10  # binary: positives below this share of the rows -> pr_auc by default
MIN_ROWS = 30  # hold-out rows below this: undecided, whatever the scores
MIN_MINORITY_ROWS = 5  # classifiers: rows of the rarest label below this: undecided
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20_251_205
CONFIDENCE = 0.95  # two-sided interval of the paired difference
# A difference smaller than this does not matter: absolute for scores in [0, 1], a share of the
# serving model's value for errors (rmse, mae), whose scale is the label's.
SCORE_MARGIN = 0.01
ERROR_MARGIN_SHARE = 0.01

Scorer = Callable[[Any, Any], float]


@dataclass(frozen=True)
class Metric:
    """A gate metric: the kind it judges, its direction, and what of a model's output it reads."""

    name: str
    kind: Kind
    higher_is_better: bool
    reads: str  # "probability" (binary: of the positive label), "label" or "value"
    score: Scorer

    def margin(self, serving: float) -> float:
        return SCORE_MARGIN if self.higher_is_better else ERROR_MARGIN_SHARE * abs(serving)


def _macro_f1(y: Any, predicted: Any) -> float:
    return float(f1_score(y, predicted, average="macro", zero_division=0))


GATE_METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("pr_auc", "binary", True, "probability", average_precision_score),
        Metric("roc_auc", "binary", True, "probability", roc_auc_score),
        Metric("macro_f1", "multiclass", True, "label", _macro_f1),
        Metric("accuracy", "multiclass", True, "label", accuracy_score),
        Metric("rmse", "regression", False, "value", root_mean_squared_error),
        Metric("mae", "regression", False, "value", mean_absolute_error),
    )
}
LEGACY_METRIC: dict[str, str] = {"binary": "roc_auc", "multiclass": "macro_f1", "regression": "rmse"}


class Verdict(IntEnum):
    """What the gate says, as the number the training job prints for the workflow to branch on."""

    WORSE = 0  # rejected: the serving model stays
    NOT_WORSE = 1  # promoted
    TOO_FEW_ROWS = 2  # undecided: the hold-out is too small to judge
    TOO_CLOSE = 3  # undecided: the hold-out cannot tell the two apart
    SERVING_NOT_SCORED = 4  # undecided: the serving model could not be scored on the hold-out
    TOO_FEW_OF_A_LABEL = 5  # undecided: the hold-out has too few rows of its rarest label


@dataclass(frozen=True)
class Judgement:
    """Both models' scores on the same rows, the interval of their difference, and the verdict."""

    metric: str
    verdict: Verdict
    reason: str
    rows: int
    minority_rows: int | None
    candidate: float | None  # None: not scorable on these rows (a binary hold-out of one label)
    serving: float | None
    low: float | None = None  # the interval of candidate - serving (raw difference, in metric units)
    high: float | None = None


def metric_for(name: str, kind: Kind) -> Metric:
    """The named metric, checked against the model's kind; ValueError lists the kind's choices."""
    choices = [m.name for m in GATE_METRICS.values() if m.kind == kind]
    metric = GATE_METRICS.get(name)
    if metric is None or metric.kind != kind:
        raise ValueError(f"--gate-metric {name!r} does not judge a {kind} model: choose one of {', '.join(choices)}")
    return metric


def default_metric(kind: Kind, y: Any, positive: Any = None) -> str:
    """The gate metric that fits the data (the module's docstring states the rule)."""
    if kind != "binary":
        return LEGACY_METRIC[kind]
    truth = np.asarray(y) == positive
    return "pr_auc" if truth.mean() < RARE_POSITIVE_SHARE else "roc_auc"


def score(metric: Metric, y: Any, output: Any) -> float:
    """The metric of one model's output (a probability, a label or a value per row) on labels y."""
    return float(metric.score(y, output))


def decide(metric: Metric, y: Any, candidate: Any, serving: Any | None, serving_error: str | None = None) -> Judgement:
    """The verdict on one hold-out: y its labels (binary: True for the positive label), candidate and
    serving each model's output per row (serving None, with serving_error, when it could not be scored)."""
    truth = np.asarray(y)
    rows = len(truth)
    minority = _minority_rows(metric, truth)
    scorable = rows > 0 and minority != 0
    mine = score(metric, truth, candidate) if scorable else None
    if serving is None:
        reason = f"the serving model was not scored on the hold-out: {serving_error}"
        return Judgement(metric.name, Verdict.SERVING_NOT_SCORED, reason, rows, minority, mine, None)
    theirs = score(metric, truth, serving) if scorable else None
    too_few = _too_few(rows, minority)
    if too_few is not None or mine is None or theirs is None:
        verdict, reason = too_few or (Verdict.TOO_FEW_OF_A_LABEL, _too_few_of_a_label(minority or 0))
        return Judgement(metric.name, verdict, reason, rows, minority, mine, theirs)
    low, high = paired_interval(metric, truth, np.asarray(candidate), np.asarray(serving))
    verdict, reason = _verdict(metric, rows, low, high, metric.margin(theirs))
    return Judgement(metric.name, verdict, reason, rows, minority, mine, theirs, low, high)


def _verdict(metric: Metric, rows: int, low: float, high: float, margin: float) -> tuple[Verdict, str]:
    """The module docstring's rule on the interval of candidate - serving."""
    sign = 1.0 if metric.higher_is_better else -1.0
    better_low, better_high = sorted((sign * low, sign * high))
    interval = f"{metric.name} candidate - serving in [{low:.4f}, {high:.4f}] ({CONFIDENCE:.0%} paired bootstrap)"
    if better_high < 0:
        return Verdict.WORSE, f"worse on {rows} held-out rows: {interval}"
    if better_low >= -margin:
        return Verdict.NOT_WORSE, f"not worse by more than {margin:.4g} on {rows} held-out rows: {interval}"
    return Verdict.TOO_CLOSE, (
        f"{rows} held-out rows cannot tell them apart: {interval} holds both no change and "
        f"a loss over the margin {margin:.4g}"
    )


def _minority_rows(metric: Metric, truth: NDArray[Any]) -> int | None:
    """Rows of the rarest label (0 when a binary hold-out lacks one of its two), None for regression."""
    if metric.kind == "regression":
        return None
    counts = np.unique(truth, return_counts=True)[1]
    if metric.kind == "binary" and len(counts) < 2:
        return 0
    return int(counts.min()) if len(counts) else 0


def _too_few(rows: int, minority: int | None) -> tuple[Verdict, str] | None:
    if rows < MIN_ROWS:
        return Verdict.TOO_FEW_ROWS, f"the hold-out has {rows} rows, fewer than the {MIN_ROWS} the gate needs to judge"
    if minority is not None and minority < MIN_MINORITY_ROWS:
        return Verdict.TOO_FEW_OF_A_LABEL, _too_few_of_a_label(minority)
    return None


def _too_few_of_a_label(minority: int) -> str:
    return (
        f"the hold-out has {minority} rows of its rarest label, fewer than the {MIN_MINORITY_ROWS} "
        "the gate needs to judge"
    )


def paired_interval(
    metric: Metric, y: NDArray[Any], candidate: NDArray[Any], serving: NDArray[Any]
) -> tuple[float, float]:
    """The CONFIDENCE percentile interval of candidate - serving over bootstrap resamples of the rows,
    each resample scoring both models on the same rows; resamples without both classes are skipped
    for the binary metrics, which need both."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    differences = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        rows = rng.integers(0, len(y), len(y))
        drawn = y[rows]
        if metric.kind == "binary" and (drawn.all() or not drawn.any()):
            continue
        differences.append(score(metric, drawn, candidate[rows]) - score(metric, drawn, serving[rows]))
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return float(low), float(high)
