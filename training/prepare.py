"""Data preparation: a declared, versioned step between the raw CSV files and training.

Its rules are data (RULES), applied in order: drop exact duplicate rows, drop rows without a
label, coerce each feature to the contract's type, the outlier rules, then split the rows to fit
from the rows to judge (the newest when a time column exists, else a seeded split, stratified
for classifiers). Before any of that, when the model has a signature, each CSV file is checked
against it (columns, types, nullability, categories, labels; in the retraining workflow, the
signature inside the serving model's model.tar.gz, so a promoted contract change lasts): a file
that does not fit is refused, naming the file and the column, unless the run is a deliberate
contract change.

It writes the prepared layout that training reads: signature.json (the signature with its
recipe recording the real sources), train.csv, holdout.csv and manifest.json (rows in and out
per rule, the date range, the label balance or range, the sources with their sha256, the version).

On AWS it is the retraining workflow's SageMaker Processing job (in the scikit-learn image, from
the same training.tar.gz as the training job): `python -m training.prepare --input DIR --output
DIR`; a refusal is written to /opt/ml/output/message, which DescribeProcessingJob shows as
ExitMessage. Locally the embedded AWS runs the same module, and `nrt train --csv` calls prepare().
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tarfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from training.dataset import MANIFEST, OUTCOME_CONTRACT
from training.dataset import PREPARED_HOLDOUT as HOLDOUT
from training.dataset import PREPARED_TRAIN as TRAIN
from training.inference import SIGNATURE, Feature, Signature, native, outcome_contract
from training.train import features_of

PREPARATION_VERSION = "1"
HOLDOUT_SHARE = 0.2
# Regression labels beyond these fences (Tukey's "far out": 3 interquartile ranges past the
# quartiles) are dropped: a handful of extreme targets dominates a squared error.
FAR_OUT = 3.0
RULES: dict[str, str] = {
    "duplicates": "drop rows that repeat an earlier row in every column",
    "unlabelled": "drop rows without a value in the label column",
    "types": "coerce each feature to the contract's type: numbers to numbers (a value that is no number is "
    "refused), categories to text; missing values stay missing",
    "infinite": "drop rows with an infinite number in a feature (a reading cannot carry one)",
    "outliers": f"regression: drop rows whose label is beyond {FAR_OUT:g} interquartile ranges past the "
    "quartiles; feature values are kept as they are (trees split on order, and extreme values such as a "
    "large amount carry signal); classifiers: no outlier rule",
    "split": f"the newest {HOLDOUT_SHARE:.0%} of the rows by the time column are held out when one exists; "
    f"else a seeded {HOLDOUT_SHARE:.0%} split, stratified by label for classifiers",
}
# The container's exit message: DescribeProcessingJob's ExitMessage (its first 1 KB).
EXIT_MESSAGE = Path("/opt/ml/output/message")


# The "file" of a difference between the candidate's contract and the served one (candidate_differences).
CANDIDATE = "the candidate"
# How training/lake_data.py's refusal of a candidate whose contract differs starts (the workflow's
# RefusedData tells it from the other refusals by it).
CONTRACT_REFUSED = "the candidate's contract differs from the served one"


class PreparationRefused(ValueError):
    """The data cannot be prepared as the recipe asks: the message names the file and the column."""


@dataclass(frozen=True)
class Mismatch:
    """One way a file departs from the model's contract."""

    file: str
    column: str
    what: str

    def __str__(self) -> str:
        return f"{self.file}: column {self.column!r}: {self.what}"


@dataclass(frozen=True)
class Contract:
    """What a file must hold to be merged: the model's features, its label and the labels it gives."""

    features: list[Feature]
    label: str
    labels: list[Any] | None  # None: regression
    every_column: bool  # the recipe takes every column but the label as a feature
    time_column: str | None = None  # splits the rows: each file needs it, its dates are no contract

    @classmethod
    def of(cls, signature: Signature, time: str | None = None) -> Contract:
        recipe = signature.recipe or {}
        return cls(signature.features, str(recipe["label"]), signature.labels, recipe.get("features") is None, time)


