"""`nrt train --tune`: a hyperparameter search over a small stated space, bounded in trials and time.

Optuna's TPE sampler proposes the parameters, its median pruner stops a trial whose validation
score after a stage of boosting is below the median of earlier trials at that stage. Each trial
fits on three quarters of the training rows and is scored on the other quarter (stratified for
classifiers): the training rows only, never the rows the model is judged on. The first trial is
the defaults (PARAMETERS), so the winner is never worse than them on that quarter. The winner's
parameters go into the recipe, and train() fits the served model with them.

A SageMaker hyperparameter tuning job searches the same SPACE on AWS (statemachine/retrain.asl.json);
parameters_from() reads its trial's hyperparameters, which SageMaker passes as strings.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import label_binarize

from training.inference import Feature, Kind
from training.train import (
    MODEL_CARD,
    OBJECTIVE_METRIC,
    PARAMETERS,
    TUNED,
    VALIDATION_SHARE,
    Progress,
    Recipe,
    Tuner,
    _model_x,
    estimator_for,
)

if TYPE_CHECKING:  # Optuna is imported where a search runs: SageMaker's image, which runs the trials, lacks it
    import optuna

TRIALS = 20
TIMEOUT_SECONDS = 300.0
STAGE = 50  # boosting iterations between two reports to the pruner
# The median pruner: no pruning before this many trials have finished, nor in a trial's first stage.
STARTUP_TRIALS = 3


@dataclass(frozen=True)
class Range:
    """One hyperparameter's range, searched on a log scale (as SageMaker's ScalingType Logarithmic)."""

    type: Literal["int", "float"]
    low: float
    high: float


# HistGradientBoosting's parameters that matter most, for every kind; max_iter is chosen by train().
SPACE: dict[str, Range] = {
    "learning_rate": Range("float", 0.02, 0.3),
    "max_leaf_nodes": Range("int", 8, 64),
    "min_samples_leaf": Range("int", 5, 100),
    "l2_regularization": Range("float", 0.0001, 10.0),
}
assert tuple(SPACE) == TUNED
# scikit-learn's defaults (l2_regularization 0 is outside a log range: its floor stands for it).
DEFAULTS: dict[str, float] = {
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0001,
}
OBJECTIVE: dict[Kind, tuple[str, Literal["maximize", "minimize"]]] = {
    "binary": ("validation PR AUC of the positive label", "maximize"),
    "multiclass": ("validation PR AUC, the mean over labels", "maximize"),
    "regression": ("validation RMSE", "minimize"),
}


def parameters_from(hyperparameters: dict[str, Any]) -> dict[str, float] | None:
    """The SPACE's hyperparameters a tuning job passed (as strings), typed; None when it passed none."""
    found = {
        name: int(float(hyperparameters[name])) if space.type == "int" else float(hyperparameters[name])
        for name, space in SPACE.items()
        if name in hyperparameters
    }
    return found or None


def sagemaker_trial(hyperparameters: dict[str, Any]) -> Tuner | None:
    """A tuning job's trial (SM_HPS holds tuned parameters): the recipe with them, and the card's
    record that the job, not this run, searched; None for a plain training job."""
    given = parameters_from(hyperparameters)
    if given is None:
        return None
    tuned = given

    def trial(
        recipe: Recipe, features: list[Feature], named: bool, x: pd.DataFrame, y: pd.Series[Any], progress: Progress
    ) -> tuple[Recipe, dict[str, Any]]:
        progress(f"a tuning job's trial: {tuned}")
        record = {
            "tuned": True,
            "by": "a SageMaker hyperparameter tuning job: this model is one of its trials, the job lists them all",
            "objective": hyperparameters.get("_tuning_objective_metric", "validation:objective"),
            "parameters": tuned,
        }
        return replace(recipe, parameters={**(recipe.parameters or {}), **tuned}), record

    return trial


def objective_of(model_dir: Path) -> float:
    """The trained model's OBJECTIVE_METRIC, from its card: what a tuning job's trial reports."""
    card = json.loads((model_dir / MODEL_CARD).read_text())
    return float(card["algorithm"]["fitting"][OBJECTIVE_METRIC])


def tuner(trials: int = TRIALS, timeout: float = TIMEOUT_SECONDS) -> Tuner:
    """A search of at most `trials` trials and `timeout` seconds (the trial running then finishes)."""
    if trials < 1 or timeout <= 0:
        raise ValueError(f"tuning needs at least 1 trial and some time (--trials {trials}, --tune-timeout {timeout})")

    def search(
        recipe: Recipe,
        features: list[Feature],
        named: bool,
        x: pd.DataFrame,
        y: pd.Series[Any],
        progress: Progress,
    ) -> tuple[Recipe, dict[str, Any]]:
        return tune(recipe, features, named, x, y, progress, trials, timeout)

    return search


