"""`nrt demo --fraud`: the users' fraud-detection workshop, end to end on this project, in one
command that prints the story.

1. Transactions: 30 numeric features and 0.5 % fraud, generated with the properties
   training/examples.py states (nothing can be downloaded).
2. A model trained as `nrt train` trains (class weights, calibrated probabilities), its threshold
   chosen for the least cost: a missed fraud costs the order ($120 by default), a declined good
   customer $5 (`--threshold-for cost:120:5`).
3. The local stack with the latency tier on (`nrt up --latency-tier`), the model deployed to it
   with the prediction cache on (`nrt deploy-model fraud --tier lambda --cache 300`).
4. A Black-Friday spike, scaled down to this machine: the producer's spike profile, with a share
   of repeated transactions (a customer retrying a checkout: `nrt produce --repeat`).
5. The story: decisions a second, p50 and p99, the cache's hit rate, and the plan for 10,000
   transactions a second on AWS (`nrt plan --tier lambda`) beside the local figures.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nrt.statedir import StackRecord, StateDir, remove_stack_record, write_stack_record

__all__ = ["add_flags", "cmd_fraud"]

MODEL = "fraud"
MISSED_FRAUD_USD = 120.0
DECLINED_GOOD_USD = 5.0


def add_flags(demo: argparse.ArgumentParser) -> None:
    """The fraud story's flags on `nrt demo`."""
    fraud = demo.add_argument_group("the fraud story (--fraud)")
    fraud.add_argument(
        "--fraud",
        action="store_true",
        help="run the fraud-detection workshop instead: train, deploy on the latency tier with the cache, a spike",
    )
    fraud.add_argument("--transactions", type=int, default=20_000, help="rows to train on (default %(default)s)")
    fraud.add_argument("--peak", type=float, default=60.0, help="the spike's peak, requests/s (default %(default)g)")
    fraud.add_argument("--repeat", type=float, default=0.5, help="share of repeated transactions (default %(default)g)")
    fraud.add_argument("--cache-seconds", type=int, default=300, help="the cache's TTL (default %(default)s)")


def _say(text: str) -> None:
    print(text, flush=True)


def train_model(state: StateDir, rows: int) -> tuple[Path, dict[str, Any]]:
    """Step 1 and 2: the transactions, and the model with its cost-chosen threshold."""
    from training.examples import FRAUD_SHARE, transactions_csv
    from training.train import Recipe, train

    folder = Path(tempfile.mkdtemp(prefix="nrt-fraud-"))
    csv = transactions_csv(folder, rows=rows)
    _say(f"1. {rows:,} card transactions, 30 numeric features, {FRAUD_SHARE:.1%} fraud: {csv}")
    rule = f"cost:{MISSED_FRAUD_USD:g}:{DECLINED_GOOD_USD:g}"
    _say(
        f"2. training {MODEL}: class weights, calibrated probabilities, the threshold for the least cost "
        f"(a missed fraud ${MISSED_FRAUD_USD:g}, a declined good customer ${DECLINED_GOOD_USD:g}) ..."
    )
    recipe = Recipe(str(csv), "fraud", None, "binary", threshold_for=rule, positive_label=1)
    evaluation = train(state.model(MODEL), recipe, name=MODEL, progress=lambda _line: None)
    return csv, evaluation.metrics


def model_lines(metrics: dict[str, Any]) -> list[str]:
    """What the held-out transactions say of the model, in dollars as the fraud team reads it."""
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]["rows_true_columns_predicted"]
    rows = tn + fp + fn + tp
    cost = fn * MISSED_FRAUD_USD + fp * DECLINED_GOOD_USD
    none = (fn + tp) * MISSED_FRAUD_USD
    return [
        f"   held out ({rows:,} transactions, {fn + tp} fraud): "
        f"ROC AUC {metrics['roc_auc']}, PR AUC {metrics['pr_auc']}",
        f"   threshold {metrics['threshold']}: {tp} frauds caught, {fn} missed, {fp} good customers declined "
        f"(precision {metrics['precision']}, recall {metrics['recall']})",
        f"   cost per 1,000 transactions: ${cost / rows * 1000:,.2f} with the model, ${none / rows * 1000:,.2f} "
        "without it",
    ]


def _cli(argv: list[str]) -> None:
    from nrt.cli import main

    code = main(argv)
    if code:
        raise SystemExit(f"nrt {' '.join(argv)} failed ({code})")


