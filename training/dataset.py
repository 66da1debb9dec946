"""Training data: the demo's synthetic failure readings, any tabular CSV (read with pandas), or
a prepared folder (training/prepare.py's layout: train.csv, holdout.csv, manifest.json)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from training.inference import MAX_FEATURES, Kind, native

FEATURES = 3
FEATURE_COLUMNS = ("a", "b", "c")
# A numeric label with more distinct values than this (or with fractions) is a regression target.
MAX_CLASSES = 20
# The API's rule for names (template.yaml's Name schema), which named features follow too.
FEATURE_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
# The prepared layout (training/prepare.py writes it; training reads it).
PREPARED_TRAIN = "train.csv"  # the rows to fit
PREPARED_HOLDOUT = "holdout.csv"  # the rows to judge
MANIFEST = "manifest.json"  # what the preparation did
# The kind and labels (as text) the model trained on these rows gives: what POST /outcomes checks
# an outcome against once it serves (the retraining workflow copies it to signatures/<endpoint>.json).
OUTCOME_CONTRACT = "outcome_contract.json"


def is_failure(a: float, b: float, c: float) -> bool:
    """The demo's failure rule: a peak in the middle of two similar readings."""
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


@dataclass(frozen=True)
class Table:
    """Features and label of a data set, with where they came from."""

    x: pd.DataFrame
    y: pd.Series[Any]
    source: str
    label: str


def synthetic_table(rows: int, seed: int, noise: float) -> Table:
    x, y = synthetic(rows, seed=seed, noise=noise)
    return Table(pd.DataFrame(x, columns=list(FEATURE_COLUMNS)), pd.Series(y, name="label"), "synthetic", "label")


def load_csv(
    path: Path,
    label: str,
    features: list[str] | None = None,
    drop_unlabelled: bool = False,
    exclude: tuple[str, ...] = (),
) -> Table:
    """A CSV with a header: the label column, and every other column (or `features`) as features;
    `exclude` (the time column) is no feature unless named in `features`. A row without a label is
    refused, or dropped with drop_unlabelled (as preparation drops it)."""
    frame = _read_csv(path)
    wanted = _feature_columns(path, frame, label, features, exclude)
    _check_names(path, wanted)
    if drop_unlabelled:
        frame = frame[frame[label].notna()].reset_index(drop=True)
    _check_rows(path, frame, label, wanted)
    return Table(frame[wanted].copy(), frame[label], str(path), label)


def is_prepared(folder: Path) -> bool:
    """A folder in the prepared layout."""
    return all((folder / name).is_file() for name in (PREPARED_TRAIN, PREPARED_HOLDOUT, MANIFEST))


def load_prepared(
    folder: Path, label: str, features: list[str] | None = None, exclude: tuple[str, ...] = ()
) -> tuple[Table, Table]:
    """A prepared folder's rows to fit and rows to judge, each checked as a CSV is."""
    return (
        load_csv(folder / PREPARED_TRAIN, label, features, exclude=exclude),
        load_csv(folder / PREPARED_HOLDOUT, label, features, exclude=exclude),
    )


def read_manifest(folder: Path) -> dict[str, Any]:
    """A prepared folder's manifest.json."""
    found: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    return found


def _read_csv(path: Path) -> pd.DataFrame:
    """The file as a frame, its column names stripped; DatasetError when it is no CSV."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: the file is empty; expected a header row and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot be parsed as CSV: {error}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _feature_columns(
    path: Path, frame: pd.DataFrame, label: str, features: list[str] | None, exclude: tuple[str, ...] = ()
) -> list[str]:
    """The feature columns: `features`, else every column but the label and `exclude`; each one in the file."""
    if label not in frame.columns:
        raise DatasetError(f"{path}: no column {label!r} for the label; the columns are {', '.join(frame.columns)}")
    wanted = features if features is not None else [c for c in frame.columns if c not in (label, *exclude)]
    unknown = [c for c in wanted if c not in frame.columns]
    if unknown:
        raise DatasetError(
            f"{path}: no column {unknown[0]!r} (from --features); the columns are {', '.join(frame.columns)}"
        )
    if label in wanted:
        raise DatasetError(f"{path}: the label column {label!r} cannot also be a feature")
    if not wanted:
        raise DatasetError(f"{path}: no feature columns besides the label {label!r}")
    return wanted


def _check_names(path: Path, wanted: list[str]) -> None:
    """Each column can name a feature in a reading, and there are not too many."""
    badly_named = [c for c in wanted if not FEATURE_NAME.fullmatch(c)]
    if badly_named:
        suggestion = re.sub(r"[^A-Za-z0-9._-]+", "_", badly_named[0])[:128] or "x"
        raise DatasetError(
            f"{path}: column {badly_named[0]!r} cannot be a feature name: readings name features with 1-128 "
            f"letters, digits, '.', '_' and '-'; rename it (for example {suggestion!r})"
        )
    if len(wanted) > MAX_FEATURES:
        raise DatasetError(f"{path}: {len(wanted)} feature columns; at most {MAX_FEATURES}")


def _check_rows(path: Path, frame: pd.DataFrame, label: str, wanted: list[str]) -> None:
    """Data rows, no feature column empty throughout, a label in every row."""
    if frame.empty:
        raise DatasetError(f"{path}: no data rows under the header")
    empty = [c for c in wanted if frame[c].isna().all()]
    if empty:
        raise DatasetError(f"{path}: column {empty[0]!r} is empty in every row; drop it or fill it")
    unlabelled = frame.index[frame[label].isna()]
    if len(unlabelled):
        raise DatasetError(f"{path}:{int(unlabelled[0]) + 2}: no value in the label column {label!r}")


def infer_kind(y: pd.Series[Any]) -> Kind:
    """Regression for a numeric label with fractions or many values; else binary or multi-class."""
    distinct = y.nunique()
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if numeric and (distinct > MAX_CLASSES or not np.all(np.mod(y.to_numpy(dtype=float), 1) == 0)):
        return "regression"
    return "binary" if distinct == 2 else "multiclass"


def check_trainable(table: Table, kind: Kind) -> None:
    """Refuse data the kind of model cannot learn from, saying why."""
    y = table.y
    if len(y) < 10:
        raise DatasetError(f"{table.source}: {len(y)} rows; at least 10 are needed to hold some out for testing")
    if y.nunique() < 2:
        raise DatasetError(
            f"{table.source}: the label {table.label!r} is {native(y.iloc[0])!r} in every row; nothing to learn"
        )
    if kind == "regression":
        if not pd.api.types.is_numeric_dtype(y):
            raise DatasetError(f"{table.source}: a regression label must be numbers; {table.label!r} holds text")
        return
    counts = y.value_counts()
    if kind == "binary" and len(counts) != 2:
        raise DatasetError(f"{table.source}: binary classification needs 2 labels; {table.label!r} has {len(counts)}")
    rare = counts[counts < 5]
    if len(rare):
        raise DatasetError(
            f"{table.source}: label {native(rare.index[0])!r} has {int(rare.iloc[0])} rows; "
            "each label needs at least 5 to be held out for testing"
        )
