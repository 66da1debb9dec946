"""What a model's training rows looked like, small enough to ship with the model: the reference
that live traffic is compared with for drift (`nrt drift`), without the rows themselves.

`profile.json`, beside the model, holds for each feature:
- a number: the edges of its ten training deciles (fewer when values repeat), the share of
  training rows in each bin the edges make (below the first inner edge, between two, at or above
  the last), its quantiles and its share of missing values;
- a category: the share of each of its most frequent categories (at most TOP_CATEGORIES; the
  rest together as `OTHER`) and its share of missing values.

Bins are closed below, open above: a value v is in bin i when edges[i-1] <= v < edges[i], the
first bin reaching down to minus infinity and the last up to plus infinity, so a recent value
outside the training range still lands in a bin.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.inference import Feature

__all__ = ["BINS", "OTHER", "PROFILE", "PROFILE_VERSION", "TOP_CATEGORIES", "load", "profile", "write"]

PROFILE = "profile.json"
PROFILE_VERSION = 1
BINS = 10
TOP_CATEGORIES = 20
OTHER = "(other)"  # every category past the TOP_CATEGORIES most frequent
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _number(values: pd.Series[Any]) -> dict[str, Any]:
    present = values.dropna().astype(float)
    missing = 1 - len(present) / len(values) if len(values) else 0.0
    if present.empty:
        return {"type": "number", "edges": [], "shares": [1.0], "quantiles": {}, "missing": missing}
    # The inner edges: the deciles, each kept once (a feature with few values has fewer bins).
    inner = sorted(set(np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1]).round(10).tolist()))
    counts = np.bincount(np.searchsorted(inner, present.to_numpy(), side="right"), minlength=len(inner) + 1)
    return {
        "type": "number",
        "edges": inner,
        "shares": (counts / len(present)).round(8).tolist(),
        "quantiles": {str(q): round(float(np.quantile(present, q)), 10) for q in QUANTILES},
        "missing": round(missing, 8),
    }


def _category(values: pd.Series[Any]) -> dict[str, Any]:
    present = values.dropna().astype(str)
    missing = 1 - len(present) / len(values) if len(values) else 0.0
    shares = present.value_counts(normalize=True)
    top = shares.head(TOP_CATEGORIES)
    result = {str(k): round(float(v), 8) for k, v in top.items()}
    if len(shares) > TOP_CATEGORIES:
        result[OTHER] = round(float(shares.iloc[TOP_CATEGORIES:].sum()), 8)
    return {"type": "category", "shares": result, "missing": round(missing, 8)}


def profile(x: pd.DataFrame, features: list[Feature]) -> dict[str, Any]:
    """The training rows' profile: each feature's bins or category shares, and the row count."""
    return {
        "version": PROFILE_VERSION,
        "rows": len(x),
        "features": {f.name: _number(x[f.name]) if f.type == "number" else _category(x[f.name]) for f in features},
    }


def write(model_dir: Path, x: pd.DataFrame, features: list[Feature]) -> Path:
    path = model_dir / PROFILE
    path.write_text(json.dumps(profile(x, features), indent=1))
    return path


def load(model_dir: Path) -> dict[str, Any] | None:
    """The profile saved with a model, or None for a model trained before profiles (or elsewhere)."""
    path = model_dir / PROFILE
    return json.loads(path.read_text()) if path.is_file() else None
