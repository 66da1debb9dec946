"""The `nrt` command: run the pipeline on this machine, send readings, query the lake, list
models, train."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nrt.hosts.supervisor import IDLE_SECONDS
from nrt.lake.athena import FORMATS
from nrt.lake.dashboard import write_dashboard
from nrt.names import NameRuleError, check_model_name
from nrt.ops import stacks
from nrt.ops.stacks import Stack, StackError
from nrt.signals import StopSignals
from nrt.statedir import (
    API_PORT,
    AWS_PORT,
    StackRecord,
    StateDir,
    read_stack_record,
    remove_stack_record,
    state_dir_default,
    write_stack_record,
)
from nrt.stats import percentile
from producer import producer

DEMO_READINGS = 500


def api_key_for(args: argparse.Namespace) -> str | None:
    """The key `nrt up` requires: --api-key, or with --auth a new one, kept in <state-dir>/api-key."""
    key: str | None = getattr(args, "api_key", None)
    if key is None and getattr(args, "auth", False):
        import secrets

        key = secrets.token_urlsafe(24)
    path = StateDir(Path(args.state_dir)).api_key
    path.unlink(missing_ok=True)  # an earlier run's key
    if key is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created readable by its owner only: never world-readable, not even for a moment.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(key + "\n")
    return key


def saved_api_key(args: argparse.Namespace) -> str | None:
    """--api-key, else the key a running `nrt up --auth` saved in its state dir."""
    if getattr(args, "api_key", None):
        return str(args.api_key)
    path = StateDir(Path(getattr(args, "state_dir", state_dir_default()))).api_key
    return path.read_text().strip() if path.exists() else None


def _runtime(args: argparse.Namespace, log: Any = print) -> Any:
    from nrt.emulator.faults import FaultSpecError, parse
    from nrt.runtime import LocalRuntime
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
            log=log,
        ).start()
    except StateDirBusy as exc:
        raise SystemExit(f"cannot start the local stack: {exc}") from None
    except OSError as exc:
        raise SystemExit(
            f"cannot start the local stack: {exc}. Is `nrt up` already running? "
            "Choose other ports with --api-port/--aws-port."
        ) from None


def producer_argv(argv: list[str]) -> list[str]:
    """`nrt produce`'s arguments for the producer: --state-dir (as on every command; default
    $NRT_STATE_DIR or .nrt) is taken out, and without --url the readings go to the stack that
    state dir records, with the key it saved (through $NRT_API_KEY, never on a command line
    that `ps` shows)."""
    found = argparse.ArgumentParser(add_help=False)
    state_dir_flag(found)
    known, rest = found.parse_known_args(argv)
    state = StateDir(Path(known.state_dir))
    record = read_stack_record(state)
    if record is None or any(a == "--url" or a.startswith("--url=") for a in rest):
        return rest
    if record.api_key_required and "NRT_API_KEY" not in os.environ and state.api_key.exists():
        os.environ["NRT_API_KEY"] = state.api_key.read_text().strip()
    return [*rest, "--url", record.api_url]


def cmd_up(args: argparse.Namespace) -> int:
    # Ctrl-C and SIGTERM stop it (nrt.signals: the handler takes no lock). Installed before the
    # start, so one that comes while it starts or prints the banner stops it cleanly after.
    signals = StopSignals.install()
    runtime = _runtime(args)
    assert runtime.aws is not None
    state = StateDir(Path(args.state_dir))
    print(f"embedded AWS  {runtime.aws.url}  (moto, state-machine execution on)")
    print(f"local API     {runtime.api_url}  POST /predictions, POST /events, GET /models")
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
        page = write_dashboard(runtime.lake, StateDir(Path(args.state_dir)).dashboard)
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


def stack_of(args: argparse.Namespace) -> Stack:
    """The stack a command works on: the local one with --local (or without --stack), else the
    deployed --stack NAME."""
    if not getattr(args, "local", False) and getattr(args, "stack", None):
        return stacks.deployed(args.stack, getattr(args, "region", None))
    return stacks.local(Path(args.state_dir), args.aws_port, getattr(args, "url", None))


def lake_of(args: argparse.Namespace) -> Path:
    """--lake, or the lake of --state-dir (where `nrt up --state-dir` wrote it)."""
    return Path(args.lake) if args.lake else StateDir(Path(args.state_dir)).lake


def cmd_query(args: argparse.Namespace) -> int:
    from nrt.lake.athena import QueryError, run_query

    if (args.execute is None) == (not args.files):
        print("give either SQL files or -e SQL", file=sys.stderr)
        return 2
    for path in args.files:
        if not path.is_file():
            print(f"no such SQL file: {path}", file=sys.stderr)
            return 2
    try:
        print(run_query(lake_of(args), args.execute, args.files, args.format))
    except QueryError as error:
        print(f"query failed: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from nrt.lake.athena import QueryError

    try:
        page = write_dashboard(lake_of(args), Path(args.out) if args.out else StateDir(Path(args.state_dir)).dashboard)
    except QueryError as error:
        print(f"dashboard failed: {error}", file=sys.stderr)
        return 1
    print(f"wrote {page}")
    return 0


def get_local(args: argparse.Namespace, path: str) -> Any:
    """GET a route of the running local API with its key; None (said on stderr) when it fails."""
    try:
        base = stacks.local(Path(args.state_dir), api_url=args.url, probe="api").api_url
    except StackError as error:
        print(f"cannot reach the local API: {error}", file=sys.stderr)
        return None
    key = saved_api_key(args)
    url = f"{base.rstrip('/')}{path}"
    request = urllib.request.Request(url, headers={"x-api-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as error:
        print(f"{url} answered {error.code}: {error.read().decode(errors='replace')}", file=sys.stderr)
    except OSError as error:
        print(f"cannot reach {base}: {error}", file=sys.stderr)
    return None


def cmd_models(args: argparse.Namespace) -> int:
    listing = get_local(args, "/models")
    if listing is None:
        return 1
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    print(f"{'model':<20} {'kind':<11} {'status':<10} features")
    for m in listing["models"]:
        names = m.get("features") or []
        count = m.get("feature_count") or len(names)
        features = ", ".join(names[:6]) + (f", ... ({count} in all)" if count > 6 else "") or "-"
        print(f"{m['model']:<20} {m.get('kind') or '-':<11} {m['status']:<10} {features}")
        if m.get("reason"):
            print(f"  {m['reason']}")
    return 0


def one_openmp_thread() -> Any:
    """Training here uses one OpenMP thread unless OMP_NUM_THREADS says otherwise: as fast on a
    2-core machine (measured on the example data sets), and the pool's idle threads spin and
    take the CPU a running `nrt up` needs. A SageMaker training job keeps every core."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    return nullcontext() if os.environ.get("OMP_NUM_THREADS") else threadpool_limits(limits=1, user_api="openmp")


