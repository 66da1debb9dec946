"""Train a classifier on the seeds' rule and write the artifact the serving code loads."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import joblib
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

from training.dataset import synthetic
from training.inference import ARTIFACT


@dataclass(frozen=True)
class Evaluation:
    """Held-out quality of a trained model."""

    roc_auc: float
    f1: float
    test_rows: int
    positive_rate: float


def train(model_dir: Path, rows: int = 20_000, seed: int = 7) -> Evaluation:
    """Fit on synthetic readings, evaluate on a held-out 20%, save artifact and metrics."""
    x, y = synthetic(rows, seed=seed)
    if len(set(y.tolist())) < 2:
        raise ValueError("training data has a single class; a classifier cannot be fitted")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.1, random_state=seed)
    model.fit(x_train, y_train)
    scores = model.predict_proba(x_test)[:, 1]
    evaluation = Evaluation(
        roc_auc=round(float(roc_auc_score(y_test, scores)), 4),
        f1=round(float(f1_score(y_test, scores >= 0.5)), 4),
        test_rows=len(y_test),
        positive_rate=round(float(y.mean()), 4),
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / ARTIFACT)
    (model_dir / "evaluation.json").write_text(
        json.dumps({**asdict(evaluation), "trained_at": time.time(), "rows": rows, "seed": seed}, indent=2)
    )
    return evaluation
