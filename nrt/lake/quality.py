"""Live model quality: the lake's `model_quality` view beside the metric each model had at training.

The view (athena/model_quality.sql) gives every metric of a model's kind per day and over the
last 7 days. One metric per kind is compared with training (HEADLINE): F1 of the positive label
(binary, at the model's threshold), macro F1 (multi-class), MAE (regression): each is in the
training report (evaluation.json's metrics, written by nrt train) and can be computed from the
stored decision, which the gate's probability metrics (PR AUC, ROC AUC) cannot.

The rule (judge): over the last 7 days, with at least `min_labelled` labelled readings, a score
(F1, macro F1) below its training value by more than `margin` (absolute), or an error (MAE) above
its training value by more than `margin` of it (relative: an error has the label's scale), is
"below training". With fewer labelled readings there is no verdict, and it says so.

The training value is the serving model's, read as AWS reads it: the endpoint's nrt:quality_value
tag (written by nrt deploy-model, and by the retraining workflow when it promotes a model), so a
promoted model is judged by its own held-out value; the model folder's evaluation.json (the model
nrt train made) only where no tag can be read, and the verdict says which (Verdict.source).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.inference import QUALITY_HEADLINE

__all__ = [
    "EVALUATED",
    "HEADLINE",
    "INTERVALS",
    "MARGIN",
    "MIN_LABELLED",
    "TAGGED",
    "QualityWatch",
    "Tags",
    "Trained",
    "Verdict",
    "daily",
    "judge",
    "recent",
    "trained",
    "training_metrics",
    "verdicts",
]

OUTCOMES_TABLE = "OutcomesGlueTable"
MARGIN = 0.05
MIN_LABELLED = 200
HEADLINE = QUALITY_HEADLINE  # training/train.py: what the training job reports as quality_value
LOWER_IS_BETTER = {"mae", "rmse"}
# Each kind's metrics as shown, with the interval columns where the view has one.
INTERVALS: dict[str, list[tuple[str, bool]]] = {
    "binary": [("precision", True), ("recall", True), ("f1", False), ("accuracy", True)],
    "multiclass": [("accuracy", True), ("macro_f1", False)],
    "regression": [("mae", True), ("rmse", False), ("bias", True)],
}
BELOW = "below training"
TOO_FEW = "too few labelled"
OK = "ok"
UNKNOWN = "no training metric"
# Where a model's training value was read (Verdict.source).
TAGGED = "the endpoint's nrt:quality_value tag"
EVALUATED = "evaluation.json"
# The serving model's training value by its tags, {} where the endpoint has none (nrt/ops/deploy.py
# serving_quality on the running stack), for a model name.
Tags = Callable[[str], dict[str, float]]


@dataclass(frozen=True)
class Trained:
    """A model's training metrics and where they were read (TAGGED or EVALUATED)."""

    metrics: dict[str, Any]
    source: str


def trained(models: Path, model: str, tagged: Tags | None = None) -> Trained:
    """The serving model's training value from its endpoint's tags, else the model folder's
    evaluation.json (nrt train's report of the model it made)."""
    found = tagged(model) if tagged is not None else {}
    if found:
        return Trained(found, TAGGED)
    return Trained(training_metrics(models / model), EVALUATED)


@dataclass(frozen=True)
class Verdict:
    """One model's live headline metric over the last 7 days against its training value."""

    model: str
    kind: str
    metric: str
    live: float | None
    training: float | None
    labelled: int
    state: str  # BELOW, TOO_FEW, OK or UNKNOWN
    margin: float
    min_labelled: int
    source: str = TAGGED  # where `training` was read: TAGGED or EVALUATED

    def words(self) -> str:
        """What the health line says of it."""
        if self.state == TOO_FEW:
            return f"{self.model} {self.labelled} labelled of {self.min_labelled} needed to judge quality"
        if self.state == UNKNOWN:
            return f"{self.model} {self.metric} {_num(self.live)} live (no training metric to compare)"
        sign = "vs" if self.state != BELOW else ">" if self.metric in LOWER_IS_BETTER else "<"
        read = " (evaluation.json)" if self.source == EVALUATED else ""
        return (
            f"{self.model} {self.metric} {_num(self.live)} live {sign} {_num(self.training)} at training{read} "
            f"over {self.labelled} labelled"
        )


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.4g}"