def cmd_train(args: argparse.Namespace) -> int:
    from training.dataset import DatasetError, infer_kind, load_csv
    from training.inference import label_from_text
    from training.train import EVALUATION, MODEL_CARD, PLOT, Recipe, train

    directory = StateDir(Path(args.state_dir)).model(args.name)
    features = [f.strip() for f in args.features.split(",") if f.strip()] if args.features else None
    started = time.monotonic()
    try:
        if args.csv is None:
            if args.label or features or (args.task and args.task != "binary"):
                print("--label, --features and --task need --csv (the synthetic data is binary)", file=sys.stderr)
                return 2
            recipe = Recipe("synthetic", "label", None, "binary", args.rows, args.seed, args.noise, args.threshold)
            print(f"training {args.name} on {args.rows} synthetic readings ...", flush=True)
        else:
            if not args.label:
                print("--csv needs --label COLUMN: the column the model learns to predict", file=sys.stderr)
                return 2
            kind = args.task or infer_kind(load_csv(args.csv, args.label, features).y)
            positive = None if args.positive_label is None else label_from_text(args.positive_label)
            recipe = Recipe(
                str(args.csv),
                args.label,
                features,
                kind,
                seed=args.seed,
                threshold=args.threshold,
                positive_label=positive,
            )
            inferred = "" if args.task else " (inferred from the label; --task to force)"
            print(f"training {args.name} on {args.csv}: {kind}{inferred} ...", flush=True)
        with one_openmp_thread():
            evaluation = train(directory, recipe, name=args.name, progress=lambda step: print(f"  {step}", flush=True))
    except (DatasetError, ValueError) as error:
        print(f"cannot train {args.name}: {error}", file=sys.stderr)
        return 1
    print(
        f"wrote {directory} in {time.monotonic() - started:.1f} s: {evaluation.summary()} "
        f"on {evaluation.test_rows} held-out rows"
    )
    print(f"  report: {directory / EVALUATION}, {directory / PLOT}, {directory / MODEL_CARD}")
    return 0


