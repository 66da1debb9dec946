"""`nrt models`, `train`, `deploy-model`, `retrain` and `image-uri`: a model from data to endpoint."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nrt.ops.deploy import Deployment
    from training.inference import UnknownCategories
    from training.train import Recipe, Tuner

from nrt.cli.common import get_local, local_api_flags, model_name, stack_of, state_dir_flag
from nrt.ops.stacks import StackError
from nrt.statedir import (
    StateDir,
)


def cmd_models(args: argparse.Namespace) -> int:
    listing = get_local(args, "/models")
    if listing is None:
        return 1
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    print(f"{'model':<20} {'kind':<11} {'status':<10} {'tier':<9} {'cache':<7} features")
    for m in listing["models"]:
        print(model_line(m))
        if m.get("reason"):
            print(f"  {m['reason']}")
    return 0


def model_line(m: dict[str, Any]) -> str:
    """One model of GET /models as a line of `nrt models`."""
    names = m.get("features") or []
    count = m.get("feature_count") or len(names)
    features = ", ".join(names[:6]) + (f", ... ({count} in all)" if count > 6 else "") or "-"
    cache = f"{m['cache_seconds']} s" if m.get("cache_seconds") else "off"
    tier = m.get("tier") or "endpoint"
    return f"{m['model']:<20} {m.get('kind') or '-':<11} {m['status']:<10} {tier:<9} {cache:<7} {features}"


def one_openmp_thread() -> AbstractContextManager[object]:
    """Training here uses one OpenMP thread unless OMP_NUM_THREADS says otherwise: as fast on a
    2-core machine (measured on the example data sets), and the pool's idle threads spin and
    take the CPU a running `nrt up` needs. A SageMaker training job keeps every core."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    return nullcontext() if os.environ.get("OMP_NUM_THREADS") else threadpool_limits(limits=1, user_api="openmp")


class UsageError(ValueError):
    """Flags that do not go together: exit 2, as argparse's own usage errors."""


def cmd_train(args: argparse.Namespace) -> int:
    from training.dataset import DatasetError
    from training.train import EVALUATION, MODEL_CARD, PLOT, train

    directory = StateDir(Path(args.state_dir)).model(args.name)
    started = time.monotonic()
    try:
        recipe = training_recipe(args)
        search = tuner_of(args)
        with one_openmp_thread(), tempfile.TemporaryDirectory(prefix="nrt-prepared-") as scratch:
            recipe = prepared(recipe, Path(scratch))
            evaluation = train(
                directory,
                recipe,
                name=args.name,
                progress=lambda step: print(f"  {step}", flush=True),
                tuner=search,
            )
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except (DatasetError, ValueError) as error:
        print(f"cannot train {args.name}: {error}", file=sys.stderr)
        return 1
    print(
        f"wrote {directory} in {time.monotonic() - started:.1f} s: {evaluation.summary()} "
        f"on {evaluation.test_rows} held-out rows"
    )
    print(f"  report: {directory / EVALUATION}, {directory / PLOT}, {directory / MODEL_CARD}")
    return 0


def prepared(recipe: Recipe, folder: Path) -> Recipe:
    """A CSV recipe's data through training/prepare.py (the retraining workflow's Prepare step)
    into folder; the recipe then reads it there and records the file's sha256 and rows."""
    from dataclasses import asdict, replace

    from training.prepare import prepare

    if recipe.source == "synthetic":
        return recipe
    found = prepare([Path(recipe.source)], folder, asdict(recipe))
    dropped = {s["rule"]: s["rows_in"] - s["rows_out"] for s in found["steps"] if s["rows_in"] > s["rows_out"]}
    print(
        f"  prepared (version {found['preparation_version']}): {found['rows_in']} rows in, "
        f"{found['rows_out']['train']} to fit and {found['rows_out']['holdout']} to judge ({found['split']})"
        + (f"; dropped {', '.join(f'{n} {rule}' for rule, n in dropped.items())}" if dropped else ""),
        flush=True,
    )
    return replace(recipe, data=str(folder), sources=found["sources"])


