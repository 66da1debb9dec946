"""A lake of real predictions and their outcomes, for live model quality.

Three models are fitted on scikit-learn data sets (no download): a binary one (breast cancer,
benign or malignant), a multi-class one (wine, three cultivars) and a regressor (diabetes
progression). Each scores its held-out rows with the serving code; the answers go through the
real Firehose transform into the lake (tests/helpers/kind_lakes.py), and the true labels or
values are written beside them as the outcomes table's rows, matched on model and event_id.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nrt.lake.parquet import TableSpec, table_spec, write_rows
from tests.helpers.kind_lakes import NOW, SPAN_MINUTES, START_MS, Scored, write_three_kinds_lake
from training import profile
from training.inference import SIGNATURE, Model, predict, signature_from_estimator
from training.train import features_of

OUTCOMES = "OutcomesGlueTable"


@dataclass(frozen=True)
class Labelled:
    """One model's scored readings and what really happened for each."""

    scored: Scored
    truth: list[Any]  # a label (classifiers) or a number (regression) per reading
    served: Model | None = None
    x_train: Any = None  # the rows it was fitted on, for its training profile

    @property
    def model(self) -> str:
        return self.scored.model

    def event_id(self, i: int) -> str:
        """The event_id the workflow gives reading i (write_three_kinds_lake's sensor and time)."""
        step = SPAN_MINUTES * 60_000 // len(self.scored.rows)
        return f"{self.model}-sensor-{i:03d}:{START_MS + i * step}"

    @property
    def predicted(self) -> list[Any]:
        return [a["prediction"] for a in self.scored.answers]


def _fitted(name: str, estimator: Any, x: Any, y: Any, size: float = 0.3) -> Labelled:
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=size, random_state=0)
    estimator.fit(x_train, y_train)
    model = Model(estimator, signature_from_estimator(estimator))
    rows = [[round(float(v), 4) for v in row] for row in x_test]
    truth = [str(v) if isinstance(v, np.str_ | str) else v for v in y_test.tolist()]
    return Labelled(Scored(name, rows, predict(rows, model)), truth, model, x_train)


def three_labelled_models() -> list[Labelled]:
    """Binary (a weak model, so it errs both ways), multi-class and regression, on held-out rows."""
    cancer = load_breast_cancer()
    names = np.asarray(cancer.target_names)[cancer.target]
    wine = load_wine()
    cultivars = np.asarray([f"cultivar_{c}" for c in wine.target])
    diabetes = load_diabetes()
    return [
        _fitted("cancer", make_pipeline(StandardScaler(), LogisticRegression()), cancer.data[:, :2], names),
        _fitted("wine", make_pipeline(StandardScaler(), LogisticRegression()), wine.data[:, :3], cultivars),
        _fitted("progression", Ridge(), diabetes.data, diabetes.target),
    ]


def outcome_row(spec: TableSpec, labelled: Labelled, i: int, change: str = "INSERT", **extra: Any) -> dict[str, Any]:
    """One outcomes row as the lake holds it, keyed as the delivery stream's records are."""
    event_id = labelled.event_id(i)
    sensor, ts = event_id.rsplit(":", 1)
    truth = labelled.truth[i]
    changed_at = int(NOW.timestamp() * 1000) + i
    row: dict[str, Any] = {
        "event_id": event_id,
        "model": labelled.model,
        "sensor": sensor,
        "ts": int(ts),
        "label": None if isinstance(truth, float) else str(truth),
        "value": truth if isinstance(truth, float) else None,
        "observed_at": NOW.isoformat(),
        "change_type": change,
        "changed_at": changed_at,
        "ingested_at": changed_at + 500,
        "dedup_key": f"{event_id}:{labelled.model}:{change}:{changed_at}",
    }
    row.update(extra)
    return {spec.json_keys.get(column, column): value for column, value in row.items()}


def write_outcomes(lake: Path, labelled: list[Labelled], name: str = "outcomes.parquet") -> None:
    """Every reading's outcome, once."""
    spec = table_spec(glue_table=OUTCOMES)
    rows = [outcome_row(spec, one, i) for one in labelled for i in range(len(one.truth))]
    write_rows(lake, spec, rows, NOW, name)


def write_labelled_lake(lake: Path, labelled: list[Labelled]) -> Path:
    """The predictions through the real transform, and every outcome."""
    write_three_kinds_lake(lake, [one.scored for one in labelled])
    write_outcomes(lake, labelled)
    return lake


def arrival(days_ago: int = 0) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days_ago)


def write_model_folder(models: Path, labelled: Labelled, metrics: dict[str, float]) -> Path:
    """The model's folder as nrt train leaves it, as far as quality and drift read it: its
    signature, its training profile and its held-out metrics (evaluation.json)."""
    assert labelled.served is not None
    folder = models / labelled.model
    folder.mkdir(parents=True, exist_ok=True)
    signature = labelled.served.signature
    (folder / SIGNATURE).write_text(signature.to_json())
    x = pd.DataFrame(labelled.x_train, columns=signature.feature_names)
    profile.write(folder, x, features_of(x))
    metric, value = next(iter(metrics.items()))  # the first stands for the gate's metric
    report = {"metric": metric, "value": value, "higher_is_better": metric != "mae", "metrics": metrics}
    (folder / "evaluation.json").write_text(json.dumps(report))
    return folder