def tune(
    recipe: Recipe,
    features: list[Feature],
    named: bool,
    x: pd.DataFrame,
    y: pd.Series[Any],
    progress: Progress,
    trials: int = TRIALS,
    timeout: float = TIMEOUT_SECONDS,
) -> tuple[Recipe, dict[str, Any]]:
    """The recipe with the winning parameters, and the card's record of the search."""
    what, direction = OBJECTIVE[recipe.task]
    stratify = None if recipe.task == "regression" else y
    x_fit, x_val, y_fit, y_val = train_test_split(
        x, y, test_size=VALIDATION_SHARE, random_state=recipe.seed, stratify=stratify
    )
    progress(f"tuning: at most {trials} trials in {timeout:g} s, {what} on {len(y_val)} of the training rows")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=recipe.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=1),
    )
    study.enqueue_trial(DEFAULTS)
    fit = (_model_x(x_fit, named), y_fit, _model_x(x_val, named), y_val)
    started = time.monotonic()
    study.optimize(
        lambda trial: _trial(trial, recipe, features, fit),
        n_trials=trials,
        timeout=timeout,
        callbacks=[lambda _, trial: progress(_shown(trial, trials))],
    )
    best = study.best_trial  # the defaults' trial always completes: no stage is pruned before STARTUP_TRIALS
    value = float(study.best_value)
    progress(f"tuning: trial {best.number + 1} wins, {what} {value:.4f}: {best.params}")
    record = {
        "tuned": True,
        "by": "Optuna's TPE sampler with median pruning (nrt train --tune)",
        "space": {name: {"type": r.type, "low": r.low, "high": r.high, "scale": "log"} for name, r in SPACE.items()},
        "objective": what,
        "direction": direction,
        "budget": {"trials": trials, "timeout_seconds": timeout},
        "seconds": round(time.monotonic() - started, 1),
        "trials": [_row(trial) for trial in study.trials],
        "winner": {"trial": best.number + 1, "params": best.params, "value": round(value, 6)},
    }
    return replace(recipe, parameters=dict(best.params)), record


def _suggest(trial: optuna.Trial) -> dict[str, float]:
    return {
        name: trial.suggest_int(name, int(r.low), int(r.high), log=True)
        if r.type == "int"
        else trial.suggest_float(name, r.low, r.high, log=True)
        for name, r in SPACE.items()
    }


def _trial(trial: optuna.Trial, recipe: Recipe, features: list[Feature], fit: tuple[Any, Any, Any, Any]) -> float:
    """Boost STAGE iterations at a time up to max_iter (warm start), reporting the best validation
    score so far after each stage; the pruner may stop the trial there."""
    x_fit, y_fit, x_val, y_val = fit
    model = estimator_for(recipe.task, features, recipe.seed, None, recipe.class_weight, _suggest(trial))
    booster = model[-1] if isinstance(model, Pipeline) else model
    booster.set_params(warm_start=True, early_stopping=False)
    best = -np.inf if recipe.task != "regression" else np.inf
    better = max if recipe.task != "regression" else min
    for stage, iterations in enumerate(range(STAGE, int(PARAMETERS["max_iter"]) + 1, STAGE)):
        booster.set_params(max_iter=iterations)
        model.fit(x_fit, y_fit)
        best = better(best, _score(model, recipe, x_val, y_val))
        trial.report(best, stage)
        if trial.should_prune():
            import optuna

            raise optuna.TrialPruned()
    return float(best)


def _score(model: Any, recipe: Recipe, x: Any, y: pd.Series[Any]) -> float:
    """The kind's objective on the validation rows."""
    if recipe.task == "regression":
        return float(np.sqrt(mean_squared_error(y, model.predict(x))))
    proba = model.predict_proba(x)
    classes = list(model.classes_)
    if recipe.task == "binary":
        positive = recipe.positive_label if recipe.positive_label is not None else classes[-1]
        return float(average_precision_score(y == positive, proba[:, classes.index(positive)]))
    return float(average_precision_score(label_binarize(y, classes=classes), proba, average="macro"))


def _row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    reported = trial.intermediate_values  # a pruned trial: its last report
    value = trial.value if trial.value is not None else reported.get(max(reported, default=0))
    return {
        "trial": trial.number + 1,
        "params": trial.params,
        "value": None if value is None else round(float(value), 6),
        "state": trial.state.name,
    }


def _shown(trial: optuna.trial.FrozenTrial, trials: int) -> str:
    row = _row(trial)
    params = ", ".join(f"{k} {v:.4g}" for k, v in trial.params.items())
    return f"tuning: trial {trial.number + 1}/{trials} {row['state'].lower()}: {row['value']} ({params})"