def tuning_flags(parser: argparse.ArgumentParser) -> None:
    """--tune, --trials and --tune-timeout: a bounded hyperparameter search before the fit (off by default).

    The defaults are training/tune.py's TRIALS and TIMEOUT_SECONDS, named in the help only: importing
    Optuna for every command's parser would slow them all."""
    parser.add_argument(
        "--tune",
        action="store_true",
        help="search the booster's parameters first (Optuna TPE with median pruning, on the training rows only)",
    )
    parser.add_argument("--trials", type=int, help="with --tune: at most this many trials (default 20)")
    parser.add_argument(
        "--tune-timeout", type=float, help="with --tune: seconds after which no new trial starts (default 300)"
    )


def tuner_of(args: argparse.Namespace) -> Tuner | None:
    """The search `nrt train` runs before the fit: none without --tune."""
    from training.tune import tuner

    if not args.tune:
        if args.trials is not None or args.tune_timeout is not None:
            raise UsageError("--trials and --tune-timeout bound the search of --tune: add --tune")
        return None
    bounds = {"trials": args.trials, "timeout": args.tune_timeout}
    return tuner(**{name: value for name, value in bounds.items() if value is not None})


def training_recipe(args: argparse.Namespace) -> Recipe:
    """What `nrt train` trains on: the synthetic readings, or --csv with --label (and --features)."""
    features = [f.strip() for f in args.features.split(",") if f.strip()] if args.features else None
    return synthetic_recipe(args, features) if args.csv is None else csv_recipe(args, features)


def synthetic_recipe(args: argparse.Namespace, features: list[str] | None) -> Recipe:
    from training.train import Recipe

    if args.label or features or args.time_column or (args.task and args.task != "binary"):
        raise UsageError("--label, --features, --time-column and --task need --csv (the synthetic data is binary)")
    print(f"training {args.name} on {args.rows} synthetic readings ...", flush=True)
    return Recipe(
        "synthetic",
        "label",
        None,
        "binary",
        args.rows,
        args.seed,
        args.noise,
        args.threshold,
        threshold_for=args.threshold_for,
        unknown_categories=args.unknown_categories,
        class_weight=args.class_weight,
        gate_metric=args.gate_metric,
    )


def csv_recipe(args: argparse.Namespace, features: list[str] | None) -> Recipe:
    from training.dataset import infer_kind, load_csv
    from training.inference import label_from_text
    from training.train import Recipe

    if not args.label:
        raise UsageError("--csv needs --label COLUMN: the column the model learns to predict")
    kind = args.task or infer_kind(load_csv(args.csv, args.label, features, drop_unlabelled=True).y)
    positive = None if args.positive_label is None else label_from_text(args.positive_label)
    inferred = "" if args.task else " (inferred from the label; --task to force)"
    print(f"training {args.name} on {args.csv}: {kind}{inferred} ...", flush=True)
    time = split_column(args, features)
    return Recipe(
        str(args.csv),
        args.label,
        features,
        kind,
        seed=args.seed,
        threshold=args.threshold,
        threshold_for=args.threshold_for,
        positive_label=positive,
        unknown_categories=args.unknown_categories,
        class_weight=args.class_weight,
        gate_metric=args.gate_metric,
        time_column=time,
    )


def split_column(args: argparse.Namespace, features: list[str] | None) -> str | None:
    """The CSV's time column (--time-column, else the first column of ISO 8601 dates): it splits the
    rows (the newest held out) and is no feature; a date as a category would know only the training
    dates and refuse every new reading. UsageError when it cannot be, or is also named a feature."""
    from training.prepare import time_column

    if not Path(args.csv).is_file():  # refused by the preparation, as before
        return None
    named, frame = _named_time_column(args)
    column = time_column(frame, args.label, named)
    if column in (features or []):
        raise UsageError(
            f"--features names {column!r}, the time column that splits the rows: a date is no feature (as a "
            "category it knows only the training dates, so every new reading is refused); leave it out of "
            "--features, or derive a feature from it (a weekday, a month) in the CSV"
        )
    if column is not None:
        say_time_column(column, named is not None)
    return column


