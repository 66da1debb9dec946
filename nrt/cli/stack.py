"""`nrt up`, `nrt demo`, `nrt status` and `nrt produce`: the running local stack."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nrt.cli import fraud, loop
from nrt.cli.common import (
    api_key_for,
    get_local,
    local_api_flags,
    serving_quality_tags,
    stack_flags,
    state_dir_flag,
)
from nrt.hosts.supervisor import IDLE_SECONDS
from nrt.lake.dashboard import write_dashboard
from nrt.lake.quality import MARGIN, MIN_LABELLED, QualityWatch
from nrt.ops import stacks
from nrt.signals import StopSignals
from nrt.statedir import (
    StackRecord,
    StateDir,
    read_stack_record,
    remove_stack_record,
    write_stack_record,
)
from nrt.stats import percentile
from producer import producer

if TYPE_CHECKING:
    from nrt.runtime import LocalRuntime

DEMO_READINGS = 500


def _runtime(args: argparse.Namespace, log: Callable[[str], None] = print) -> LocalRuntime:
    from nrt.emulator.faults import FaultSpecError, parse
    from nrt.runtime import LocalRuntime
    from nrt.state.store import StoreDamaged
    from nrt.statedir import StateDirBusy

    try:
        injected = parse(args.faults, seed=args.faults_seed) if getattr(args, "faults", None) else None
    except FaultSpecError as exc:
        raise SystemExit(f"--faults: {exc}") from None
    try:
        return LocalRuntime(
            state_dir=Path(args.state_dir),
            api_port=args.api_port,
            aws_port=args.aws_port,
            api_key=api_key_for(args),
            flush_seconds=args.flush_seconds,
            faults=injected,
            health_seconds=getattr(args, "health_seconds", 0.0),
            model_idle_seconds=getattr(args, "model_idle_seconds", IDLE_SECONDS),
            latency_tier=getattr(args, "latency_tier", False),
            retrain_on_alarm=getattr(args, "retrain_on_alarm", False),
            quality_margin=getattr(args, "quality_margin", MARGIN),
            min_labelled=getattr(args, "min_labelled", MIN_LABELLED),
            log=log,
        ).start()
    except (StateDirBusy, StoreDamaged) as exc:
        raise SystemExit(f"cannot start the local stack: {exc}") from None
    except (OSError, sqlite3.OperationalError) as exc:
        raise SystemExit(start_failure(exc, Path(args.state_dir))) from None


def start_failure(error: OSError | sqlite3.OperationalError, state_dir: Path) -> str:
    """Why `nrt up` could not start, in words that point at the cause: a port, the disk, or else."""
    number = getattr(error, "errno", None)
    if number == errno.EADDRINUSE:
        return (
            f"cannot start the local stack: {error}. Is `nrt up` already running? "
            "Choose other ports with --api-port/--aws-port."
        )
    if number in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in str(error):
        return (
            f"cannot start the local stack: no space left for its state under {state_dir.resolve()} ({error}); "
            "free some space, then start it again (nothing kept was lost)"
        )
    return f"cannot start the local stack: {error}"


PRODUCE_EPILOG = (
    "nrt produce also takes --state-dir DIR (default $NRT_STATE_DIR, else .nrt): without --url, the "
    "readings go to the stack that state dir records, with the API key it saved. --stack NAME "
    "[--region R]: to a deployed stack instead, at its ApiUrl output, with the value of its "
    "ApiKeyId output's key (read with your AWS credentials)."
)


def producer_argv(argv: list[str]) -> list[str]:
    """`nrt produce`'s arguments for the producer: --state-dir (as on every command; default
    $NRT_STATE_DIR or .nrt), --stack and --region are taken out; with --stack the readings go to
    that deployed stack, else without --url to the stack that state dir records. The key (the
    deployed stack's, or the one `nrt up --auth` saved) goes through $NRT_API_KEY, never on a
    command line that `ps` shows."""
    found = argparse.ArgumentParser(add_help=False)
    state_dir_flag(found)
    found.add_argument("--stack")
    found.add_argument("--region")
    known, rest = found.parse_known_args(argv)
    has_url = any(a == "--url" or a.startswith("--url=") for a in rest)
    if known.stack:
        return [*rest, "--url", deployed_url(known.stack, known.region, rest)]
    state = StateDir(Path(known.state_dir))
    record = read_stack_record(state)
    if record is None or has_url:
        return rest
    if record.api_key_required and "NRT_API_KEY" not in os.environ and state.api_key.exists():
        os.environ["NRT_API_KEY"] = state.api_key.read_text().strip()
    return [*rest, "--url", record.api_url]


def deployed_url(name: str, region: str | None, rest: list[str]) -> str:
    """A deployed stack's API URL; without --api-key or $NRT_API_KEY, its producer key's value
    put in $NRT_API_KEY."""
    from botocore.exceptions import BotoCoreError, ClientError

    if any(a == "--url" or a.startswith("--url=") for a in rest):
        raise SystemExit("--stack and --url: give one (--stack reads the URL from the stack's ApiUrl output)")
    need_key = "NRT_API_KEY" not in os.environ and not any(a.startswith("--api-key") for a in rest)

    try:
        stack = stacks.deployed(name, region)
        url = stack.api_url
        if need_key:
            gateway: Any = stack.client("apigateway")
            key = gateway.get_api_key(apiKey=stack.output("ApiKeyId"), includeValue=True)
            os.environ["NRT_API_KEY"] = str(key["value"])
    except stacks.StackError as error:
        raise SystemExit(f"--stack {name}: {error}") from None
    except (ClientError, BotoCoreError) as error:
        raise SystemExit(f"--stack {name}: cannot read its API key: {error}") from None
    return url


def cmd_up(args: argparse.Namespace) -> int:
    # Ctrl-C and SIGTERM stop it (nrt.signals: the handler takes no lock). Installed before the
    # start, so one that comes while it starts or prints the banner stops it cleanly after.
    signals = StopSignals.install()
    runtime = _runtime(args)
    assert runtime.aws is not None
    state = StateDir(Path(args.state_dir))
    print(f"embedded AWS  {runtime.aws.url}  (moto, state-machine execution on)")
    print(f"local API     {runtime.api_url}  POST /predictions, POST /events, GET /models")
    if runtime.latency_tier:
        print("latency tier  on: POST /predictions goes to the PredictFunction (models deployed --tier lambda)")
    print(f"dashboard     {runtime.api_url}/dashboard")
    print(f"lake          {runtime.lake.resolve()}  (Parquet, flushed every {args.flush_seconds:g} s)")
    print(f"state         {state.root.resolve()}  (commands find this stack by it: --state-dir, $NRT_STATE_DIR)")
    if runtime.api_key is not None:
        print(f"auth          x-api-key required on every request (the key: {state.api_key})")
    if runtime.faults is not None:
        print(f"faults        {runtime.faults.describe()}  (injected at the embedded AWS, per call)")
    if runtime.health_seconds > 0:
        print(f"health        a line every {runtime.health_seconds:g} s while there is traffic; `nrt status` on demand")
    try:
        signals.wait(lambda: not stacks.answers(runtime.api_url), poll=0.05)
        if stacks.answers(runtime.api_url):  # started; a Ctrl-C that came meanwhile stops it now
            record = StackRecord(runtime.api_url, runtime.aws.url, os.getpid(), runtime.api_key is not None)
            write_stack_record(state, record)
            print(f"ready: send readings to {runtime.api_url}/predictions; Ctrl-C stops everything.", flush=True)
        signals.wait()
    finally:
        # Gone before the stop begins: a command started now is told nothing runs, not left waiting.
        remove_stack_record(state)
    print("\nstopping ...", flush=True)
    runtime.stop()
    return 0


def demo_table(answers: list[tuple[dict[str, Any], float]]) -> str:
    """Per sensor: readings, predicted failures, latency p50/p99."""
    rows: dict[str, list[tuple[dict[str, Any], float]]] = defaultdict(list)
    for body, seconds in answers:
        rows[str(body.get("sensor", "?"))].append((body, seconds))
    lines = [f"{'sensor':<12} {'readings':>8} {'failures':>8} {'p50 ms':>8} {'p99 ms':>8}"]
    for sensor in sorted(rows, key=lambda s: (len(s), s)):
        got = rows[sensor]
        lat = sorted(s for _, s in got)
        failures = sum(1 for b, _ in got if b.get("prediction") == 1)
        lines.append(
            f"{sensor:<12} {len(got):>8} {failures:>8} "
            f"{percentile(lat, 50) * 1000:>8.1f} {percentile(lat, 99) * 1000:>8.1f}"
        )
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.fraud and args.loop:
        raise SystemExit("nrt demo: --fraud and --loop are two stories; choose one")
    if args.fraud:
        return fraud.cmd_fraud(args)
    if args.loop:
        return loop.cmd_loop(args)
    print("starting the local stack (embedded AWS, model host, API) ...", flush=True)
    runtime = _runtime(args)
    try:
        print(f"streaming {args.count} readings to {runtime.api_url}/predictions ...", flush=True)
        plan = producer.Plan(
            url=runtime.api_url,
            rate=args.rate,
            count=args.count,
            sensors=5,
            concurrency=8,
            keep_answers=True,
        )
        stats = producer.run(plan, producer.progress_line(sys.stderr))
        sys.stderr.write("\n")
        summary = stats.summary()
        print(demo_table(stats.answers))
        print(producer.format_summary(summary))
        answered = summary["by_status"].get(200, 0)
        if answered != args.count:
            print(f"FAILED: {answered} of {args.count} readings were answered with a prediction")
            return 1
        expected = {str(body["event_id"]) for body, _ in stats.answers}
        missing = wait_for_lake(runtime.lake, expected, args.lake_timeout)
        if missing:
            print(
                f"FAILED: {len(missing)} of {len(expected)} predictions not in the lake after {args.lake_timeout:g} s"
            )
            return 1
        print(f"lake: all {len(expected)} predictions are in {runtime.lake} as Parquet")
        print_queries(runtime.lake)
        page = write_dashboard(runtime.lake, StateDir(Path(args.state_dir)).dashboard, runtime.models)
        print(f"dashboard: {page}  (also served at {runtime.api_url}/dashboard while nrt up runs)")
        print(f"OK: all {args.count} readings answered and in the lake")
        return 0
    finally:
        runtime.stop()


def wait_for_lake(lake: Path, expected: set[str], timeout: float) -> set[str]:
    """Wait until every expected event id is in the lake; returns the ones still missing."""
    from nrt.lake.parquet import column_values, table_spec

    deadline = time.monotonic() + timeout
    missing = set(expected)
    while True:
        missing = expected - column_values(lake, table_spec(), "event_id")
        sys.stderr.write(f"\r  lake: {len(expected) - len(missing)}/{len(expected)} predictions written   ")
        if not missing or time.monotonic() > deadline:
            sys.stderr.write("\n")
            return missing
        time.sleep(0.5)


def print_queries(lake: Path) -> None:
    from nrt.lake.athena import LocalAthena, query_files, render

    athena = LocalAthena(lake)
    for path in query_files():
        print(f"\n== athena/{path.name}")
        print(render(athena.run_file(path), "table"))
    print()


def cmd_status(args: argparse.Namespace) -> int:
    from nrt import health

    status = get_local(args, "/status")
    if status is None:
        return 1
    if (args.quality_margin, args.min_labelled) != (MARGIN, MIN_LABELLED):
        # Judged again here with these settings (the running stack judges with its own).
        state = StateDir(Path(args.state_dir))
        tagged = serving_quality_tags(args)
        watch = QualityWatch(state.lake, state.models, args.quality_margin, args.min_labelled, tagged=tagged)
        status["quality"] = watch.report()
    print(json.dumps(status, indent=1) if args.json else health.line(status))
    return 0


def quality_flags(p: argparse.ArgumentParser) -> None:
    """The live-quality rule of the health line (nrt/lake/quality.py)."""
    p.add_argument(
        "--quality-margin",
        type=float,
        default=MARGIN,
        help="a model's live metric this far below its training metric (a share of it for an error) is "
        "named (default %(default)g)",
    )
    p.add_argument(
        "--min-labelled",
        type=int,
        default=MIN_LABELLED,
        help="labelled readings in the last 7 days needed to judge (default %(default)d)",
    )


def add_commands(sub: Any) -> None:
    """up, status, demo, produce"""
    up = sub.add_parser("up", help="run the whole pipeline locally until Ctrl-C")
    stack_flags(up)
    up.add_argument("--api-key", help="require this x-api-key on every request (as the deployed API does)")
    up.add_argument(
        "--auth", action="store_true", help="require an x-api-key, made up now and saved in <state-dir>/api-key"
    )
    up.add_argument(
        "--faults",
        metavar="SPEC",
        help="inject faults per call, e.g. model_error=0.05,throttle=0.02,cold_start=0.01,write_error=0.01",
    )
    up.add_argument("--faults-seed", type=int, help="repeat the same faults (a seed for their generator)")
    up.add_argument("--health-seconds", type=float, default=5.0, help="health line interval; 0 for none")
    up.add_argument(
        "--model-idle-seconds",
        type=float,
        default=IDLE_SECONDS,
        help="stop a model host after this long without an invocation (a serverless endpoint "
        "scaling to zero; the next invocation cold-starts it); 0 never stops one (default: %(default)g)",
    )
    up.add_argument(
        "--latency-tier",
        action="store_true",
        help="the template's LatencyTier=Enabled: POST /predictions goes to the PredictFunction, which "
        "scores models deployed with --tier lambda in this process (docs/aws.md#the-latency-tier)",
    )
    up.add_argument(
        "--retrain-on-alarm",
        action="store_true",
        help="the template's RetrainOnAlarm=true: a model whose live quality turns below training (its "
        "quality alarm on AWS) is retrained once by the retraining workflow, none while one for it runs",
    )
    quality_flags(up)
    up.set_defaults(func=cmd_up)

    status = sub.add_parser(
        "status", help="the running stack's health: readings/s, p99, failures, lake lag, models below training"
    )
    local_api_flags(status)
    quality_flags(status)
    status.set_defaults(func=cmd_status)

    demo = sub.add_parser("demo", help="start the stack, stream readings, print a summary")
    stack_flags(demo)
    demo.add_argument("--count", type=int, default=DEMO_READINGS)
    demo.add_argument("--rate", type=float, default=0.0, help="readings/s; 0 for as fast as possible")
    demo.add_argument("--lake-timeout", type=float, default=60.0, help="seconds to wait for the lake")
    fraud.add_flags(demo)
    loop.add_flags(demo)
    demo.set_defaults(func=cmd_demo)

    sub.add_parser("produce", help="send readings (same flags as producer/producer.py; see nrt produce --help)")
