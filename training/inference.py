"""Serving code in the SageMaker scikit-learn container's contract (model_fn, input_fn,
predict_fn, output_fn). The local model host runs exactly these functions.

Request:  {"instances": [[a, b, c], ...]}  (or {"data": [a, b, c]} for one reading)
Response: {"predictions": [{"prediction": 0|1, "probability": p}, ...]}
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import joblib
import numpy as np

ARTIFACT = "model.joblib"


class InvalidInput(ValueError):
    """The request cannot be scored by this model: a client error (HTTP 400)."""

    status_code = 400


def model_fn(model_dir: str) -> Any:
    """Load the fitted estimator from the model directory."""
    return joblib.load(Path(model_dir) / ARTIFACT)


def input_fn(request_body: str | bytes, content_type: str = "application/json") -> list[list[float]]:
    """Decode a JSON request into rows of features."""
    if content_type.split(";")[0].strip() != "application/json":
        raise InvalidInput(f"content type {content_type!r} is not supported; send application/json")
    try:
        payload = json.loads(request_body)
    except ValueError as exc:
        raise InvalidInput(f"body is not JSON: {exc}") from None
    if isinstance(payload, dict) and "instances" in payload:
        rows = payload["instances"]
    elif isinstance(payload, dict) and "data" in payload:
        rows = [payload["data"]]
    else:
        raise InvalidInput('expected {"instances": [[...], ...]} or {"data": [...]}')
    if not isinstance(rows, list) or not rows:
        raise InvalidInput("instances must be a non-empty list of feature rows")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or not all(_is_number(v) for v in row):
            raise InvalidInput(f"instances[{i}] must be a list of finite numbers")
    return rows


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def predict_fn(rows: list[list[float]], model: Any) -> list[dict[str, Any]]:
    """Score rows; each needs exactly the number of features the model was trained on."""
    expected = int(model.n_features_in_)
    for i, row in enumerate(rows):
        if len(row) != expected:
            raise InvalidInput(f"instances[{i}] has {len(row)} features; this model expects {expected}")
    probabilities = model.predict_proba(np.asarray(rows, dtype=float))[:, 1]
    return [{"prediction": int(p >= 0.5), "probability": round(float(p), 6)} for p in probabilities]


def output_fn(predictions: list[dict[str, Any]], accept: str = "application/json") -> str:
    """Encode predictions as JSON."""
    return json.dumps({"predictions": predictions})