def say_time_column(column: str, named: bool) -> None:
    """Which column splits the rows, and how it was chosen."""
    how = "--time-column" if named else "every value an ISO 8601 date; --time-column to choose"
    print(f"  time column {column!r} ({how}): splits the rows, the newest held out; not a feature", flush=True)


def _named_time_column(args: argparse.Namespace) -> tuple[str | None, Any]:
    """--time-column (None when not given), checked against the CSV, and the CSV as a frame."""
    from training.dataset import DatasetError
    from training.prepare import is_time, read_csv

    try:
        frame = read_csv(Path(args.csv))
    except (OSError, ValueError) as error:
        raise DatasetError(f"{args.csv}: {error}") from None
    named: str | None = args.time_column
    if named is not None and (named == args.label or named not in frame.columns or not is_time(frame[named])):
        raise UsageError(f"--time-column {named}: not a column of {args.csv} whose every value is an ISO 8601 date")
    return named, frame


def cmd_deploy_model(args: argparse.Namespace) -> int:
    from nrt.ops.target import DeployError

    model_dir = Path(args.model_dir) if args.model_dir else StateDir(Path(args.state_dir)).model(args.name)
    try:
        if args.code:
            take_code(args.name, Path(args.code), model_dir)
        if args.model_file:
            take_model_file(args, model_dir)
        elif not model_dir.is_dir():
            raise DeployError(
                f"no trained model at {model_dir}: train it first (nrt train {args.name} --csv FILE --label COLUMN), "
                "or deploy a fitted estimator with --model-file"
            )
        if args.unknown_categories:
            set_unknown_categories(model_dir, args.unknown_categories)
        deployment = deploy_to_stack(args, model_dir)
    except (DeployError, StackError, FileNotFoundError) as error:
        print(f"cannot deploy {args.name}: {error}", file=sys.stderr)
        return 1
    verb = "created" if deployment.created else "updated"
    print(f"{verb} {deployment.endpoint} -> {deployment.version} ({deployment.status})")
    if args.local and not args.no_wait:
        print(f"its model host answers; send readings with model {args.name!r}")
    return 0


def take_code(name: str, code: Path, model_dir: Path) -> None:
    """--code DIR: your serving code, or only a requirements.txt and helper modules, into model_dir/code."""
    import shutil

    from nrt.ops.target import DeployError

    own = (code / "inference.py").is_file()
    if not (own or (code / "requirements.txt").is_file() or any(code.glob("*.py"))):
        raise DeployError(
            f"--code {code} has no inference.py, requirements.txt or Python module: "
            "give a folder with your serving code, or with the requirements and helper modules the model needs"
        )
    shutil.rmtree(model_dir / "code", ignore_errors=True)
    shutil.copytree(code, model_dir / "code", ignore=shutil.ignore_patterns("__pycache__"))
    served_by = "your code" if own else "the project's serving code and your files"
    print(f"serving {name} with {served_by} from {code} (copied to {model_dir / 'code'})")


def set_unknown_categories(model_dir: Path, policy: UnknownCategories) -> None:
    """--unknown-categories: the policy written into the model's signature (and its recipe, so
    retraining keeps it), which the package then carries."""
    from dataclasses import replace

    from nrt.ops.target import DeployError
    from training.inference import SIGNATURE, Signature

    path = model_dir / SIGNATURE
    if not path.is_file():  # a model saved without a signature: the check derives one first
        from nrt.ops.deploy import check_model

        check_model(model_dir)
    try:
        signature = Signature.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as error:
        raise DeployError(f"{path} is not a signature this code reads: {error}") from None
    recipe = None if signature.recipe is None else {**signature.recipe, "unknown_categories": policy}
    path.write_text(replace(signature, unknown_categories=policy, recipe=recipe).to_json())
    print(f"unknown categories: {policy} (written to {path})")
    closed = [f.name for f in signature.features if f.type == "category" and f.categories and not f.nullable]
    if policy == "missing" and closed:
        print(f"  refused still on {', '.join(closed)}: the model takes no missing value there")


