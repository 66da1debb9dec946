"""ROC AUC and PR AUC of `nrt train` on imbalanced binary data, to compare two checkouts on one split.

    .venv/bin/python -m benchmarks.imbalance [--rows 40000] [--seed 7] [--class-weight balanced|none] [--tuned 20]

Writes two CSVs into a temporary directory: make_classification with weights [0.995] (0.5 %
positives), and load_breast_cancer with all but 12 malignant rows dropped. Trains each with
training.train.train as imported (so PYTHONPATH=<other checkout> measures that checkout's code on
the same files and the same held-out 20 %), then a default HistGradientBoostingClassifier and a
balanced one as a notebook would fit them on that same split, and prints one JSON line per data set.

With --tuned N, also `nrt train --tune --trials N` and a tuned notebook model: scikit-learn's
RandomizedSearchCV of N draws over the same space (training/tune.py's SPACE, log-uniform, with
class_weight balanced or none), scored by average precision over 3 stratified folds of the same
training rows, refitted on all of them.

Calibration, side by side: the held-out Brier score and expected calibration error (ECE, 10
equal-count bins) of the served probabilities and, where the artifact is a CalibratedClassifierCV,
of the mean of its boosters' own probabilities before recalibration, with the mean predicted probability
beside the positive rate.
"""

from __future__ import annotations

import argparse
import inspect
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold, train_test_split

from training import train as training


