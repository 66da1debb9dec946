"""Train a classifier, evaluate it on held-out readings, and write what serving and people need.

Next to the artifact (model.joblib) it writes evaluation.json (precision, recall, F1, ROC
AUC, confusion matrix, class balance), roc_curve.png and model_card.json.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split

from training.dataset import FEATURE_COLUMNS, check_trainable, load_csv, synthetic
from training.inference import ARTIFACT

EVALUATION = "evaluation.json"
MODEL_CARD = "model_card.json"
ROC_CURVE = "roc_curve.png"
ALGORITHM = "HistGradientBoostingClassifier"
PARAMETERS = {"max_iter": 300, "learning_rate": 0.1}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Evaluation:
    """Held-out quality of a trained model (positive class: failure)."""

    roc_auc: float
    f1: float
    precision: float
    recall: float
    confusion_matrix: dict[str, int]  # tn, fp, fn, tp on the held-out rows
    test_rows: int
    train_rows: int
    positive_rate: float  # class balance of the whole data set


Data = tuple[NDArray[Any], NDArray[np.int64], dict[str, Any]]


def _data(rows: int, seed: int, noise: float, csv: Path | None) -> Data:
    if csv is not None:
        x, y = load_csv(csv)
        digest = hashlib.sha256(csv.read_bytes()).hexdigest()
        return x, y, {"source": str(csv), "sha256": digest, "rows": len(y)}
    x_int, y = synthetic(rows, seed=seed, noise=noise)
    return x_int, y, {"source": "synthetic: the seeds' failure rule", "rows": rows, "seed": seed, "label_noise": noise}


def _roc_png(path: Path, fpr: NDArray[Any], tpr: NDArray[Any], auc: float, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    axes.plot(fpr, tpr, color="#2563eb", linewidth=2, label=f"ROC AUC {auc:.4f}")
    axes.plot([0, 1], [0, 1], color="#9aa5b1", linestyle="--", linewidth=1, label="chance")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def train(
    model_dir: Path,
    rows: int = 20_000,
    seed: int = 7,
    noise: float = 0.0,
    csv: Path | None = None,
    name: str | None = None,
    progress: Progress = lambda _: None,
) -> Evaluation:
    """Fit on the data, evaluate on a held-out 20%, write the artifact and its reports."""
    name = name or model_dir.name
    progress(f"loading data ({'CSV ' + str(csv) if csv else f'{rows} synthetic readings'})")
    x, y, data = _data(rows, seed, noise, csv)
    check_trainable(y, str(csv) if csv else "synthetic data")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    progress(f"fitting {ALGORITHM} on {len(y_train)} rows")
    model = HistGradientBoostingClassifier(**PARAMETERS, random_state=seed)
    model.fit(x_train, y_train)
    progress(f"evaluating on {len(y_test)} held-out rows")
    scores = model.predict_proba(x_test)[:, 1]
    predicted = scores >= 0.5
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y_test, predicted, labels=[0, 1]).ravel())
    evaluation = Evaluation(
        roc_auc=round(float(roc_auc_score(y_test, scores)), 4),
        f1=round(float(f1_score(y_test, predicted, zero_division=0)), 4),
        precision=round(float(precision_score(y_test, predicted, zero_division=0)), 4),
        recall=round(float(recall_score(y_test, predicted, zero_division=0)), 4),
        confusion_matrix={"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        test_rows=len(y_test),
        train_rows=len(y_train),
        positive_rate=round(float(y.mean()), 4),
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    progress(f"writing {model_dir}")
    joblib.dump(model, model_dir / ARTIFACT)
    trained_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    report = {**asdict(evaluation), "trained_at": trained_at, "data": data}
    (model_dir / EVALUATION).write_text(json.dumps(report, indent=2) + "\n")
    fpr, tpr, _ = roc_curve(y_test, scores)
    _roc_png(model_dir / ROC_CURVE, fpr, tpr, evaluation.roc_auc, f"{name}: held-out ROC")
    (model_dir / MODEL_CARD).write_text(json.dumps(model_card(name, evaluation, data, trained_at), indent=2) + "\n")
    return evaluation


def model_card(name: str, evaluation: Evaluation, data: dict[str, Any], trained_at: str) -> dict[str, Any]:
    """What the model is, what it was trained and measured on, and how it is called."""
    return {
        "name": name,
        "trained_at": trained_at,
        "task": "binary classification: will this reading's sensor fail (1) or not (0)",
        "algorithm": {"name": ALGORITHM, "parameters": PARAMETERS},
        "framework": {"scikit-learn": sklearn.__version__, "python": platform.python_version()},
        "features": list(FEATURE_COLUMNS),
        "data": data,
        "evaluation": {**asdict(evaluation), "held_out_share": 0.2},
        "intended_use": "scoring sensor readings of the seeds' format [a, b, c] in near real time",
        "limitations": (
            "trained on synthetic readings unless data.source names a CSV; "
            "readings with another number of features are refused (HTTP 400)"
        ),
        "serving": {
            "contract": "SageMaker scikit-learn container: model_fn, input_fn, predict_fn, output_fn",
            "request": {"instances": [[12, 87, 20]]},
            "response": {"predictions": [{"prediction": 1, "probability": 0.99}]},
        },
    }
