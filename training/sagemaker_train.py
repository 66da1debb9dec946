"""Training entry point for SageMaker's scikit-learn container (the retraining workflow's job).

SageMaker runs it with the hyperparameters in SM_HPS and its channels in SM_CHANNEL_<NAME>,
and writes /opt/ml/model (SM_MODEL_DIR) to model.tar.gz. The `train` channel is the model's
recipe folder: its signature.json (the recipe: data source, label, features, kind, gate metric)
and the CSV files to train on, fresh data included: training/prepare.py's prepared folder
(signature.json, train.csv, holdout.csv, manifest.json), or a raw folder, prepared here first.
The `serving` channel is the serving model's model.tar.gz. The model directory also gets
code/inference.py, so the artifact is servable as it is.

The job judges the candidate and the serving model on the same held-out rows (hold_out, judge;
the rule is training/gate.py's) and prints `validation:<name>=<number>` lines that the job's
MetricDefinitions turn into FinalMetricDataList for the workflow's quality gate: gate_metric
(the candidate), serving_metric (the serving model, same rows), gate_verdict, holdout_rows,
holdout_minority_rows and the interval gate_difference_low / gate_difference_high.
As a trial of a hyperparameter tuning job it takes the tuned parameters among its
hyperparameters (training/tune.py's SPACE, as strings) and reports `validation:objective=<value>`,
its score on training rows only, which the tuning job optimises.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from training import gate, inference, tune
from training.dataset import OUTCOME_CONTRACT, PREPARED_HOLDOUT, is_prepared, load_csv, synthetic_table
from training.inference import native
from training.prepare import csv_files, prepare_channel
from training.train import EVALUATION, HELD_OUT_SHARE, Recipe, _as_model_input, gate_metric_of, train

METRIC_LINE = "validation:{}={:.6f}"
# The names the workflow's MetricDefinitions read (statemachine/retrain.asl.json, Train).
GATE_METRIC = "gate_metric"  # the candidate's score in the model's gate metric
SERVING_METRIC = "serving_metric"  # the serving model's, on the same rows
VERDICT = "gate_verdict"  # training/gate.py Verdict: 0 worse, 1 not worse, 2-4 undecided
HOLDOUT_ROWS = "holdout_rows"
MINORITY_ROWS = "holdout_minority_rows"
DIFFERENCE_LOW = "gate_difference_low"  # the bootstrap interval of candidate - serving
DIFFERENCE_HIGH = "gate_difference_high"
SERVING_CHANNEL = "serving"  # the serving model's model.tar.gz
HOLDOUT = PREPARED_HOLDOUT  # a prepared channel's rows to judge on
GATE_REPORT = "gate.json"  # the judgement, kept in the candidate's artifact
# The candidate's held-out value of its kind's live-quality metric (inference.QUALITY_HEADLINE):
# the retraining workflow writes it to the endpoint's nrt:quality_value tag on promotion.
QUALITY_VALUE = "quality_value"
# A tuning job's objective: the model's score on training rows only (training/tune.py), never the gate's.
TUNING_OBJECTIVE = "objective"


class NoRecipe(ValueError):
    """The channel does not say how to train this model again."""


def recipe_from(channel: Path, scratch: Path) -> Recipe:
    """The recipe in the channel's signature.json, its data the channel's prepared rows.

    The retraining workflow's channel is training/prepare.py's output (its manifest.json among
    the files); a raw recipe folder (signature.json and CSV files) is prepared here first, by the
    same step, so a channel made before preparation existed still trains."""
    signature_file = channel / inference.SIGNATURE
    if not signature_file.is_file():
        raise NoRecipe(f"no {inference.SIGNATURE} in the train channel: the model has no retraining recipe")
    recipe = json.loads(signature_file.read_text()).get("recipe")
    if not recipe:
        raise NoRecipe("the model's signature has no recipe: it was not trained by nrt train")
    if recipe["source"] == "synthetic":
        return Recipe(**recipe)
    if not is_prepared(channel):
        if not csv_files(channel):
            raise NoRecipe(f"the recipe trains on a CSV, and the train channel holds none ({channel})")
        prepare_channel(channel, scratch / "prepared")
        return recipe_from(scratch / "prepared", scratch)
    return Recipe(**{**recipe, "data": str(channel)})


def run(model_dir: Path, hyperparameters: dict[str, Any], channels: dict[str, Path]) -> str:
    """Train into model_dir by the channel's recipe, score it and the serving model on the same
    hold-out; returns the log lines the metric definitions read."""
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        recipe = (
            recipe_from(channels["train"], scratch)
            if "train" in channels
            else Recipe("synthetic", "label", None, "binary")
        )
        if recipe.source == "synthetic" and "rows" in hyperparameters:
            recipe = replace(recipe, rows=int(hyperparameters["rows"]))
        if recipe.gate_metric is None:  # trained before the metric could be chosen: its kind's
            recipe = replace(recipe, gate_metric=gate.LEGACY_METRIC[recipe.task])
        recipe, holdout = hold_out(recipe, channels.get("train"), scratch)
        evaluation = train(
            model_dir,
            recipe,
            name=str(hyperparameters.get("model", model_dir.name)),
            progress=lambda step: print(step, flush=True),
            tuner=tune.sagemaker_trial(hyperparameters),  # a tuning job's trial: its parameters
            holdout=holdout,
        )
        judgement = judge(model_dir, holdout, channels.get(SERVING_CHANNEL), scratch)
    check_outcome_contract(model_dir, channels.get("train"))
    (model_dir / GATE_REPORT).write_text(json.dumps({**asdict(judgement), "verdict": judgement.verdict.name}) + "\n")
    own_code = channels["train"] / "code" if "train" in channels else None
    if own_code is not None and (own_code / "inference.py").is_file():
        shutil.copytree(own_code, model_dir / "code")  # the model's own serving code (--code DIR) serves it again
    else:
        (model_dir / "code").mkdir(exist_ok=True)
        shutil.copy(inference.__file__, model_dir / "code" / "inference.py")
    lines = f"gate: {judgement.verdict.name}: {judgement.reason}\n"
    lines += METRIC_LINE.format(evaluation.metric, evaluation.value) + "\n"
    lines += metric_lines(judgement)
    lines += METRIC_LINE.format(TUNING_OBJECTIVE, tune.objective_of(model_dir)) + "\n"
    quality = quality_value(model_dir)
    if quality is not None:
        lines += METRIC_LINE.format(QUALITY_VALUE, quality) + "\n"
    print(lines, end="", flush=True)
    return lines


def quality_value(model_dir: Path) -> float | None:
    """The model's held-out value of its kind's live-quality metric (evaluation.json), if measured."""
    signature = json.loads((model_dir / inference.SIGNATURE).read_text())
    metrics = json.loads((model_dir / EVALUATION).read_text()).get("metrics") or {}
    value = metrics.get(inference.QUALITY_HEADLINE[signature["kind"]])
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def check_outcome_contract(model_dir: Path, channel: Path | None) -> None:
    """The prepared outcome_contract.json (what the workflow makes POST /outcomes check once this
    model serves) must be what the model gives: else the job fails rather than the API refuse its labels."""
    prepared = channel / OUTCOME_CONTRACT if channel is not None else None
    if prepared is None or not prepared.is_file():
        return
    signature = inference.Signature.from_dict(json.loads((model_dir / inference.SIGNATURE).read_text()))
    given = inference.outcome_contract(signature.kind, signature.labels)
    expected = json.loads(prepared.read_text())
    if given != expected:
        raise ValueError(f"the model gives {given}, the prepared {OUTCOME_CONTRACT} says {expected}")


def metric_lines(judgement: gate.Judgement) -> str:
    """The judgement as `validation:<name>=<number>` lines, only the numbers it has."""
    values = {
        GATE_METRIC: judgement.candidate,
        SERVING_METRIC: judgement.serving,
        VERDICT: float(judgement.verdict),
        HOLDOUT_ROWS: float(judgement.rows),
        MINORITY_ROWS: None if judgement.minority_rows is None else float(judgement.minority_rows),
        DIFFERENCE_LOW: judgement.low,
        DIFFERENCE_HIGH: judgement.high,
    }
    return "".join(METRIC_LINE.format(name, value) + "\n" for name, value in values.items() if value is not None)


def hold_out(recipe: Recipe, channel: Path | None, scratch: Path) -> tuple[Recipe, Path]:
    """The recipe to fit and the rows both models are judged on: the prepared folder's holdout.csv
    (training/prepare.py: the newest rows when there is a time column), or a synthetic recipe's
    channel's, else fresh synthetic readings (another seed) or a seeded 20% of the CSV (stratified
    for classifiers), the recipe then fitting the rest."""
    prepared = Path(recipe.data) if recipe.data is not None and is_prepared(Path(recipe.data)) else None
    given = prepared or channel
    if given is not None and (given / HOLDOUT).is_file():
        return recipe, given / HOLDOUT
    holdout = scratch / HOLDOUT
    if recipe.source == "synthetic":
        share = HELD_OUT_SHARE / (1 - HELD_OUT_SHARE)
        table = synthetic_table(max(int(recipe.rows * share), 1), recipe.seed + 1, recipe.noise)
        table.x.assign(**{table.label: table.y}).to_csv(holdout, index=False)
        return recipe, holdout
    load_csv(Path(recipe.source), recipe.label, recipe.features)  # its checks, with their reasons
    frame = read_rows(Path(recipe.source))
    stratify = None if recipe.task == "regression" else frame[recipe.label]
    fit, held = train_test_split(frame, test_size=HELD_OUT_SHARE, random_state=recipe.seed, stratify=stratify)
    fitted = scratch / "fit.csv"
    fit.to_csv(fitted, index=False)
    held.to_csv(holdout, index=False)
    return replace(recipe, source=str(fitted)), holdout


def read_rows(path: Path) -> pd.DataFrame:
    """A CSV's rows, every column, read as load_csv reads them (names stripped)."""
    return pd.read_csv(path, skipinitialspace=True).rename(columns=lambda name: str(name).strip())