def take_model_file(args: argparse.Namespace, model_dir: Path) -> None:
    """--model-file F: the fitted estimator, loaded and checked in a separate process, into model_dir."""
    from nrt.ops.deploy import check_model

    given = {
        "task": args.task,
        "sample": args.sample,
        "positive-label": args.positive_label,
        "threshold": args.threshold,
        "trust": args.trust,
    }
    flags = [f"--{flag}={value}" for flag, value in given.items() if value is not None]
    print(f"reading {args.model_file} into {model_dir} (loaded in a separate process) ...", flush=True)
    signature = check_model(model_dir, Path(args.model_file), flags)
    categories = [f.name for f in signature.features if f.type == "category"]
    print(
        f"{model_dir / 'signature.json'}: {signature.kind}, {len(signature.features)} features"
        f"{' (categories: ' + ', '.join(categories) + ')' if categories else ''}, "
        f"unknown categories: {signature.unknown_categories}"
    )


def deploy_to_stack(args: argparse.Namespace, model_dir: Path) -> Deployment:
    """The model directory as the endpoint <prefix>NAME of the local or the deployed stack."""
    from nrt.ops.cache import CacheSetting
    from nrt.ops.deploy import Instances, Serverless, deploy_model, stack_target
    from nrt.ops.target import image_uri

    capacity: Serverless | Instances = (
        Instances(args.instance_type, args.instance_count)
        if args.instance_type
        else Serverless(args.memory, args.max_concurrency, args.provisioned_concurrency)
    )
    stack = stack_of(args)
    target = stack_target(stack)
    # The image the stack was deployed with (its SklearnImageUri output); the region's for a
    # stack deployed before that output.
    image = image_uri(target.region, args.instance_type, stack.outputs.get("SklearnImageUri"))
    # Locally the model loads in a second or two: poll often rather than AWS's every 10 s.
    poll = 0.2 if stack.local else 10.0
    sm, s3 = stack.client("sagemaker"), stack.client("s3")
    # Every deploy sets the cache: --cache SECONDS, or off (0) when absent.
    cache = CacheSetting(stack.client("dynamodb"), stack.output("CacheTableName"), args.cache)
    return deploy_model(
        sm,
        s3,
        args.name,
        model_dir,
        target,
        capacity,
        image,
        log=print,
        wait=not args.no_wait,
        poll=poll,
        tier=args.tier,
        cache=cache,
    )


def cmd_image_uri(args: argparse.Namespace) -> int:
    from nrt.ops.target import DeployError, image_uri

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


def retrain_input(args: argparse.Namespace) -> dict[str, Any]:
    """The retraining workflow's input: the model; contract_change with --contract-change; and tune
    only when --tune or --no-tune says (else the stack's RetrainTuning decides)."""
    options: dict[str, Any] = {"model": args.name}
    if args.contract_change:
        options["contract_change"] = True
    if args.tune is not None:
        options["tune"] = args.tune
    return options


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
            stateMachineArn=arn, name=f"{args.name}-{uuid.uuid4().hex[:12]}", input=json.dumps(retrain_input(args))
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
    print(retrain_summary(json.loads(described.get("output") or "{}")))
    return 0


def retrain_summary(output: dict[str, Any]) -> str:
    """What the retraining did, from the execution's output: the preparation, the tuning, the gate."""
    return "\n".join([*preparation_summary(output), tuning_summary(output), gate_summary(output)])


