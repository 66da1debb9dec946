"""Retraining on production data: the lake's labelled readings as a training set.

The retraining workflow's QueryLake state runs athena/training_set.sql (each of one model's
scored readings in its latest state, joined with its latest outcome, oldest first) and Athena
writes the result as CSV. This turns that CSV into the model's columns (the features from the
reading's `input` JSON, as the model was given them; the label or value from the outcome; the
reading's time, which splits the rows) and hands it to the same preparation step as a recipe's
CSV files (training/prepare.py), with the hold-out chosen by time: the newest readings, so the
gate judges the candidate and the serving model on what the model faces now. Too few labelled
readings is refused before anything is trained, with a reason the workflow recognises
(TOO_FEW_LABELS).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from training.dataset import MANIFEST, PREPARED_TRAIN, load_csv
from training.inference import SIGNATURE, Signature, native
from training.prepare import (
    CONTRACT_REFUSED,
    NEWEST_SHARE,
    Holdout,
    PreparationRefused,
    candidate_differences,
    copy_code,
    csv_files,
    prepare,
    recorded_recipe,
    serving_contract,
)
from training.train import features_of

TIME = "reading_time"  # the column the lake's training set is split by (the reading's time, UTC)
TOO_FEW_LABELS = "too few labelled readings"  # the workflow's gate reads this at the start of the reason
DEFAULT_MIN_LABELS = 100
# The query's columns (athena/training_set.sql), in order.
QUERY_COLUMNS = ["event_id", "sensor", "reading_ms", "input", "label", "value", "observed_at"]


def _features(given: Any, names: list[str]) -> dict[str, Any]:
    """One reading's input as the model's columns: a list in the signature's order, or named values."""
    if isinstance(given, dict):
        return {name: given.get(name) for name in names}
    if isinstance(given, list) and len(given) == len(names):
        return dict(zip(names, given, strict=True))
    raise PreparationRefused(
        f"a reading's input {json.dumps(given)[:80]} does not give the model's {len(names)} features"
    )


def _label(value: Any, known: dict[str, Any]) -> Any:
    """An outcome's label (text in the lake) as the model's label (a number when it was trained on numbers)."""
    return known.get(str(value), value)


def training_frame(result: pd.DataFrame, signature: Signature, label: str) -> pd.DataFrame:
    """The query's rows as the model's training columns, the label under the recipe's name and the
    reading's time as ISO 8601 (TIME)."""
    missing = [c for c in QUERY_COLUMNS if c not in result.columns]
    if missing:
        raise PreparationRefused(f"the lake's training set has no column {missing[0]!r} (athena/training_set.sql)")
    names = signature.feature_names
    rows = [_features(json.loads(text), names) for text in result["input"]]
    frame = pd.DataFrame(rows, columns=names)
    if signature.kind == "regression":
        frame[label] = pd.to_numeric(result["value"]).to_numpy()
    else:
        known = {str(native(v)): native(v) for v in signature.labels or []}
        frame[label] = [_label(v, known) for v in result["label"]]
    frame[TIME] = (
        pd.to_datetime(result["reading_ms"], unit="ms", utc=True)
        .map(lambda t: t.isoformat(timespec="milliseconds"))
        .to_numpy()
    )
    return frame


def check_enough(frame: pd.DataFrame, label: str, min_labels: int) -> None:
    """PreparationRefused (TOO_FEW_LABELS) when fewer labelled readings than asked are in the lake."""
    labelled = int(frame[label].notna().sum())
    if labelled < min_labels:
        raise PreparationRefused(
            f"{TOO_FEW_LABELS}: {labelled} in the lake, the gate needs at least {min_labels} (--min-labels)"
        )


def data_set(frame: pd.DataFrame, label: str, kind: str, holdout: Holdout) -> dict[str, Any]:
    """The lake data set's facts for the manifest and the model card: rows, date range, labels."""
    stamps = pd.to_datetime(frame[TIME], utc=True, format="ISO8601")
    found: dict[str, Any] = {
        "source": "lake",
        "query": "athena/training_set.sql",
        "labelled_readings": len(frame),
        "first_reading": stamps.min().isoformat(),
        "last_reading": stamps.max().isoformat(),
        "holdout": f"the last {holdout.days:g} days" if holdout.days is not None else f"the newest {holdout.share:.0%}",
    }
    if kind == "regression":
        values = frame[label].astype(float)
        found["value_range"] = {"min": float(values.min()), "max": float(values.max()), "mean": float(values.mean())}
    else:
        counts = frame[label].astype(str).value_counts().sort_index()
        found["label_balance"] = {str(k): int(v) for k, v in counts.items()}
    return found


def guard_contract(output: Path, signature: Signature, label: str, contract_change: bool) -> list[str]:
    """The candidate's contract (its features as training will derive them from the prepared rows)
    against the served one: PreparationRefused (CONTRACT_REFUSED) when they differ, unless the
    change was asked for (--contract-change), when the differences are returned for the manifest.
    Production data can lose what the served model takes: a rare category, a missing value."""
    fitted = load_csv(output / PREPARED_TRAIN, label, signature.feature_names, exclude=(TIME,))
    differences = candidate_differences(signature.features, features_of(fitted.x))
    if differences and not contract_change:
        listed = "; ".join(str(d) for d in differences)
        raise PreparationRefused(
            f"{CONTRACT_REFUSED}: {listed[:700]} (retrain with --contract-change to change it on purpose)"
        )
    return [str(d) for d in differences]


def prepare_lake_channel(
    source: Path,
    lake: Path,
    output: Path,
    uri: str = "",
    serving: Path | None = None,
    min_labels: int = DEFAULT_MIN_LABELS,
    holdout: Holdout = NEWEST_SHARE,
    contract_change: bool = False,
) -> dict[str, Any]:
    """The recipe folder's recipe (and code), the serving model's contract and the lake's training
    set (the query's CSV result in `lake`) into the prepared layout; the manifest carries the
    data set's facts under "lake"."""
    raw, recipe = serving_contract(source, serving)
    copy_code(source, output)
    signature = Signature.from_dict(raw)
    # The lake holds the served contract's features and the reading's time, which splits the rows
    # and is no feature: the model trained on them takes exactly the served features.
    recipe = {**recipe, "features": signature.feature_names}
    label = str(recipe["label"])
    results = csv_files(lake)
    if not results:
        raise PreparationRefused("no CSV result of the lake query to prepare")
    frame = training_frame(pd.read_csv(results[0], dtype={"label": str, "input": str}), signature, label)
    check_enough(frame, label, min_labels)
    facts = {**data_set(frame, label, signature.kind, holdout), "min_labels": min_labels}
    with tempfile.TemporaryDirectory(prefix="lake-") as scratch:
        merged = Path(scratch) / "training_set.csv"
        frame.to_csv(merged, index=False)
        lake_recipe = {**recipe, "time_column": TIME}
        found = prepare([merged], output, lake_recipe, signature, contract_change, uri, holdout)
    found["contract_changes"] += guard_contract(output, signature, label, contract_change)
    found["lake"] = facts
    (output / MANIFEST).write_text(json.dumps(found, indent=2) + "\n")
    (output / SIGNATURE).write_text(json.dumps({**raw, "recipe": recorded_recipe(recipe, found, uri)}, indent=2) + "\n")
    return found
