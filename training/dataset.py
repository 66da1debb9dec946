"""Synthetic labelled readings from the seeds' failure rule."""

from __future__ import annotations

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