def cmd_deploy_model(args: argparse.Namespace) -> int:

    from nrt.ops.deploy import DeployError, Instances, Serverless, deploy_model, image_uri, stack_target

    model_dir = Path(args.model_dir) if args.model_dir else StateDir(Path(args.state_dir)).model(args.name)
    if args.code:
        import shutil

        code = Path(args.code)
        if not (code / "inference.py").is_file():
            print(f"cannot deploy {args.name}: --code {code} has no inference.py", file=sys.stderr)
            return 1
        shutil.rmtree(model_dir / "code", ignore_errors=True)
        shutil.copytree(code, model_dir / "code", ignore=shutil.ignore_patterns("__pycache__"))
        print(f"serving {args.name} with your code from {code} (copied to {model_dir / 'code'})")
    if args.model_file:
        from nrt.ops.deploy import DeployError, check_model

        flags = [
            f"--{k.replace('_', '-')}={v}"
            for k, v in (
                ("task", args.task),
                ("sample", args.sample),
                ("positive_label", args.positive_label),
                ("threshold", args.threshold),
                ("trust", args.trust),
            )
            if v is not None
        ]
        print(f"reading {args.model_file} into {model_dir} (loaded in a separate process) ...", flush=True)
        try:
            check_model(model_dir, Path(args.model_file), flags)
        except DeployError as error:
            print(f"cannot deploy {args.name}: {error}", file=sys.stderr)
            return 1
    capacity: Serverless | Instances = (
        Instances(args.instance_type, args.instance_count)
        if args.instance_type
        else Serverless(args.memory, args.max_concurrency, args.provisioned_concurrency)
    )
    try:
        stack = stack_of(args)
        target = stack_target(stack)
        sm, s3 = stack.client("sagemaker"), stack.client("s3")
        if stack.local:
            try:
                s3.head_bucket(Bucket=target.bucket)
            except Exception:
                print("cannot reach the embedded AWS: is `nrt up` running?", file=sys.stderr)
                return 1
        # The image the stack was deployed with (its SklearnImageUri output); the region's for a
        # stack deployed before that output.
        image = image_uri(target.region, args.instance_type, stack.outputs.get("SklearnImageUri"))
        # Locally the model loads in a second or two: poll often rather than AWS's every 10 s.
        poll = 0.2 if stack.local else 10.0
        deployment = deploy_model(
            sm, s3, args.name, model_dir, target, capacity, image, log=print, wait=not args.no_wait, poll=poll
        )
    except (DeployError, StackError, FileNotFoundError) as error:
        print(f"cannot deploy {args.name}: {error}", file=sys.stderr)
        return 1
    verb = "created" if deployment.created else "updated"
    print(f"{verb} {deployment.endpoint} -> {deployment.version} ({deployment.status})")
    if args.local and not args.no_wait:
        print(f"its model host answers; send readings with model {args.name!r}")
    return 0