def preparation_summary(output: dict[str, Any]) -> list[str]:
    """Rows in and out of the preparation, and the contract changes it accepted."""
    manifest = output.get("preparation", {}).get("manifest", {})
    sources = manifest.get("sources", [])
    rows = manifest.get("rows_out")
    if not isinstance(rows, dict):  # a synthetic recipe: nothing to prepare
        return [f"prepared: {', '.join(str(s.get('file')) for s in sources) or 'nothing'}"]
    return [
        f"prepared: {manifest.get('rows_in')} rows in from {len(sources)} files; "
        f"{rows.get('train')} to fit, {rows.get('holdout')} held out ({manifest.get('split')}); "
        f"dropped: {dropped_rows(manifest.get('steps', []))}",
        *contract_changes(manifest.get("contract_changes") or []),
    ]


def dropped_rows(steps: list[dict[str, Any]]) -> str:
    """The rules that dropped rows, and how many each."""
    dropped = [f"{s['rows_in'] - s['rows_out']} by {s['rule']}" for s in steps if s["rows_in"] != s["rows_out"]]
    return ", ".join(dropped) or "none"


def contract_changes(changes: list[str]) -> list[str]:
    """The contract changes the preparation accepted (--contract-change), one a line."""
    heading = [f"contract changes accepted (--contract-change), {len(changes)}:"] if changes else []
    return heading + [f"  {change}" for change in changes]


def tuning_summary(output: dict[str, Any]) -> str:
    """Whether a tuning job ran, and its winner."""
    tuning = output.get("tuning")
    if not isinstance(tuning, dict):
        return "tuning: off (one training job)"
    [objective, *_] = tuning.get("objective") or [{}]
    trials = (tuning.get("trials") or {}).get("Completed")
    return (
        f"tuning: {tuning.get('job')} ran {trials} trials; best {tuning.get('best_job')} with "
        f"{objective.get('MetricName', 'objective')} {objective.get('Value')} (training rows only)"
    )


def gate_summary(output: dict[str, Any]) -> str:
    """What the retraining's quality gate decided, from the execution's output: both scores on the
    same held-out rows, and the reason when it could not judge."""
    gate = output.get("gate", {})
    decision = str(output.get("decision"))
    verdict = {
        "promoted": "deployed",
        "rejected": "rejected by the quality gate",
        "undecided": "undecided: the serving model stays",
    }.get(decision, "done")
    scores = [
        f"{who} {gate.get('metric')} {gate[key]:g}"
        for who, key in (("new", "candidate"), ("serving", "serving"))
        if isinstance(gate.get(key), int | float)
    ]
    rows = f" on the same {gate['rows']} held-out rows" if gate.get("rows") is not None else ""
    line = f"{verdict}: {', '.join(scores) or 'no scores'}{rows}"
    if isinstance(gate.get("low"), int | float) and isinstance(gate.get("high"), int | float):
        line += f" (95% interval of new - serving: [{gate['low']:.4g}, {gate['high']:.4g}])"
    return line + (f"\n  {gate['reason']}" if gate.get("reason") else "")


def unknown_categories_flag(parser: argparse.ArgumentParser, default: str | None) -> None:
    """--unknown-categories refuse|missing: what a category the model never saw becomes."""
    parser.add_argument(
        "--unknown-categories",
        choices=["refuse", "missing"],
        default=default,
        help="a category the model never saw: refused (400), or scored as missing where the feature takes "
        "missing values" + (" (default: refuse)" if default else " (default: as the model's signature says)"),
    )