def spike(url: str, args: argparse.Namespace, csv: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Step 4: the spike profile against the local API, with repeated transactions."""
    import pandas as pd

    from producer import producer

    features = pd.read_csv(csv).drop(columns="fraud").sample(2_000, random_state=1)
    start = max(1.0, args.peak / 10)
    profile = producer.Profile("spike", start_rate=start, peak_rate=args.peak, ramp=10, hold=15, fall=5)
    plan = producer.Plan(
        url=url,
        count=None,
        model=MODEL,
        api_key=os.environ.get("NRT_API_KEY"),
        rows=features.to_dict("records"),
        repeat=args.repeat,
        seed=11,
    )
    _say(
        f"4. a Black-Friday spike, scaled to this machine: {start:g} -> {args.peak:g} requests/s over 10 s, "
        f"15 s at the peak, down in 5 s; {args.repeat:.0%} of transactions repeat a recent one"
    )
    run = producer.LoadRun(plan, profile)

    def line(row: dict[str, Any]) -> None:
        sys.stderr.write(f"\r   {producer.second_line(row)}")

    rows = producer.run_profile(run, line)
    sys.stderr.write("\n")
    return producer.load_summary(run, rows), rows


def cache_hits(lake: Path, expected: int, since: str, timeout: float = 60.0) -> tuple[int, int]:
    """(this run's predictions in the lake, of which served from the cache), once all arrived;
    `since`: the run's start, ISO 8601 UTC as the workflow writes predicted_at."""
    from nrt.lake.athena import LocalAthena

    # The table, not the prediction_events view: the view keeps the columns every lake has had.
    sql = (
        "SELECT count(DISTINCT event_id), count(DISTINCT CASE WHEN cached THEN event_id END) "
        f"FROM predictions WHERE model = '{MODEL}' AND change_type = 'INSERT' AND predicted_at >= '{since}'"
    )
    deadline = time.monotonic() + timeout
    while True:
        stored, hits = LocalAthena(lake).execute(sql).rows[0]
        if stored >= expected or time.monotonic() > deadline:
            return int(stored or 0), int(hits or 0)
        time.sleep(1.0)


def plan_lines(rps: float) -> list[str]:
    """Step 5's AWS side: the plan at `rps` transactions/s on the Lambda tier."""
    from nrt.ops.plan import PlanRequest, make_plan

    plan = make_plan(PlanRequest(rps=rps, tier="lambda"))
    binding = [
        f"{hop.name}, {q.name} ({q.needed:,.0f} against {q.default:,.0f}{'; raise ' + q.code if q.code else ''})"
        for hop in plan.hops
        for q in hop.quotas
        if q.binds
    ]
    per_million = plan.usd_per_million or 0.0
    return [
        f"   on AWS at {rps:,.0f} transactions/s (nrt plan --rps {rps:.0f} --tier lambda): "
        f"${per_million:,.2f} per million, ${plan.monthly_usd:,.0f} a month, idle ${plan.idle_usd:,.0f} a month",
        *(f"   quota to raise first: {line}" for line in binding),
    ]


def cmd_fraud(args: argparse.Namespace) -> int:
    from nrt.cli.stack import _runtime

    state = StateDir(Path(args.state_dir))
    csv, metrics = train_model(state, args.transactions)
    for line in model_lines(metrics):
        _say(line)
    args.latency_tier = True
    _say("3. starting the local stack with the latency tier (nrt up --latency-tier) ...")
    runtime = _runtime(args, log=lambda line: _say(f"   {line.strip()}"))
    try:
        assert runtime.aws is not None
        write_stack_record(state, StackRecord(runtime.api_url, runtime.aws.url, os.getpid(), False))
        _say(
            f"   {runtime.api_url}; deploying {MODEL} on the Lambda tier with the cache "
            f"(nrt deploy-model {MODEL} --local --tier lambda --cache {args.cache_seconds}) ..."
        )
        _cli(
            ["deploy-model", MODEL, "--local", "--tier", "lambda", "--cache", str(args.cache_seconds),
             "--state-dir", str(state.root), "--aws-port", str(args.aws_port)]
        )  # fmt: skip
        since = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        summary, _rows = spike(runtime.api_url, args, csv)
        stored, hits = cache_hits(runtime.lake, summary["readings_ok"], since)
        _say(
            f"5. {summary['readings_ok']:,} decisions, {summary['ok_per_s']:g} a second on average "
            f"(peak second {max((r['achieved_rps'] for r in _rows), default=0)}); p50 {summary['p50_ms']} ms, "
            f"p99 {summary['p99_ms']} ms from when each was due; {summary['dropped']} dropped, "
            f"errors {summary['by_status']}"
        )
        _say(f"   cache: {hits:,} of {stored:,} stored decisions served from it ({hits / max(stored, 1):.0%})")
        for line in plan_lines(10_000):
            _say(line)
        ok = summary["requests_ok"] == summary["requests_sent"] and stored >= summary["readings_ok"]
        _say("OK: every transaction decided, stored and in the lake" if ok else "FAILED: see the figures above")
        return 0 if ok else 1
    finally:
        remove_stack_record(state)
        runtime.stop()