class NotScored(Exception):
    """A model could not be scored on the hold-out; the message says why."""


def judge(model_dir: Path, holdout: Path, serving_channel: Path | None, scratch: Path) -> gate.Judgement:
    """The candidate (in model_dir) and the serving model (its model.tar.gz in the serving channel)
    on the same hold-out rows, in the candidate's gate metric."""
    candidate = inference.model_fn(str(model_dir))
    signature = candidate.signature
    metric = gate.GATE_METRICS[gate_metric_of(signature)]
    label = str((signature.recipe or {})["label"])
    frame = read_rows(holdout)
    y = frame[label] if signature.kind == "regression" else frame[label].map(native)
    truth = (y == signature.positive_label).to_numpy() if metric.reads == "probability" else y.to_numpy()
    mine = outputs(candidate, frame, metric, signature.positive_label)
    try:
        serving = load_serving(serving_channel, scratch / SERVING_CHANNEL)
        theirs, error = outputs(serving, frame, metric, signature.positive_label), None
    except NotScored as why:
        theirs, error = None, str(why)
    return gate.decide(metric, truth, mine, theirs, error)


def load_serving(channel: Path | None, into: Path) -> inference.Model:
    """The serving model from its model.tar.gz, loaded as its container loads it (model_fn)."""
    archives = sorted(channel.rglob("*.tar.gz")) if channel is not None else []
    if not archives:
        raise NotScored(f"no model.tar.gz in the {SERVING_CHANNEL} channel")
    try:
        with tarfile.open(archives[0]) as tar:
            tar.extractall(into, filter="data")  # no paths out of `into`, no devices
        return inference.model_fn(str(into))
    except Exception as error:  # a pickle can fail to load in any way; the gate says how
        raise NotScored(f"{archives[0].name} does not load: {type(error).__name__}: {error}") from None