def threshold_rule(text: str) -> str:
    """--threshold-for: a rule training/threshold_rules.py understands, kept as given."""
    from training import threshold_rules

    try:
        threshold_rules.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_commands(sub: Any) -> None:
    """models, train, deploy-model, retrain, image-uri"""
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
    train.add_argument(
        "--features",
        help="with --csv: comma-separated feature columns (default: all but the label and the time column)",
    )
    train.add_argument(
        "--time-column",
        help="with --csv: the column of ISO 8601 dates that splits the rows, the newest 20%% held out; no feature "
        "(default: the first column whose every value is such a date, if any); recorded for retraining",
    )
    train.add_argument(
        "--task", choices=["binary", "multiclass", "regression"], help="default: inferred from the label"
    )
    train.add_argument("--threshold", type=float, help="binary: a fixed decision threshold (default: --threshold-for)")
    train.add_argument(
        "--threshold-for",
        type=threshold_rule,
        default="f1",
        metavar="RULE",
        help="binary: what the threshold is chosen for, out of fold: f1 (default), precision:P (the most recall at "
        "precision P or more), or cost:FN:FP (the least cost, a missed positive costing FN and a false alarm FP); "
        "recorded for retraining",
    )
    train.add_argument("--positive-label", help="binary: the positive label (default: the greater of the two)")
    unknown_categories_flag(train, "refuse")
    train.add_argument(
        "--class-weight",
        choices=["balanced", "none"],
        default="balanced",
        help="classifiers: weigh each class by 1 / its frequency (default), or not",
    )
    train.add_argument(
        "--gate-metric",
        choices=["pr_auc", "roc_auc", "macro_f1", "accuracy", "rmse", "mae"],
        help="the metric the retraining gate judges by: binary pr_auc or roc_auc, multi-class macro_f1 or "
        "accuracy, regression rmse or mae (default: pr_auc for binary under 10%% positives, else roc_auc; "
        "macro_f1; rmse)",
    )
    tuning_flags(train)
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
    unknown_categories_flag(deploy, None)
    deploy.add_argument(
        "--code",
        help="a folder with your serving code (inference.py), or only a requirements.txt and helper modules "
        "beside the project's serving code",
    )
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
    deploy.add_argument(
        "--tier",
        choices=["endpoint", "lambda"],
        default="endpoint",
        help="where POST /predictions scores it: the SageMaker endpoint through the workflow (default), or, "
        "on a stack with LatencyTier Enabled, the PredictFunction holding it in memory (the endpoint stays)",
    )
    deploy.add_argument(
        "--cache",
        type=int,
        default=0,
        metavar="SECONDS",
        help="keep each answer SECONDS and answer the same features from it without calling the model "
        "(default 0: off; a redeploy without --cache turns it off)",
    )
    deploy.set_defaults(func=cmd_deploy_model)

    retrain = sub.add_parser("retrain", help="run the retraining workflow for NAME now and follow it")
    retrain.add_argument("name", type=model_name)
    retrain.add_argument("--local", action="store_true", help="on the embedded AWS of a running `nrt up`")
    retrain.add_argument(
        "--contract-change",
        action="store_true",
        help="let fresh CSV files change the model's contract (columns, types, missing values, categories, labels) "
        "on purpose: merged into a new version, the changes listed in the manifest and the notification "
        "(default: such a file is refused, naming the file and the column)",
    )
    retrain.add_argument(
        "--aws-port", type=int, help="with --local: the embedded AWS's port (default: the state dir's)"
    )
    state_dir_flag(retrain)
    retrain.add_argument("--stack", default="nrt-inference")
    retrain.add_argument("--region")
    retrain.add_argument("--timeout", type=float, default=3600.0)
    retrain.add_argument(
        "--tune",
        action=argparse.BooleanOptionalAction,
        help="through a SageMaker hyperparameter tuning job (--tune) or one training job (--no-tune); "
        "default: the stack's RetrainTuning",
    )
    retrain.set_defaults(func=cmd_retrain)

    image = sub.add_parser("image-uri", help="print SageMaker's scikit-learn image for a region")
    image.add_argument("--region", required=True)
    image.add_argument("--instance-type", help="e.g. ml.m5.large (default) or ml.c7g.large (Graviton)")
    image.set_defaults(func=cmd_image_uri)
