"""A small lake made in a test, for local Athena and the dashboard."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from nrt.lake.parquet import table_spec, write_rows

NOW = datetime.datetime.now(datetime.UTC).replace(second=30, microsecond=0)
MS = int(NOW.timestamp() * 1000)
MINUTE = NOW.replace(second=0).isoformat()


def lake_row(
    sensor: str,
    offset_s: int,
    model: str,
    label: str | None,
    probability: float | None,
    kind: str | None = "binary",
    **extra: Any,
) -> dict[str, Any]:
    """One lake row as the Firehose transform writes it (a classifier's, unless extra says otherwise)."""
    ts = MS + offset_s * 1000
    return {
        "event_id": f"{sensor}:{ts}",
        "sensor": sensor,
        "timestamp": ts,
        "model": model,
        "endpoint": f"nrt-{model}",
        "kind": kind,
        "label": label,
        "value": None,
        "probability": probability,
        "probabilities": None,
        "input": "[1,2,3]",
        "predicted_at": NOW.isoformat(),
        "change_type": "INSERT",
        "changed_at": ts + 20,
        "ingested_at": ts + 400 + offset_s * 100,
        "dedup_key": f"{sensor}:{ts}:{model}:{extra.get('change_type', 'INSERT')}",
        **extra,
    }


def make_lake(tmp_path: Path) -> Path:
    """Every kind: a binary model on pump-1 and pump-2 (one prediction modified, one removed), a
    second binary model on one of the same readings, a regressor and a multi-class model, and a
    row written before labels existed (prediction 1, no kind)."""
    rows = [
        lake_row("pump-1", 0, "failure", "1", 0.97),
        lake_row("pump-1", 1, "failure", "0", 0.03),
        lake_row("pump-1", 0, "candidate", "1", 0.91),
        lake_row("pump-2", 3, "failure", "0", 0.12),
        lake_row("pump-2", 4, "failure", "1", 0.88),
        lake_row("pump-2", 3, "price", None, None, kind="regression", value=512.5),
        lake_row("pump-2", 4, "price", None, None, kind="regression", value=700.0),
        lake_row(
            "pump-1", 5, "penguins", "Adelie", 0.8, kind="multiclass", probabilities={"Adelie": 0.8, "Gentoo": 0.2}
        ),
        lake_row("pump-3", 6, "failure", None, 0.66, kind=None, prediction=1, input=None, features=[1.0, 2.0, 3.0]),
    ]
    write_rows(tmp_path, table_spec(), rows, NOW, "first.parquet")
    later = [
        # pump-2's second prediction was corrected, then pump-1's second one removed.
        {**lake_row("pump-2", 4, "failure", "0", 0.45, change_type="MODIFY"), "changed_at": MS + 9000},
        {**lake_row("pump-1", 1, "failure", "0", 0.03, change_type="REMOVE"), "changed_at": MS + 9500},
    ]
    write_rows(tmp_path, table_spec(), later, NOW, "second.parquet")
    return tmp_path