def made(rows: int, seed: int, flip_y: float = 0.01) -> pd.DataFrame:
    """make_classification: 20 features, 0.5 % positives, flip_y of the labels drawn at random."""
    x, y = make_classification(
        n_samples=rows, n_features=20, n_informative=8, weights=[0.995], flip_y=flip_y, random_state=seed
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    frame["label"] = y
    return frame


def cancer(seed: int, positives: int = 12) -> pd.DataFrame:
    """load_breast_cancer with the malignant class (relabelled 1) cut to a few rows."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame["label"] = 1 - frame.pop("target")  # 1: malignant
    rare = frame[frame.label == 1].sample(positives, random_state=seed)
    return pd.concat([frame[frame.label == 0], rare]).sample(frac=1, random_state=seed).reset_index(drop=True)


def held_out(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.Series[Any]]:
    """The held-out 20 % that train judges on (the same split, seed and stratification)."""
    x, y = frame.drop(columns="label"), frame["label"]
    _, x_test, _, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    return x_test, y_test


def calibration(y: Any, p: Any) -> dict[str, float]:
    """Brier score, ECE over 10 equal-count bins, and the mean predicted probability."""
    truth, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    return {
        "brier": round(float(brier_score_loss(y, p)), 6),
        "ece": round(float(np.mean(np.abs(truth - predicted))), 6),
        "mean_p": round(float(np.mean(p)), 5),
    }


def calibrations(model: Any, x: pd.DataFrame, y: pd.Series[Any]) -> dict[str, Any]:
    """The served probabilities' calibration and, for a recalibrated artifact, its booster's own."""
    served = {"served": calibration(y, model.predict_proba(x.to_numpy())[:, 1]), "positive_rate": float(y.mean())}
    if isinstance(model, CalibratedClassifierCV):
        boosters = [pair.estimator.predict_proba(x.to_numpy())[:, 1] for pair in model.calibrated_classifiers_]
        served["uncalibrated"] = calibration(y, np.mean(boosters, axis=0))
    return served


def notebook(frame: pd.DataFrame, seed: int, class_weight: str | None) -> dict[str, float]:
    """A notebook's model on the same held-out 20 % that train uses."""
    x, y = frame.drop(columns="label"), frame["label"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    model = HistGradientBoostingClassifier(class_weight=class_weight, random_state=seed).fit(x_train, y_train)
    p = model.predict_proba(x_test)[:, 1]
    return {
        "roc_auc": round(float(roc_auc_score(y_test, p)), 4),
        "pr_auc": round(float(average_precision_score(y_test, p)), 4),
    }


def notebook_tuned(frame: pd.DataFrame, seed: int, draws: int) -> dict[str, Any]:
    """A notebook's tuned model: a randomized search over nrt's space (and the class weights) by CV PR AUC."""
    from scipy.stats import loguniform  # type: ignore[import-untyped]

    from training.tune import SPACE

    x, y = frame.drop(columns="label"), frame["label"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    space: dict[str, Any] = {
        name: loguniform(r.low, r.high) if r.type == "float" else list(range(int(r.low), int(r.high) + 1))
        for name, r in SPACE.items()
    }
    search = RandomizedSearchCV(
        HistGradientBoostingClassifier(random_state=seed),
        {**space, "class_weight": [None, "balanced"]},
        n_iter=draws,
        scoring="average_precision",
        cv=StratifiedKFold(3, shuffle=True, random_state=seed),
        random_state=seed,
    )
    started = time.perf_counter()
    search.fit(x_train, y_train)
    p = search.predict_proba(x_test)[:, 1]
    return {
        "roc_auc": round(float(roc_auc_score(y_test, p)), 4),
        "pr_auc": round(float(average_precision_score(y_test, p)), 4),
        "best": {k: round(v, 4) if isinstance(v, float) else v for k, v in search.best_params_.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }


def nrt_train(
    frame: pd.DataFrame, seed: int, class_weight: str | None, directory: Path, trials: int = 0
) -> dict[str, Any]:
    """`nrt train --csv` on the frame, as the imported checkout does it."""
    csv = directory / "data.csv"
    frame.to_csv(csv, index=False)
    recipe = training.Recipe(str(csv), "label", None, "binary", seed=seed)
    if class_weight and "class_weight" in inspect.signature(training.Recipe).parameters:
        recipe = training.Recipe(**{**asdict(recipe), "class_weight": class_weight})
    started = time.perf_counter()
    if trials:
        from training.tune import tuner

        evaluation = training.train(directory / "model", recipe, tuner=tuner(trials=trials, timeout=3600))
    else:
        evaluation = training.train(directory / "model", recipe)
    seconds = round(time.perf_counter() - started, 1)
    card = json.loads((directory / "model" / training.MODEL_CARD).read_text())
    return {
        "roc_auc": evaluation.metrics["roc_auc"],
        "pr_auc": evaluation.metrics["pr_auc"],
        "f1": evaluation.metrics["f1"],
        "threshold": evaluation.metrics["threshold"],
        "iterations": card["algorithm"].get("fitting", {}).get("iterations", "not reported"),
        "train_seconds": seconds,
        "calibration": calibrations(joblib.load(directory / "model" / "model.joblib"), *held_out(frame, seed)),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--flip-y", type=float, default=0.01, help="make_classification's label noise")
    parser.add_argument("--class-weight", choices=["balanced", "none"], help="default: the checkout's own")
    parser.add_argument("--tuned", type=int, default=0, help="N: also nrt train --tune and a notebook search, N trials")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    for name, frame in (
        (f"make_classification flip_y {args.flip_y}", made(args.rows, args.seed, args.flip_y)),
        ("breast_cancer_12", cancer(args.seed)),
    ):
        with tempfile.TemporaryDirectory() as directory:
            result = {
                "data": name,
                "rows": len(frame),
                "positives": int(np.sum(frame["label"])),
                "nrt_train": nrt_train(frame, args.seed, args.class_weight, Path(directory)),
                "notebook_default": notebook(frame, args.seed, None),
                "notebook_balanced": notebook(frame, args.seed, "balanced"),
            }
            if args.tuned:
                tuned_dir = Path(directory) / "tuned"
                tuned_dir.mkdir()
                result["nrt_train_tuned"] = nrt_train(frame, args.seed, args.class_weight, tuned_dir, args.tuned)
                result["notebook_tuned"] = notebook_tuned(frame, args.seed, args.tuned)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