def cmd_failures(args: argparse.Namespace) -> int:

    from nrt.ops import failures

    try:
        stack = stack_of(args)
        ddb, table_name, url = stack.client("dynamodb"), stack.output("FailuresTableName"), args.url or stack.api_url
    except StackError as error:
        print(f"cannot read the failure store: {error}", file=sys.stderr)
        return 1
    try:
        found_failures = list(failures.scan(ddb, table_name))
    except Exception as error:
        print(f"cannot read the failure store {table_name}: {error}. Is `nrt up` running?", file=sys.stderr)
        return 1
    if args.action == "list":
        if args.json:
            print(json.dumps([f.__dict__ for f in found_failures], indent=1))
        else:
            print(failures.table(found_failures))
        return 0

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        key = saved_api_key(args) if not args.stack else args.api_key
        headers = {"Content-Type": "application/json", **({"x-api-key": key} if key else {})}
        request = urllib.request.Request(
            f"{url.rstrip('/')}/predictions", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def delete(failure_id: str) -> None:
        ddb.delete_item(TableName=table_name, Key={"failure_id": {"S": failure_id}})

    print(f"replaying to {url}/predictions ...")
    summary = failures.replay(found_failures, post, delete, print)
    print(
        f"replayed {summary.replayed}: {summary.succeeded} succeeded and were removed, "
        f"{summary.failed_again} failed again; {summary.skipped} not replayable (kept)"
    )
    return 0 if summary.failed_again == 0 else 1


def cmd_status(args: argparse.Namespace) -> int:
    from nrt import health

    status = get_local(args, "/status")
    if status is None:
        return 1
    print(json.dumps(status, indent=1) if args.json else health.line(status))
    return 0


def cmd_image_uri(args: argparse.Namespace) -> int:
    from nrt.ops.deploy import DeployError, image_uri

    try:
        print(image_uri(args.region, args.instance_type))
    except DeployError as error:
        print(f"no image: {error}", file=sys.stderr)
        return 1
    return 0


def follow_execution(
    sfn: Any, execution: str, timeout: float, poll: float, out: Callable[[str], None] | None = None
) -> dict[str, Any] | None:
    """Print each state as the execution enters it; return its description once it ends, None on timeout.

    The status is read before the history, so the last history read always covers the states entered
    before the execution ended: reading them the other way round loses whatever ran in between.
    """
    say = out or (lambda line: print(line, flush=True))
    seen = 0
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
        events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        for event in events[seen:]:
            details = event.get("stateEnteredEventDetails")
            if details:
                say(f"  {details['name']}")
        seen = len(events)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            return None
        time.sleep(poll)


def cmd_retrain(args: argparse.Namespace) -> int:
    import uuid

    try:
        stack = stack_of(args)
        arn, sfn = stack.output("RetrainStateMachineArn"), stack.client("stepfunctions")
    except StackError as error:
        print(f"cannot retrain: {error}", file=sys.stderr)
        return 1
    try:
        execution = sfn.start_execution(
            stateMachineArn=arn, name=f"{args.name}-{uuid.uuid4().hex[:12]}", input=json.dumps({"model": args.name})
        )["executionArn"]
    except Exception as error:
        print(f"cannot start retraining: {error}", file=sys.stderr)
        return 1
    print(f"retraining {args.name}: {execution}")
    described = follow_execution(sfn, execution, timeout=args.timeout, poll=0.3 if args.local else 2)
    if described is None:
        print(f"still running after {args.timeout:g} s; follow it with: {execution}")
        return 1
    if described["status"] != "SUCCEEDED":
        print(f"{described['status']}: {described.get('error')}: {described.get('cause')}", file=sys.stderr)
        return 1
    output = json.loads(described.get("output") or "{}")
    gate = output.get("gate", {})
    verdict = {"promoted": "deployed", "rejected": "rejected by the quality gate"}.get(output.get("decision"), "done")
    serving = "none recorded" if gate.get("serving") is None else gate["serving"]
    print(f"{verdict}: new {gate.get('metric')} {gate.get('candidate')}, serving {serving}")
    return 0


def model_name(text: str) -> str:
    """argparse's type for a model name: the name rule (nrt.names) with the local stack's prefix,
    so a bad name is a usage error before anything is read, written or deleted. A deployed stack
    with another prefix is checked again with its own by deploy."""
    try:
        return check_model_name(text, stacks.local_prefix())
    except NameRuleError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def state_dir_flag(p: argparse.ArgumentParser, help: str = "") -> None:
    """--state-dir, spelled and defaulted alike on every command: it also finds the running stack."""
    p.add_argument(
        "--state-dir",
        default=state_dir_default(),
        help=f"{help}the state dir of `nrt up`; its stack.json says where it listens (default: $NRT_STATE_DIR or .nrt)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nrt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def stack_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--api-port", type=int, default=API_PORT)
        p.add_argument("--aws-port", type=int, default=AWS_PORT)
        state_dir_flag(p)
        p.add_argument("--flush-seconds", type=float, default=5.0, help="lake buffer interval (Firehose's, locally)")

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
    up.set_defaults(func=cmd_up)

    def api_key_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--api-key", help="default: the key `nrt up --auth` saved in <state-dir>/api-key")
        state_dir_flag(p)

    def local_api_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", help="the local API (default: where the state dir's `nrt up` listens)")
        p.add_argument("--json", action="store_true")
        api_key_flags(p)

    status = sub.add_parser("status", help="the running stack's health: readings/s, p99, failures, lake lag")
    local_api_flags(status)
    status.set_defaults(func=cmd_status)

    demo = sub.add_parser("demo", help="start the stack, stream readings, print a summary")
    stack_flags(demo)
    demo.add_argument("--count", type=int, default=DEMO_READINGS)
    demo.add_argument("--rate", type=float, default=0.0, help="readings/s; 0 for as fast as possible")
    demo.add_argument("--lake-timeout", type=float, default=60.0, help="seconds to wait for the lake")
    demo.set_defaults(func=cmd_demo)

    sub.add_parser("produce", help="send readings (same flags as producer/producer.py; see nrt produce --help)")

    query = sub.add_parser("query", help="run Athena SQL (files or -e) over the local lake")
    query.add_argument("files", nargs="*", type=Path, metavar="FILE.sql")
    query.add_argument("-e", "--execute", metavar="SQL", help="one SQL statement instead of files")
    query.add_argument("--format", choices=FORMATS, default="table")
    state_dir_flag(query, "whose lake: ")
    query.add_argument("--lake", help="the lake folder (default: <state-dir>/lake)")
    query.set_defaults(func=cmd_query)

    dashboard = sub.add_parser("dashboard", help="write the dashboard page from the local lake")
    state_dir_flag(dashboard, "whose lake: ")
    dashboard.add_argument("--lake", help="the lake folder (default: <state-dir>/lake)")
    dashboard.add_argument("--out", help="the page (default: <state-dir>/dashboard.html)")
    dashboard.set_defaults(func=cmd_dashboard)

    models = sub.add_parser("models", help="list the models available now")
    local_api_flags(models)
    models.set_defaults(func=cmd_models)

    train = sub.add_parser("train", help="train a model into <state-dir>/models/NAME, with its evaluation report")
    train.add_argument("name", type=model_name)
    train.add_argument("--rows", type=int, default=20_000, help="synthetic readings to generate")
    train.add_argument("--seed", type=int, default=7)
    train.add_argument("--noise", type=float, default=0.0, help="share of synthetic labels to flip")
    train.add_argument("--csv", type=Path, help="train on your own data: any CSV with a header row")
    train.add_argument("--label", help="with --csv: the column to predict")
    train.add_argument("--features", help="with --csv: comma-separated feature columns (default: all but the label)")
    train.add_argument(
        "--task", choices=["binary", "multiclass", "regression"], help="default: inferred from the label"
    )
    train.add_argument("--threshold", type=float, help="binary: fixed decision threshold (default: chosen for best F1)")
    train.add_argument("--positive-label", help="binary: the positive label (default: the greater of the two)")
    state_dir_flag(train)
    train.set_defaults(func=cmd_train)

    deploy = sub.add_parser("deploy-model", help="deploy a trained model as the endpoint <prefix>NAME")
    deploy.add_argument("name", type=model_name)
    deploy.add_argument("--local", action="store_true", help="deploy to the embedded AWS of a running `nrt up`")
    deploy.add_argument("--model-dir", help="the trained model (default: <state-dir>/models/NAME)")
    deploy.add_argument(
        "--model-file", help="a fitted scikit-learn estimator or Pipeline saved with skops (.skops), joblib or pickle"
    )
    deploy.add_argument("--trust", help="with a .skops --model-file: comma-separated types to trust beyond skops' own")
    deploy.add_argument("--task", choices=["binary", "multiclass", "regression"], help="with --model-file: the kind")
    deploy.add_argument("--sample", help="with --model-file: a CSV of the features, for their types and categories")
    deploy.add_argument("--positive-label", help="with --model-file, binary: the positive label")
    deploy.add_argument("--threshold", type=float, help="with --model-file, binary: the decision threshold")
    deploy.add_argument("--code", help="your own serving code: a folder with inference.py (and requirements.txt)")
    state_dir_flag(deploy)
    deploy.add_argument("--memory", type=int, default=2048, help="serverless memory, MB (1024-6144)")
    deploy.add_argument("--max-concurrency", type=int, default=20, help="serverless max concurrency (1-200)")
    deploy.add_argument("--provisioned-concurrency", type=int, default=0, help="warm serverless capacity")
    deploy.add_argument("--instance-type", help="instance-backed instead of serverless, e.g. ml.m5.large")
    deploy.add_argument("--instance-count", type=int, default=1)
    deploy.add_argument("--stack", default="nrt-inference", help="the deployed stack whose outputs to use")
    deploy.add_argument("--region", help="AWS region (default: your AWS configuration)")
    deploy.add_argument("--aws-port", type=int, help="with --local: the embedded AWS's port (default: the state dir's)")
    deploy.add_argument("--no-wait", action="store_true", help="do not wait for InService")
    deploy.set_defaults(func=cmd_deploy_model)

    retrain = sub.add_parser("retrain", help="run the retraining workflow for NAME now and follow it")
    retrain.add_argument("name", type=model_name)
    retrain.add_argument("--local", action="store_true", help="on the embedded AWS of a running `nrt up`")
    retrain.add_argument(
        "--aws-port", type=int, help="with --local: the embedded AWS's port (default: the state dir's)"
    )
    state_dir_flag(retrain)
    retrain.add_argument("--stack", default="nrt-inference")
    retrain.add_argument("--region")
    retrain.add_argument("--timeout", type=float, default=3600.0)
    retrain.set_defaults(func=cmd_retrain)

    failed = sub.add_parser("failures", help="list the failure store, or replay what is replayable")
    failed.add_argument("action", nargs="?", choices=["list", "replay"], default="list")
    failed.add_argument("--aws-port", type=int, help="the embedded AWS's port (default: the state dir's)")
    failed.add_argument("--url", help="the API to replay to (default: the local API, or the stack's ApiUrl)")
    api_key_flags(failed)
    failed.add_argument("--stack", help="use a deployed stack's failure store instead of the local one")
    failed.add_argument("--region")
    failed.add_argument("--json", action="store_true")
    failed.set_defaults(func=cmd_failures)

    image = sub.add_parser("image-uri", help="print SageMaker's scikit-learn image for a region")
    image.add_argument("--region", required=True)
    image.add_argument("--instance-type", help="e.g. ml.m5.large (default) or ml.c7g.large (Graviton)")
    image.set_defaults(func=cmd_image_uri)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["produce"]:
        # The producer owns its flags (and --help); argparse's REMAINDER would eat none of them.
        return producer.main(producer_argv(argv[1:]))
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