@dataclass
class Prepared:
    """The rows to fit and the rows to judge, and what each rule did."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    rules: list[dict[str, Any]] = field(default_factory=list)
    time_column: str | None = None
    split: str = ""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV as pandas reads it, its column names stripped."""
    frame = pd.read_csv(path, skipinitialspace=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


# --- the contract ---------------------------------------------------------------------------


def check_contract(name: str, frame: pd.DataFrame, contract: Contract) -> list[Mismatch]:
    """Each way the file departs from the contract: missing or extra columns, a type, a missing
    value where the model takes none, a category or a label the model does not know. Rows
    without a label are left out: the preparation drops them, so they change no contract."""
    found = _check_columns(name, frame, contract)
    if contract.label in frame.columns:
        frame = frame[frame[contract.label].notna()]
    for feature in contract.features:
        if feature.name in frame.columns and feature.name != contract.time_column:  # new dates are no new contract
            found += _check_feature(name, frame[feature.name], feature)
    if contract.labels is not None and contract.label in frame.columns:
        known = {str(v) for v in contract.labels}
        new = sorted({str(native(v)) for v in frame[contract.label].dropna()} - known)
        if new:
            found.append(Mismatch(name, contract.label, f"label {new[0]!r} is not one the model gives ({_few(known)})"))
    return found


def _check_columns(name: str, frame: pd.DataFrame, contract: Contract) -> list[Mismatch]:
    """The contract's columns the file lacks, and (when every column is a feature) those it adds."""
    wanted = [f.name for f in contract.features]
    found = [
        Mismatch(name, c, "missing: the model takes it") for c in [*wanted, contract.label] if c not in frame.columns
    ]
    found += _check_time(name, frame, contract)
    if contract.every_column:
        extra = [c for c in frame.columns if c not in (*wanted, contract.label, contract.time_column)]
        found += [Mismatch(name, c, "not in the model's contract (a new feature)") for c in extra]
    return found


def _check_time(name: str, frame: pd.DataFrame, contract: Contract) -> list[Mismatch]:
    """The time column, when it is no feature: each file needs it (its dates are no contract)."""
    time = contract.time_column
    if time is None or time in frame.columns or time in [f.name for f in contract.features]:
        return []
    return [Mismatch(name, time, "missing: the time column that splits the rows (the newest held out)")]


def _check_feature(name: str, column: pd.Series[Any], feature: Feature) -> list[Mismatch]:
    found = []
    present = column.dropna()
    if not feature.nullable and len(present) < len(column):
        found.append(
            Mismatch(
                name, feature.name, f"{len(column) - len(present)} empty values; the model takes none (not nullable)"
            )
        )
    if feature.type == "number":
        numbers = pd.to_numeric(present, errors="coerce")
        wrong = present[numbers.isna()]
        if len(wrong):
            found.append(
                Mismatch(name, feature.name, f"{wrong.iloc[0]!r} is not a number, and the model takes numbers")
            )
    else:
        new = sorted({str(v) for v in present} - set(feature.categories or []))
        if new:
            found.append(
                Mismatch(
                    name, feature.name, f"category {new[0]!r} is not one the model knows ({_few(feature.categories)})"
                )
            )
    return found


def candidate_differences(served: list[Feature], candidate: list[Feature]) -> list[Mismatch]:
    """Each way the contract a model trained on the prepared rows would have (its features as
    training derives them) departs from the served one: names, kinds, the categories either takes,
    missing values the served model takes and the candidate would refuse."""
    mine = {f.name: f for f in candidate}
    found = [
        Mismatch(CANDIDATE, f.name, "the served model takes it, the candidate would not")
        for f in served
        if f.name not in mine
    ]
    theirs = {f.name for f in served}
    found += [
        Mismatch(CANDIDATE, f.name, "the candidate would take it, the served model does not")
        for f in candidate
        if f.name not in theirs
    ]
    for feature in (f for f in served if f.name in mine):
        found += _feature_differences(feature, mine[feature.name])
    return found


def _feature_differences(served: Feature, candidate: Feature) -> list[Mismatch]:
    if served.type != candidate.type:
        return [Mismatch(CANDIDATE, served.name, f"a {served.type} when served, a {candidate.type} in the candidate")]
    found = []
    if served.nullable and not candidate.nullable:
        found.append(
            Mismatch(CANDIDATE, served.name, "the served model takes a missing value, the candidate would not")
        )
    return found + _category_differences(served, candidate)


def _category_differences(served: Feature, candidate: Feature) -> list[Mismatch]:
    """The categories the candidate would refuse, then those it would take anew."""
    theirs, mine = set(served.categories or []), set(candidate.categories or [])
    found = []
    if lost := sorted(theirs - mine):
        what = f"category {lost[0]!r} is served and unknown to the candidate ({_few(lost)})"
        found.append(Mismatch(CANDIDATE, served.name, what))
    if (gained := sorted(mine - theirs)) and served.categories is not None:
        found.append(Mismatch(CANDIDATE, served.name, f"category {gained[0]!r} is new in the candidate"))
    return found


def _more(mismatches: list[Mismatch]) -> str:
    """The rest of a refusal: every file and column at fault, and what to do."""
    columns: dict[str, list[str]] = {}
    for m in mismatches:
        columns.setdefault(m.file, []).append(m.column)
    at_fault = "; ".join(f"{file}: {', '.join(dict.fromkeys(names))}" for file, names in columns.items())
    return (
        f"{len(mismatches)} difference{'s' if len(mismatches) > 1 else ''} from the serving model's contract "
        f"({at_fault[:600]}): fix the file, or retrain with --contract-change to change the contract on purpose"
    )


def _few(values: Any) -> str:
    shown = sorted(str(v) for v in values or [])
    return ", ".join(shown[:8]) + (f", ... ({len(shown)} in all)" if len(shown) > 8 else "")


# --- the rules ------------------------------------------------------------------------------


def _count(rules: list[dict[str, Any]], rule: str, before: pd.DataFrame, after: pd.DataFrame, **more: Any) -> None:
    rules.append({"rule": rule, "rows_in": len(before), "rows_out": len(after), **more})


def coerce(frame: pd.DataFrame, features: list[Feature]) -> pd.DataFrame:
    """Numbers as floats, categories as text, missing as missing; PreparationRefused on a value
    that is no number where a number is due."""
    out = frame.copy()
    for f in features:
        if f.type == "number":
            numbers = pd.to_numeric(out[f.name], errors="coerce")
            wrong = out[f.name][numbers.isna() & out[f.name].notna()]
            if len(wrong):
                raise PreparationRefused(f"column {f.name!r}: {wrong.iloc[0]!r} is not a number")
            out[f.name] = numbers.astype("float64")
        else:
            out[f.name] = out[f.name].map(lambda v: v if pd.isna(v) else str(native(v))).astype("object")
    return out


def far_out(label: pd.Series[Any]) -> tuple[float, float]:
    """The regression label's fences: FAR_OUT interquartile ranges past the quartiles."""
    q1, q3 = (float(q) for q in label.quantile([0.25, 0.75]))
    return q1 - FAR_OUT * (q3 - q1), q3 + FAR_OUT * (q3 - q1)


def is_time(column: pd.Series[Any]) -> bool:
    """A text column whose every value is a date or time (ISO 8601)."""
    present = column.dropna()
    if pd.api.types.is_numeric_dtype(column) or not len(present):
        return False
    return bool(pd.to_datetime(present.astype(str), errors="coerce", format="ISO8601", utc=True).notna().all())


def time_column(frame: pd.DataFrame, label: str, named: str | None = None) -> str | None:
    """The column that splits the rows by time: the one named (the recipe's), else the first
    column but the label whose every value is a date or time (ISO 8601), if any."""
    if named is not None:
        return named
    return next((str(c) for c in frame.columns if c != label and is_time(frame[c])), None)


def times(column: pd.Series[Any]) -> pd.Series[Any]:
    """The time column's values as UTC timestamps (missing stays missing); PreparationRefused at
    one that is no date."""
    parsed = pd.to_datetime(column.astype(str), errors="coerce", format="ISO8601", utc=True)
    wrong = column[parsed.isna() & column.notna()]
    if len(wrong):
        raise PreparationRefused(
            f"column {column.name!r}: {wrong.iloc[0]!r} is not an ISO 8601 date or time, and this column "
            "splits the rows by time (the newest held out)"
        )
    return parsed


@dataclass(frozen=True)
class Holdout:
    """Which rows the gate judges on when a time column splits them: the newest share, or every
    row of the last `days` days (of the newest row's time)."""

    share: float = HOLDOUT_SHARE
    days: float | None = None


NEWEST_SHARE = Holdout()  # the default: the newest HOLDOUT_SHARE of the rows


def apply_rules(
    frame: pd.DataFrame,
    features: list[Feature],
    label: str,
    kind: str,
    seed: int,
    time: str | None = None,
    holdout: Holdout = NEWEST_SHARE,
) -> Prepared:
    """RULES in order: the rows to fit and to judge, and rows in and out of each rule. The time
    column is kept with the rows (to split them) whether or not it is a feature."""
    rules: list[dict[str, Any]] = []
    wanted = [f.name for f in features]
    if time is not None and time not in frame.columns:
        raise PreparationRefused(f"no column {time!r}: the time column that splits the rows (the newest held out)")
    data = frame[[*wanted, label, *([time] if time is not None and time not in wanted else [])]]
    kept = data.drop_duplicates()
    _count(rules, "duplicates", data, kept)
    data, kept = kept, kept[kept[label].notna()]
    _count(rules, "unlabelled", data, kept)
    data = kept
    kept = coerce(data, features)
    _count(rules, "types", data, kept)
    data = kept
    numbers = [f.name for f in features if f.type == "number"]
    kept = data[~np.isinf(data[numbers].to_numpy(dtype=float)).any(axis=1)] if numbers else data
    _count(rules, "infinite", data, kept)
    data = kept
    if kind == "regression":
        low, high = far_out(data[label].astype(float))
        kept = data[data[label].astype(float).between(low, high)]
        _count(rules, "outliers", data, kept, label_fences=[round(low, 6), round(high, 6)])
    else:
        _count(rules, "outliers", data, data)
    return _split(kept, time, label, kind, seed, rules, holdout)


def _time_cut(ordered: pd.DataFrame, column: str, holdout: Holdout) -> tuple[int, str]:
    """Where the time-ordered rows split: the first held-out row, and how it was chosen."""
    if holdout.days is None:
        cut = len(ordered) - max(1, round(len(ordered) * holdout.share))
        return cut, f"time: the newest {len(ordered) - cut} rows by {column!r}"
    stamps = times(ordered[column])
    since = stamps.max() - pd.Timedelta(days=holdout.days)
    cut = min(max(1, int((stamps <= since).sum())), len(ordered) - 1)
    return cut, f"time: the {len(ordered) - cut} rows of the last {holdout.days:g} days by {column!r}"


def _split(
    data: pd.DataFrame,
    column: str | None,
    label: str,
    kind: str,
    seed: int,
    rules: list[dict[str, Any]],
    holdout: Holdout = NEWEST_SHARE,
) -> Prepared:
    if len(data) < 2:
        raise PreparationRefused(f"{len(data)} rows left after the rules; nothing to split")
    if column is not None:
        order = np.argsort(times(data[column]).to_numpy(dtype="datetime64[ns]"), kind="stable")  # no date: last
        ordered = data.iloc[order]
        cut, how = _time_cut(ordered, column, holdout)
        return Prepared(ordered.iloc[:cut], ordered.iloc[cut:], rules, column, how)
    counts = data[label].value_counts()
    stratify = data[label] if kind != "regression" and counts.min() >= 2 else None
    train, held = train_test_split(data, test_size=holdout.share, random_state=seed, stratify=stratify)
    how = f"seeded ({seed}){', stratified by label' if stratify is not None else ''}"
    return Prepared(train, held, rules, None, how)


# --- the step -------------------------------------------------------------------------------


def csv_files(folder: Path) -> list[Path]:
    """The recipe folder's CSV files, its serving code aside."""
    return sorted(f for f in folder.rglob("*.csv") if "code" not in f.relative_to(folder).parts)


def _mismatches(
    files: list[Path], frames: list[pd.DataFrame], contract: Contract | None, contract_change: bool
) -> list[Mismatch]:
    """Every file's departures from the contract; PreparationRefused unless they are a contract change."""
    if contract is None:
        return []
    found = [m for path, frame in zip(files, frames, strict=True) for m in check_contract(path.name, frame, contract)]
    if found and not contract_change:
        raise PreparationRefused(f"{found[0]}; {_more(found)}")
    return found


def _source(path: Path, frame: pd.DataFrame, uri: str) -> dict[str, Any]:
    """A source as the manifest and the recipe record it: its name (under uri) or path, sha256 and rows."""
    return {"file": f"{uri}{path.name}" if uri else str(path), "sha256": sha256(path), "rows": len(frame)}


def _merged_features(merged: pd.DataFrame, recipe: dict[str, Any], label: str, time: str | None) -> list[Feature]:
    """The features as the merged data has them: the recipe's, else every column but the label and
    the recipe's time column (an older recipe names none: its date column stays a feature)."""
    return features_of(merged[recipe.get("features") or [c for c in merged.columns if c not in (label, time)]])


def prepare_frames(
    files: list[Path],
    features: list[Feature] | None,
    recipe: dict[str, Any],
    contract: Contract | None,
    contract_change: bool,
    uri: str = "",
    holdout: Holdout = NEWEST_SHARE,
) -> tuple[Prepared, dict[str, Any]]:
    """Check each file against the contract, merge them and apply the rules; the manifest's facts."""
    frames = [read_csv(path) for path in files]
    sources = [_source(path, frame, uri) for path, frame in zip(files, frames, strict=True)]
    merged = pd.concat(frames, ignore_index=True)
    label, named = str(recipe["label"]), recipe.get("time_column")
    time = time_column(merged, label, named)
    mismatches = _mismatches(files, frames, replace(contract, time_column=time) if contract else None, contract_change)
    if features is None or mismatches:  # the contract as the merged data has it
        features = _merged_features(merged, recipe, label, named)
    prepared = apply_rules(merged, features, label, str(recipe["task"]), int(recipe.get("seed", 7)), time, holdout)
    facts = {
        "sources": sources,
        "contract_changes": [str(m) for m in mismatches],
        "features": [f.name for f in features],
    }
    return prepared, facts


def manifest(prepared: Prepared, facts: dict[str, Any], label: str, kind: str, contract_change: bool) -> dict[str, Any]:
    """What the preparation did, for people and the model card."""
    rows = pd.concat([prepared.train, prepared.holdout])
    out: dict[str, Any] = {
        "preparation_version": PREPARATION_VERSION,
        "rules": RULES,
        "sources": facts["sources"],
        "rows_in": sum(s["rows"] for s in facts["sources"]),
        "steps": prepared.rules,
        "rows_out": {"train": len(prepared.train), "holdout": len(prepared.holdout)},
        "split": prepared.split,
        "features": facts["features"],
        "contract_change": contract_change,
        "contract_changes": facts["contract_changes"],
    }
    if prepared.time_column is not None:
        dates = times(rows[prepared.time_column])
        holdout_from = times(prepared.holdout[prepared.time_column])
        out["date_range"] = {
            "column": prepared.time_column,
            "first": dates.min().isoformat(),
            "last": dates.max().isoformat(),
            "holdout_from": holdout_from.min().isoformat(),
        }
    if kind == "regression":
        y = rows[label].astype(float)
        out["label_range"] = {"min": float(y.min()), "max": float(y.max()), "mean": round(float(y.mean()), 6)}
    else:
        out["label_balance"] = {
            part: {str(native(k)): int(v) for k, v in frame[label].value_counts().sort_index().items()}
            for part, frame in (("train", prepared.train), ("holdout", prepared.holdout))
        }
    return out


def prepare(
    files: list[Path],
    output: Path,
    recipe: dict[str, Any],
    signature: Signature | None = None,
    contract_change: bool = False,
    uri: str = "",
    holdout: Holdout = NEWEST_SHARE,
) -> dict[str, Any]:
    """Prepare the files by the recipe (checked against the signature when there is one) into
    output: train.csv, holdout.csv, manifest.json (and signature.json when there is one);
    returns the manifest. PreparationRefused names the file and the column."""
    if not files:
        raise PreparationRefused("no CSV file to prepare")
    contract = Contract.of(signature) if signature is not None else None
    features = signature.features if signature is not None else None
    prepared, facts = prepare_frames(files, features, recipe, contract, contract_change, uri, holdout)
    label, kind = str(recipe["label"]), str(recipe["task"])
    found = manifest(prepared, facts, label, kind, contract_change)
    output.mkdir(parents=True, exist_ok=True)
    prepared.train.to_csv(output / TRAIN, index=False)
    prepared.holdout.to_csv(output / HOLDOUT, index=False)
    (output / MANIFEST).write_text(json.dumps(found, indent=2) + "\n")
    rows = pd.concat([prepared.train, prepared.holdout])
    write_outcome_contract(output, kind, None if kind == "regression" else rows[label].dropna().map(native).unique())
    return found


def write_outcome_contract(output: Path, kind: str, labels: Any) -> None:
    """The kind and labels the model trained on the prepared rows will give, sorted as training
    sorts them (training/train.py); the training job checks its model gives exactly these."""
    known = None if labels is None else sorted(labels, key=lambda v: (isinstance(v, str), v))
    (output / OUTCOME_CONTRACT).write_text(json.dumps(outcome_contract(kind, known)) + "\n")


def recorded_recipe(recipe: dict[str, Any], found: dict[str, Any], uri: str) -> dict[str, Any]:
    """The recipe as the next model records it: its real sources, and only the CSV's settings
    (an old recipe's temp-path source and synthetic settings are dropped)."""
    kept = {k: v for k, v in recipe.items() if k not in ("rows", "noise", "data", "sources")}
    return {**kept, "source": uri or kept.get("source", "csv"), "sources": found["sources"]}


def served_signature(serving: Path | None) -> dict[str, Any] | None:
    """The signature.json inside the serving model's model.tar.gz (the Prepare job's serving
    input): the contract being served, which a promoted --contract-change retraining changed.
    None when there is no such archive, it holds no signature or cannot be read (said in the
    log: the gate then finds the serving model unscorable too)."""
    archives = sorted(serving.rglob("*.tar.gz")) if serving is not None and serving.is_dir() else []
    for archive in archives:
        try:
            with tarfile.open(archive) as tar:
                for member in tar.getmembers():
                    found = tar.extractfile(member) if member.name.removeprefix("./") == SIGNATURE else None
                    if found is not None:
                        return dict(json.loads(found.read()))
        except (tarfile.TarError, ValueError) as error:
            print(
                f"the serving model's {archive.name} cannot be read ({error}): the recipe folder's {SIGNATURE} "
                "is the contract",
                file=sys.stderr,
                flush=True,
            )
    return None


def serving_contract(source: Path, serving: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The signature to prepare by and its recipe: the contract is the serving model's signature
    (from its model.tar.gz in serving) when there is one, else the recipe folder's signature.json
    (the one written at deploy); the recipe (how to retrain, which a user may edit) is the folder's."""
    signature_file = source / SIGNATURE
    if not signature_file.is_file():
        raise PreparationRefused(f"no {SIGNATURE} in the recipe folder: the model has no retraining recipe")
    raw = json.loads(signature_file.read_text())
    served = served_signature(serving)
    if served is not None and (raw.get("recipe") or {}).get("source") != "synthetic":
        raw = {**served, "recipe": raw.get("recipe")}
    recipe = raw.get("recipe")
    if not recipe:
        raise PreparationRefused("the model's signature has no recipe: it was not trained by nrt train")
    return raw, dict(recipe)


def copy_code(source: Path, output: Path) -> None:
    """The model's own serving code (the recipe folder's code/) goes on to the training job."""
    output.mkdir(parents=True, exist_ok=True)
    if (source / "code").is_dir():
        shutil.copytree(source / "code", output / "code", dirs_exist_ok=True)


def prepare_channel(
    source: Path, output: Path, uri: str = "", contract_change: bool = False, serving: Path | None = None
) -> dict[str, Any]:
    """A recipe folder (signature.json, the CSV files, code/) into the prepared layout. The
    recipe (label, features, kind: how to retrain, which a user may edit) is the folder's; the
    contract is the serving model's signature (from its model.tar.gz in serving) when there is
    one, else the folder's signature.json (the one written at deploy)."""
    raw, recipe = serving_contract(source, serving)
    signature_file = source / SIGNATURE
    copy_code(source, output)
    if recipe["source"] == "synthetic":
        found = {"preparation_version": PREPARATION_VERSION, "sources": [{"file": "synthetic"}], "rules": {}}
        (output / MANIFEST).write_text(json.dumps(found, indent=2) + "\n")
        (output / SIGNATURE).write_text(signature_file.read_text())
        served = Signature.from_dict(raw)
        write_outcome_contract(output, served.kind, served.labels)
        return found
    signature = Signature.from_dict(raw)
    found = prepare(csv_files(source), output, recipe, signature, contract_change, uri)
    (output / SIGNATURE).write_text(json.dumps({**raw, "recipe": recorded_recipe(recipe, found, uri)}, indent=2) + "\n")
    return found


def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.lake is None:
        return prepare_channel(args.input, args.output, args.uri, args.contract_change.lower() == "true", args.serving)
    from training.lake_data import prepare_lake_channel  # the lake's rows, then the same preparation

    holdout = Holdout(share=args.holdout_share, days=args.holdout_days if args.holdout_days else None)
    return prepare_lake_channel(
        args.input,
        args.lake,
        args.output,
        args.uri,
        args.serving,
        args.min_labels,
        holdout,
        args.contract_change.lower() == "true",
    )


def main(argv: list[str] | None = None) -> int:
    """The Processing job's entry point: prepare --input into --output, or exit 1 saying why."""
    parser = argparse.ArgumentParser(prog="python -m training.prepare")
    parser.add_argument("--input", type=Path, required=True, help="the recipe folder")
    parser.add_argument("--output", type=Path, required=True, help="where the prepared layout goes")
    parser.add_argument("--uri", default="", help="the recipe folder's S3 URI, recorded as the source")
    parser.add_argument("--contract-change", default="false", help="true: a file may change the contract")
    parser.add_argument("--serving", type=Path, help="the serving model's model.tar.gz folder: its signature.json")
    parser.add_argument("--exit-message", type=Path, default=EXIT_MESSAGE)
    parser.add_argument("--lake", type=Path, help="the lake query's CSV result: retrain on production data")
    parser.add_argument("--min-labels", type=int, default=100, help="with --lake: fewer labelled readings are refused")
    parser.add_argument("--holdout-days", type=float, help="with --lake: hold out the readings of the last D days")
    parser.add_argument("--holdout-share", type=float, default=HOLDOUT_SHARE, help="else the newest share")
    args = parser.parse_args(argv)
    try:
        found = _run(args)
    except (PreparationRefused, ValueError, KeyError, pd.errors.ParserError) as error:
        reason = f"preparation refused: {error}"
        if args.exit_message.parent.is_dir():
            args.exit_message.write_text(reason[:1024])
        print(reason, file=sys.stderr, flush=True)
        return 1
    print(json.dumps({k: found.get(k) for k in ("rows_in", "rows_out", "split", "contract_changes")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
