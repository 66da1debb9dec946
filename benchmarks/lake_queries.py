"""The loop's lake queries over a large local lake: a model's drift (`nrt drift`), and every other
athena/*.sql view or query over the same lake, timed on DuckDB as `nrt` runs them locally.

The lake is made here: PREDICTIONS readings of the demo model `failure` spread over the last day
in FILES Parquet objects, and an outcome for OUTCOMES of them, written with the Glue tables'
schemas as the stream worker writes them. The reference profile is the demo's training data.

.venv/bin/python -m benchmarks.lake_queries --predictions 1000000
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.e2e import machine
from nrt.lake.athena import LocalAthena, query_files
from nrt.lake.drift import measure
from nrt.lake.parquet import table_spec, write_rows
from training.dataset import FEATURE_COLUMNS, synthetic
from training.profile import profile
from training.train import features_of

MODEL = "failure"


def predictions(count: int, seed: int, end_ms: int) -> pd.DataFrame:
    """`count` demo readings over the day before end_ms, scored as the demo model would (a label,
    its probability), each with its sensor, time and event id."""
    data, labels = synthetic(count, seed=seed)
    rng = np.random.default_rng(seed)
    ts = np.sort(end_ms - rng.integers(0, 86_400_000, count))
    sensors = rng.integers(1, 51, count)
    probability = np.clip(labels * 0.9 + rng.random(count) * 0.1, 0, 1)
    frame = pd.DataFrame({"sensor": [f"sensor-{s}" for s in sensors], "ts": ts, "label": labels.astype(str)})
    frame["event_id"] = frame["sensor"] + ":" + frame["ts"].astype(str)
    frame["probability"] = probability
    frame["input"] = [json.dumps(row.tolist()) for row in data]
    return frame


def prediction_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    keys = table_spec().json_keys
    ts_key = keys.get("ts", "ts")
    return [
        {
            "event_id": r.event_id,
            "sensor": r.sensor,
            ts_key: int(r.ts),
            "model": MODEL,
            "endpoint": f"nrt-{MODEL}",
            "kind": "binary",
            "label": r.label,
            "probability": float(r.probability),
            "input": r.input,
            "predicted_at": datetime.datetime.fromtimestamp(r.ts / 1000, datetime.UTC).isoformat(),
            "change_type": "INSERT",
            "changed_at": int(r.ts) + 20,
            "ingested_at": int(r.ts) + 900,
            "dedup_key": f"{r.event_id}:{MODEL}:INSERT",
        }
        for r in frame.itertuples()
    ]


def outcome_rows(frame: pd.DataFrame, share: float, seed: int) -> list[dict[str, Any]]:
    """An outcome for `share` of the readings: the predicted label, wrong one time in ten."""
    spec = table_spec(glue_table="OutcomesGlueTable")
    ts_key = spec.json_keys.get("ts", "ts")
    rng = np.random.default_rng(seed + 1)
    picked = frame.sample(frac=share, random_state=seed)
    flipped = rng.random(len(picked)) < 0.1
    return [
        {
            "event_id": r.event_id,
            "model": MODEL,
            "sensor": r.sensor,
            ts_key: int(r.ts),
            "label": str(1 - int(r.label)) if flip else r.label,
            "observed_at": datetime.datetime.fromtimestamp(r.ts / 1000 + 3600, datetime.UTC).isoformat(),
            "change_type": "INSERT",
            "changed_at": int(r.ts) + 3_600_000,
            "ingested_at": int(r.ts) + 3_600_900,
            "dedup_key": f"{r.event_id}:{MODEL}:outcome",
        }
        for r, flip in zip(picked.itertuples(), flipped, strict=True)
    ]


def write_lake(lake: Path, count: int, files: int, outcomes: float, seed: int) -> dict[str, float]:
    """The lake, in `files` objects per table; seconds it took."""
    started = time.perf_counter()
    now = datetime.datetime.now(datetime.UTC)
    frame = predictions(count, seed, int(now.timestamp() * 1000))
    rows = prediction_rows(frame)
    told = outcome_rows(frame, outcomes, seed)
    for name, spec, table in (
        ("predictions", table_spec(), rows),
        ("outcomes", table_spec(glue_table="OutcomesGlueTable"), told),
    ):
        step = max(1, -(-len(table) // files))
        for i in range(0, len(table), step):
            write_rows(lake, spec, table[i : i + step], now, f"{name}-{i // step:04d}.parquet")
    return {"write_s": time.perf_counter() - started, "outcomes": len(told)}


def reference_profile(seed: int) -> dict[str, Any]:
    data, _ = synthetic(20_000, seed=seed + 2)
    frame = pd.DataFrame(data, columns=list(FEATURE_COLUMNS))
    return profile(frame, features_of(frame))


def timed(run: Any, runs: int) -> dict[str, float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(seconds), 3), "min_s": round(min(seconds), 3)}


def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nrt-lake-bench-") as folder:
        lake = Path(folder)
        made = write_lake(lake, args.predictions, args.files, args.outcomes, args.seed)
        athena = LocalAthena(lake)
        reference = reference_profile(args.seed)
        order = list(FEATURE_COLUMNS)
        results: dict[str, Any] = {
            "drift (nrt drift failure, 24 h)": timed(
                lambda: measure(athena, MODEL, reference, order, False, 24), args.runs
            )
        }
        results["live quality (SELECT * FROM model_quality)"] = timed(
            lambda: athena.execute("SELECT * FROM model_quality"), args.runs
        )
        for path in query_files():
            results[path.name] = timed(lambda path=path: athena.run_file(path), args.runs)
    return {
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
        "predictions": args.predictions,
        "outcomes": int(made["outcomes"]),
        "files_per_table": args.files,
        "write_s": round(made["write_s"], 1),
        "runs": args.runs,
        "queries": results,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--predictions", type=int, default=1_000_000, help="readings in the lake (default 1,000,000)")
    p.add_argument("--outcomes", type=float, default=0.1, help="the share of readings with an outcome (default 0.1)")
    p.add_argument("--files", type=int, default=20, help="Parquet objects per table (default 20)")
    p.add_argument("--runs", type=int, default=3, help="runs of each query; the median is reported (default 3)")
    p.add_argument("--seed", type=int, default=11)
    return p


def main(argv: list[str] | None = None) -> int:
    result = bench(build_parser().parse_args(argv))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