def training_metrics(model_dir: Path) -> dict[str, Any]:
    """The held-out metrics nrt train measured (evaluation.json), {} for a model without them."""
    path = model_dir / "evaluation.json"
    if not path.is_file():
        return {}
    metrics = json.loads(path.read_text()).get("metrics") or {}
    return {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def judge(
    row: dict[str, Any], training: dict[str, Any], margin: float, min_labelled: int, source: str = TAGGED
) -> Verdict:
    """The rule of this module's docstring for one row of model_quality (its last-7-days row)."""
    kind = str(row["kind"])
    metric = HEADLINE[kind]
    live = row.get(metric)
    trained = training.get(metric)
    labelled = int(row.get("labelled") or 0)
    if labelled < min_labelled:
        state = TOO_FEW
    elif live is None or trained is None:
        state = UNKNOWN
    elif metric in LOWER_IS_BETTER:
        state = BELOW if live > trained * (1 + margin) else OK
    else:
        state = BELOW if live < trained - margin else OK
    value = None if live is None else float(live)
    return Verdict(str(row["model"]), kind, metric, value, trained, labelled, state, margin, min_labelled, source)


def recent(athena: Any) -> list[dict[str, Any]]:
    """Each model's row of the last 7 days (athena: a LocalAthena or anything with its execute)."""
    sql = "SELECT * FROM model_quality WHERE day IS NULL ORDER BY model"
    return list(athena.execute(sql, source="model_quality").records())


def daily(athena: Any, model: str, days: int) -> list[dict[str, Any]]:
    """A model's rows per day, the last `days` days, oldest first."""
    quoted = model.replace("'", "''")
    sql = (
        f"SELECT * FROM model_quality WHERE model = '{quoted}' AND day IS NOT NULL "
        f"AND day >= current_date - INTERVAL '{int(days) - 1}' DAY ORDER BY day"
    )
    return list(athena.execute(sql, source="model_quality").records())


def verdicts(
    athena: Any, models: Path, margin: float = MARGIN, min_labelled: int = MIN_LABELLED, tagged: Tags | None = None
) -> list[Verdict]:
    """Every model with labelled readings in the last 7 days, judged against its serving model's
    training value (tagged: its endpoint's tags; else models: the folder of nrt train's model
    folders, whose evaluation.json holds the training metrics)."""
    judged = []
    for row in recent(athena):
        found = trained(models, str(row["model"]), tagged)
        judged.append(judge(row, found.metrics, margin, min_labelled, found.source))
    return judged


@dataclass
class QualityWatch:
    """The rule applied to the local lake for the health line, at most every `every_s` seconds
    (each look opens the lake's views and runs one query)."""

    lake: Path
    models: Path
    margin: float = MARGIN
    min_labelled: int = MIN_LABELLED
    every_s: float = 60.0
    tagged: Tags | None = None  # the running stack's endpoint tags: the serving model's training value
    _at: float | None = None
    _last: list[dict[str, Any]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, now: float | None = None) -> list[dict[str, Any]]:
        """Each judged model as {model, state, words}; [{"state": "error", "words": ...}] when the
        lake cannot be read."""
        from nrt.lake.athena import LocalAthena, QueryError
        from nrt.lake.parquet import parquet_files, table_spec

        now = time.monotonic() if now is None else now
        with self._lock:
            if self._last is not None and self._at is not None and now - self._at < self.every_s:
                return self._last
            if not parquet_files(self.lake, table_spec(glue_table=OUTCOMES_TABLE)):
                self._last = []  # no outcome yet: nothing to judge, and no query to run
            else:
                try:
                    found = verdicts(LocalAthena(self.lake), self.models, self.margin, self.min_labelled, self.tagged)
                    self._last = [
                        {"model": v.model, "state": v.state, "words": v.words(), "training_from": v.source}
                        for v in found
                    ]
                except QueryError as error:
                    self._last = [{"model": "", "state": "error", "words": f"cannot read the lake: {error}"}]
            self._at = now
            return self._last
