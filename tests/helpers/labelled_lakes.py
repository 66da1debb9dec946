"""Lakes of scored readings and their outcomes, for retraining on production data."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nrt.lake.parquet import table_spec, write_rows

ARRIVAL = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0)
START_MS = int((ARRIVAL - datetime.timedelta(days=30)).timestamp() * 1000)
DAY_MS = 86_400_000


def prediction(model: str, event: str, ts: int, given: Any, change: str = "INSERT", at: int = 0) -> dict[str, Any]:
    """One lake row of the predictions table (the Firehose transform's columns) for a reading."""
    return {
        "event_id": event,
        "sensor": event.split(":")[0],
        "timestamp": ts,
        "model": model,
        "endpoint": f"nrt-{model}",
        "kind": "binary",
        "label": "0",
        "probability": 0.5,
        "input": json.dumps(given, separators=(",", ":")),
        "predicted_at": datetime.datetime.fromtimestamp(ts / 1000, datetime.UTC).isoformat(),
        "change_type": change,
        "changed_at": ts + 10 + at,
        "ingested_at": ts + 500 + at,
        "dedup_key": f"{event}:{model}:{change}:{at}",
    }


def outcome(
    model: str, event: str, ts: int, label: str | None = None, value: float | None = None, **more: Any
) -> dict[str, Any]:
    """One lake row of the outcomes table: what really happened for the reading (label or value)."""
    change = more.pop("change", "INSERT")
    at = more.pop("at", 0)
    return {
        "event_id": event,
        "model": model,
        "sensor": event.split(":")[0],
        "ts": ts,
        "label": label,
        "value": value,
        "observed_at": datetime.datetime.fromtimestamp((ts + DAY_MS + at) / 1000, datetime.UTC).isoformat(),
        "change_type": change,
        "changed_at": ts + DAY_MS + at,
        "ingested_at": ts + DAY_MS + at + 500,
        "dedup_key": more.pop("dedup_key", f"{event}:{model}:{change}:{at}"),
        **more,
    }


def write_lake(lake: Path, predictions: Sequence[dict[str, Any]], outcomes: Sequence[dict[str, Any]], tag: str) -> Path:
    """The rows as one Parquet object per table (written as the stream worker writes them)."""
    if predictions:
        write_rows(lake, table_spec(), list(predictions), ARRIVAL, f"{tag}-predictions.parquet")
    if outcomes:
        spec = table_spec(glue_table="OutcomesGlueTable")
        keyed = [{spec.json_keys.get(c, c): row.get(c) for c in spec.column_names} for row in outcomes]
        write_rows(lake, spec, keyed, ARRIVAL, f"{tag}-outcomes.parquet")
    return lake


def labelled_lake(
    lake: Path, model: str, features: Any, labels: Sequence[Any], regression: bool = False, tag: str = "data"
) -> Path:
    """Every row of a data set as a scored reading an hour apart, oldest first, each with its outcome."""
    predictions, outcomes = [], []
    for i, (row, truth) in enumerate(zip(features, labels, strict=True)):
        ts = START_MS + i * 3_600_000
        event = f"s{i % 7}:{ts}"
        predictions.append(prediction(model, event, ts, [round(float(v), 6) for v in row]))
        if regression:
            outcomes.append(outcome(model, event, ts, value=float(truth)))
        else:
            outcomes.append(outcome(model, event, ts, label=str(truth)))
    return write_lake(lake, predictions, outcomes, tag)
