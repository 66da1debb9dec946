"""A lake of real predictions by three models of different kinds, for the dashboard's tests.

Each model is fitted on a scikit-learn data set (no download) and scores held-out rows with the
project's serving code (training/inference.py); each answer becomes the item the inference
workflow's PutPrediction writes, then a Kinesis-for-DynamoDB change record, which the local
stream's writer hands to the real Firehose transform and writes as Parquet (nrt/lake/stream.py).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nrt.lake.firehose import Pending, kds_change_record, load_transform
from nrt.lake.parquet import table_spec
from nrt.lake.stream import Checkpoint, LakeWriter
from training.inference import Model, predict, signature_from_estimator

# The readings span the last hour (the page's time axis), arriving up to this late.
SPAN_MINUTES = 60
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
START_MS = int(NOW.timestamp() * 1000) - SPAN_MINUTES * 60_000
DIGITS = [str(d) for d in range(10)]


@dataclass(frozen=True)
class Scored:
    """One model's readings and its answers to them."""

    model: str
    rows: list[list[float]]
    answers: list[dict[str, Any]]


def _fitted(name: str, estimator: Any, x: Any, y: Any, kind: str | None = None) -> Scored:
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.3, random_state=0)
    estimator.fit(x_train, y_train)
    model = Model(estimator, signature_from_estimator(estimator, kind))  # type: ignore[arg-type]
    rows = [[round(float(v), 4) for v in row] for row in x_test]
    return Scored(name, rows, predict(rows, model))


def score_three_models() -> list[Scored]:
    """A binary model (breast cancer: benign or malignant), a 10-label one (digits 0..9) and a
    regressor (diabetes progression), each on its held-out rows."""
    cancer = load_breast_cancer()
    names = np.asarray(cancer.target_names)[cancer.target]  # benign / malignant, as text
    digits = load_digits()
    diabetes = load_diabetes()
    return [
        _fitted("cancer", make_pipeline(StandardScaler(), LogisticRegression()), cancer.data, names),
        _fitted("digits", RandomForestClassifier(n_estimators=20, random_state=0), digits.data, digits.target),
        _fitted("progression", Ridge(), diabetes.data, diabetes.target),
    ]


def no_probabilities() -> Scored:
    """A binary model without predict_proba (labels yes/no): its rows hold no probabilities."""
    answers = [
        {"kind": "binary", "prediction": label, "probability": None, "probabilities": None}
        for label in ["yes", "no", "no", "yes", "no", "no"]
    ]
    return Scored("svm", [[float(i)] for i in range(len(answers))], answers)


def _item(model: str, sensor: str, ts: int, reading: list[float], answer: dict[str, Any]) -> dict[str, Any]:
    """The item PutPrediction writes (statemachine/inference.asl.json), in DynamoDB JSON."""
    endpoint = f"nrt-{model}"
    plain = {
        "sensor": sensor,
        "timestamp_endpoint": f"{ts}#{endpoint}",
        "event_id": f"{sensor}:{ts}",
        "model": model,
        "endpoint": endpoint,
        "kind": answer["kind"],
        "prediction": json.dumps(answer["prediction"]),
        "probability": json.dumps(answer["probability"]),
        "probabilities": json.dumps(answer["probabilities"]),
        "reading": json.dumps({"sensor": sensor, "timestamp": ts, "data": reading}),
        "predicted_at": datetime.datetime.fromtimestamp(ts / 1000, datetime.UTC).isoformat(),
    }
    return {**{k: {"S": v} for k, v in plain.items()}, "timestamp": {"N": str(ts)}}


def write_three_kinds_lake(lake: Path, scored: list[Scored], lag_ms: int = 450) -> Path:
    """Every answer through the real transform into the lake; readings spread evenly over the
    last SPAN_MINUTES, a sensor per reading, each arriving lag_ms after its reading."""
    writer = LakeWriter(
        lake,
        Checkpoint(lake.parent / f"{lake.name}-checkpoint.json"),
        load_transform(),
        table_spec(),
        "us-east-1",
        "arn:aws:kinesis:us-east-1:123456789012:stream/nrt-local-predictions",
        "arn:aws:firehose:us-east-1:123456789012:deliverystream/nrt-local-predictions",
    )
    sequence = 0
    for one in scored:
        step = SPAN_MINUTES * 60_000 // len(one.rows)
        for i, (reading, answer) in enumerate(zip(one.rows, one.answers, strict=True)):
            ts = START_MS + i * step
            item = _item(one.model, f"{one.model}-sensor-{i:03d}", ts, reading, answer)
            record = {
                "eventID": f"{one.model}-{i}",
                "eventName": "INSERT",
                "dynamodb": {
                    "ApproximateCreationDateTime": ts + 20,
                    "Keys": {k: item[k] for k in ("sensor", "timestamp_endpoint")},
                    "NewImage": item,
                    "SizeBytes": len(json.dumps(item)),
                },
            }
            change = kds_change_record(record, "nrt-local-predictions", "us-east-1")
            sequence += 1
            writer.add(Pending(f"{sequence:08d}", "shardId-000000000000", ts + lag_ms, json.dumps(change).encode()))
        writer.flush()
    return lake
