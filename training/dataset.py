"""Synthetic labelled readings from the seeds' failure rule."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

FEATURES = 3


def is_failure(a: float, b: float, c: float) -> bool:
    """The seeds' rule: a peak in the middle of two similar readings."""
    return b - a > 50 and b - c > 50 and abs(a - c) < 20


def synthetic(n: int = 20_000, seed: int = 7, noise: float = 0.0) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """n readings of three integers 0-99, half drawn near the failure shape; labels by the rule.

    `noise` flips that fraction of labels, to mimic sensor mislabelling.
    """
    if n <= 0:
        raise ValueError("n must be positive")
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 100, size=(n, FEATURES))
    # Uniform draws hit the rule ~2% of the time; plant peaks so both classes are well represented.
    planted = rng.random(n) < 0.3
    a = rng.integers(0, 40, size=n)
    x[planted, 0] = a[planted]
    x[planted, 1] = np.minimum(99, a[planted] + rng.integers(40, 70, size=n)[planted])
    x[planted, 2] = np.clip(a[planted] + rng.integers(-25, 26, size=n)[planted], 0, 99)
    y = np.array([int(is_failure(*row)) for row in x], dtype=np.int64)
    if noise > 0:
        flip = rng.random(n) < noise
        y[flip] = 1 - y[flip]
    return x.astype(np.int64), y


class DatasetError(ValueError):
    """The data cannot train a model; the message says what is wrong and where."""


FEATURE_COLUMNS = ("a", "b", "c")
LABEL_COLUMN = "label"


def load_csv(path: Path) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """A user's labelled readings: a CSV with the header a,b,c,label (label 0 or 1)."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in (*FEATURE_COLUMNS, LABEL_COLUMN) if c not in header]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}; expected a,b,c,label")
        features: list[list[float]] = []
        labels: list[int] = []
        for line, row in enumerate(reader, start=2):
            try:
                values = [float(row[c]) for c in FEATURE_COLUMNS]
            except (TypeError, ValueError):
                raise DatasetError(f"{path}:{line}: a, b and c must be numbers") from None
            if not all(math.isfinite(v) for v in values):
                raise DatasetError(f"{path}:{line}: a, b and c must be finite")
            label = (row[LABEL_COLUMN] or "").strip()
            if label not in ("0", "1"):
                raise DatasetError(f"{path}:{line}: label must be 0 or 1, not {label!r}")
            features.append(values)
            labels.append(int(label))
    return np.asarray(features, dtype=np.float64).reshape(-1, FEATURES), np.asarray(labels, dtype=np.int64)


def check_trainable(y: NDArray[np.int64], source: str) -> None:
    """Refuse data a classifier cannot learn from, saying why."""
    if len(y) == 0:
        raise DatasetError(f"{source}: no rows to train on")
    classes = set(y.tolist())
    if len(classes) < 2:
        only = "failures" if classes == {1} else "non-failures"
        raise DatasetError(f"{source}: every row is one class ({only}); a classifier needs both")
    if min(int((y == 0).sum()), int((y == 1).sum())) < 5:
        raise DatasetError(f"{source}: fewer than 5 rows of one class; too few to hold some out for testing")