def outputs(model: inference.Model, frame: pd.DataFrame, metric: gate.Metric, positive: Any) -> Any:
    """What the metric reads of the model on each row: the positive label's probability, the label,
    or the value. The model takes the features its own signature names."""
    signature = model.signature
    missing = [name for name in signature.feature_names if name not in frame.columns]
    if missing:
        raise NotScored(f"the hold-out has no column {', '.join(missing)} (a feature of the model)")
    try:
        x = _as_model_input(frame[signature.feature_names], signature.features)
        return _read(metric, model.estimator, x if signature.named else x.to_numpy(dtype=float), positive)
    except NotScored:
        raise
    except Exception as error:  # the model's own code scores: its failure is a reason, not a crash
        raise NotScored(f"scoring failed: {type(error).__name__}: {error}") from None


def _read(metric: gate.Metric, estimator: Any, x: Any, positive: Any) -> Any:
    if metric.reads == "value":
        return estimator.predict(x)
    if metric.reads == "label":
        return np.asarray([native(v) for v in estimator.predict(x)])
    classes = [native(c) for c in estimator.classes_]
    if positive not in classes:
        raise NotScored(f"the model has no label {positive!r} (its labels: {classes})")
    return estimator.predict_proba(x)[:, classes.index(positive)]


def main() -> int:
    hyperparameters = json.loads(os.environ.get("SM_HPS", "{}"))
    channels = {
        name.removeprefix("SM_CHANNEL_").lower(): Path(value)
        for name, value in os.environ.items()
        if name.startswith("SM_CHANNEL_")
    }
    run(Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model")), hyperparameters, channels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
