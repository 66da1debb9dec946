"""Drift without labels: a model's recent readings in the lake against its training profile.

The statistic is the population stability index (PSI) of each feature, over the bins of its
training profile (training/profile.py: the training deciles for a number, the most frequent
categories for a category, and in both a bin for missing values):

    PSI = sum over bins of (recent share - training share) x ln(recent share / training share)

with a share of 0 counted as 0.0001 (as Evidently does), so an empty bin weighs without being
infinite. Verdicts: under 0.1 no drift, 0.1 to 0.25 drift, 0.25 or more major drift (Evidently's
PSI threshold is 0.1; 0.25 is the credit-scoring convention for a population that has changed).

The counts per bin are one Athena (Trino) query over the `prediction_events` view, built here
from the profile; locally it runs on the local lake (nrt/lake/athena.py transpiles it to DuckDB),
on AWS the same text runs in Athena. Only the sums per bin leave the query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from training.profile import OTHER

__all__ = ["DRIFT", "EPSILON", "MAJOR", "MISSING", "FeatureDrift", "counts_sql", "psi", "verdict"]

EPSILON = 0.0001
DRIFT = 0.1
MAJOR = 0.25
MISSING = "(missing)"


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # "number" or "category"
    psi: float
    verdict: str  # "no drift", "drift" or "major drift"; "no readings" when there is nothing recent
    readings: int  # recent readings counted
    moved: str  # the bin whose share moved most, with its shares then and now


def verdict(value: float) -> str:
    return "major drift" if value >= MAJOR else "drift" if value >= DRIFT else "no drift"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _json_path(name: str, position: int, named: bool) -> str:
    """The feature in the `input` column: by name in a JSON object, by position in a list."""
    path = '$["' + name.replace('"', '\\"') + '"]' if named else f"$[{position}]"
    return _sql_text(path)


def _bin_expression(name: str, entry: dict[str, Any], position: int, named: bool) -> str:
    """The bin of one reading's value, as text: the bin's number, a category, OTHER or MISSING."""
    raw = f"json_extract_scalar(input, {_json_path(name, position, named)})"
    if entry["type"] == "number":
        value = f"TRY_CAST({raw} AS double)"
        cases = " ".join(f"WHEN {value} < {edge!r} THEN '{i}'" for i, edge in enumerate(entry["edges"]))
        return f"CASE WHEN {value} IS NULL THEN '{MISSING}' {cases} ELSE '{len(entry['edges'])}' END"
    known = ", ".join(_sql_text(c) for c in entry["shares"] if c != OTHER) or "NULL"
    return f"CASE WHEN {raw} IS NULL THEN '{MISSING}' WHEN {raw} IN ({known}) THEN {raw} ELSE '{OTHER}' END"


def counts_sql(model: str, profile: dict[str, Any], order: list[str], named: bool, hours: float) -> str:
    """One query: recent readings of `model` per feature and bin (columns feature, bin, readings).
    `order` is the signature's feature order (a positional model's readings are lists)."""
    recent = (
        f"SELECT input FROM prediction_events WHERE model = {_sql_text(model)} AND input IS NOT NULL "
        f"AND reading_time >= current_timestamp - INTERVAL '{int(hours * 60)}' MINUTE"
    )
    parts = [
        f"SELECT {_sql_text(name)} AS feature, {_bin_expression(name, profile['features'][name], i, named)} AS bin "
        "FROM recent"
        for i, name in enumerate(order)
        if name in profile["features"]
    ]
    union = "\n    UNION ALL\n    ".join(parts)
    return (
        f"WITH recent AS ({recent})\nSELECT feature, bin, count(*) AS readings\n"
        f"FROM (\n    {union}\n) AS binned\nGROUP BY feature, bin"
    )


def expected_shares(entry: dict[str, Any]) -> dict[str, float]:
    """The training shares per bin, the missing bin included (all shares of present values scaled by
    the present share)."""
    present = 1 - float(entry["missing"])
    shares = entry["shares"]
    bins = {str(i): s for i, s in enumerate(shares)} if entry["type"] == "number" else dict(shares)
    return {**{k: float(v) * present for k, v in bins.items()}, MISSING: float(entry["missing"])}


def psi(name: str, entry: dict[str, Any], counts: dict[str, int]) -> FeatureDrift:
    """A feature's PSI from the training profile entry and the recent counts per bin."""
    expected = expected_shares(entry)
    total = sum(counts.values())
    if not total:
        return FeatureDrift(name, entry["type"], 0.0, "no readings", 0, "no recent readings")
    bins = set(expected) | set(counts)
    value = 0.0
    moved = ("", 0.0, 0.0, -1.0)
    for b in bins:
        e = max(expected.get(b, 0.0), EPSILON)
        a = max(counts.get(b, 0) / total, EPSILON)
        term = (a - e) * math.log(a / e)
        value += term
        if term > moved[3]:
            moved = (b, e, a, term)
    where = _bin_name(entry, moved[0])
    return FeatureDrift(
        feature=name,
        kind=entry["type"],
        psi=round(value, 4),
        verdict=verdict(value),
        readings=total,
        moved=f"{where}: {moved[1]:.1%} in training, {moved[2]:.1%} now",
    )


def _bin_name(entry: dict[str, Any], b: str) -> str:
    """A bin as a reader sees it: a number's range, or the category."""
    if entry["type"] != "number" or b == MISSING:
        return b
    edges, i = entry["edges"], int(b)
    low = f"{edges[i - 1]:g}" if i > 0 else "-inf"
    high = f"{edges[i]:g}" if i < len(edges) else "+inf"
    return f"[{low}, {high})"


def measure(
    athena: Any, model: str, profile: dict[str, Any], order: list[str], named: bool, hours: float
) -> list[FeatureDrift]:
    """Each profiled feature's drift over the recent `hours` of `model`'s readings in the lake
    (athena: a LocalAthena, or anything with its `execute`)."""
    result = athena.execute(counts_sql(model, profile, order, named, hours), source=f"drift of {model}")
    counts: dict[str, dict[str, int]] = {}
    for feature, bin_, readings in result.rows:
        counts.setdefault(str(feature), {})[str(bin_)] = int(readings)
    return [psi(name, profile["features"][name], counts.get(name, {})) for name in order if name in profile["features"]]
