"""Train a model of any kind on tabular data, evaluate it on held-out rows, and write what
serving, retraining and people need.

Next to the artifact (model.joblib) it writes signature.json (what the model takes and gives,
and the recipe that retrains it), evaluation.json (the kind's metrics), a plot (ROC curve for
binary, confusion matrix for multi-class, residuals for regression) and model_card.json.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder, label_binarize

from training import gate, threshold_rules
from training import profile as training_profile
from training.dataset import (
    PREPARED_HOLDOUT,
    Table,
    check_trainable,
    is_prepared,
    load_csv,
    load_prepared,
    read_manifest,
    synthetic_table,
)
from training.inference import ARTIFACT, SIGNATURE, Feature, Kind, Label, Signature, UnknownCategories, native

EVALUATION = "evaluation.json"
MODEL_CARD = "model_card.json"
PLOT = "evaluation.png"
PARAMETERS = {"max_iter": 300, "learning_rate": 0.1}
# What a hyperparameter search optimises, on training rows only (never the held-out ones the gate
# reads): classifiers, the probe's validation PR AUC (ITERATIONS_RULE's); regression, the RMSE on a
# validation quarter. A training job prints it as validation:objective for a SageMaker tuning job.
OBJECTIVE_METRIC = "validation_objective"
# The booster's parameters that nrt train --tune (and a SageMaker tuning job) search: training/tune.py.
TUNED = ("learning_rate", "max_leaf_nodes", "min_samples_leaf", "l2_regularization")
HELD_OUT_SHARE = 0.2  # without a given or prepared hold-out: this share of the rows judges the model
# Classifiers: a stratified quarter of the training rows chooses the boosting iterations; the served
# boosters (CALIBRATION_FOLDS) are then fitted with that many iterations.
# scikit-learn's own early stopping holds out a (stratified) 10% and stops at the first 10
# iterations without gain: on 0.5% positives that loss, over a few dozen positives, stalls early.
VALIDATION_SHARE = 0.25
# Fewer rows of the rarest class than this in the validation quarter: no early stopping, all
# max_iter iterations (a log loss on a handful of rows is noise).
MIN_VALIDATION_MINORITY = 10
CLASS_WEIGHTS = ("balanced", "none")
# Classifiers' probabilities are recalibrated whatever the class weights: balanced weights and
# hundreds of boosting iterations both move them away from frequencies. The served model is
# CALIBRATION_FOLDS boosters, each fitted on the other folds of the training rows and calibrated on
# its own (scikit-learn's CalibratedClassifierCV, ensemble=True); it serves their mean. Each booster
# is calibrated on rows it did not see, so the served scale is the one measured (ensemble=False,
# one booster on all rows calibrated on the folds' scores, overshot the positive rate twice over on
# noisy labels: benchmarks/README.md, "Rare positives").
CALIBRATION_FOLDS = 4
CALIBRATION = {  # kind -> CalibratedClassifierCV's method
    # Platt's sigmoid: monotone per booster, and its intercept undoes the weights' shift of the base rate
    "binary": "sigmoid",
    # one temperature over all labels per booster: its arg-max label is the booster's
    "multiclass": "temperature",
}
PROBABILITIES = {
    "binary": "recalibrated: the mean of {folds} boosters, each calibrated with Platt's sigmoid on the fold of "
    "the training rows it did not see (CalibratedClassifierCV, ensemble=True); read them as frequencies, "
    "the threshold is on them",
    "multiclass": "recalibrated: the mean of {folds} boosters, each calibrated with one temperature on the fold "
    "of the training rows it did not see (CalibratedClassifierCV, ensemble=True)",
}
ITERATIONS_RULE = (
    "the iteration of best validation PR AUC (binary: the positive label's; multi-class: the mean over "
    "labels) on a stratified quarter of the training rows, then refitted on all training rows"
)
# scikit-learn's native categorical support takes at most this many categories per column.
MAX_NATIVE_CATEGORIES = 255

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    """How to train a model again: the data, the label, the features and the kind."""

    source: str  # "synthetic", or where the CSV came from (a file, or the recipe folder's S3 URI)
    label: str
    features: list[str] | None  # None: every column but the label
    task: Kind
    rows: int = 20_000  # synthetic only
    seed: int = 7
    noise: float = 0.0  # synthetic only
    threshold: float | None = None  # binary: fixed, instead of chosen by `threshold_for`
    # binary: what the chosen threshold serves (threshold_rules.parse): "f1" (the best F1),
    # "precision:P" (the most recall at precision P or more) or "cost:FN:FP" (the least cost).
    threshold_for: str = "f1"
    positive_label: Label | None = None
    unknown_categories: UnknownCategories = "refuse"  # an unseen category: refused, or scored as missing
    class_weight: str = "balanced"  # classifiers: each class weighed by 1 / its frequency; or "none"
    sources: list[dict[str, Any]] | None = None  # CSV: each file (name or URI) with its sha256 and rows
    data: str | None = None  # where the rows are read from, when not `source`: a prepared folder; not recorded
    parameters: dict[str, float] | None = None  # the booster's, tuned (nrt train --tune); None: PARAMETERS
    gate_metric: str | None = None  # the retraining gate's metric (training/gate.py); None: chosen by the data
    # The column of dates that splits the rows (the newest held out) and is no feature; None: an
    # older recipe, whose date column (found by training/prepare.py) splits and stays a feature.
    time_column: str | None = None

    def recorded(self) -> dict[str, Any]:
        """The recipe as the signature keeps it: the synthetic settings for synthetic data only, and
        never `data` (a path of this run)."""
        recorded = {k: v for k, v in asdict(self).items() if k != "data"}
        if self.source != "synthetic":
            recorded = {k: v for k, v in recorded.items() if k not in ("rows", "noise")}
        return recorded


# A hyperparameter search on the training rows (training/tune.py): the recipe with its parameters,
# and the card's record of the search.
Tuner = Callable[[Recipe, list[Feature], bool, pd.DataFrame, "pd.Series[Any]", Progress], tuple[Recipe, dict[str, Any]]]


@dataclass(frozen=True)
class Fitting:
    """What was really fitted: the iterations the served model ran, its weights, its split."""

    iterations: int  # n_iter_ of the served model
    max_iter: int
    iterations_rule: str
    class_weight: str
    fit_rows: int  # rows the iterations were chosen on (the probe's), then all training rows
    validation_rows: int
    validation_minority_rows: int
    probabilities: str
    calibration: str  # CalibratedClassifierCV's method
    calibration_folds: int
    validation_objective: float  # the probe's validation PR AUC at the chosen iteration (OBJECTIVE_METRIC)


@dataclass(frozen=True)
class Evaluation:
    """Held-out quality of a trained model, in its kind's metrics."""

    kind: Kind
    metric: str  # the one the retraining gate compares
    value: float
    higher_is_better: bool
    metrics: dict[str, Any]
    train_rows: int
    test_rows: int

    def summary(self) -> str:
        shown = {k: v for k, v in self.metrics.items() if isinstance(v, float | int)}
        return ", ".join(f"{k} {v}" for k, v in shown.items())


def features_of(x: pd.DataFrame) -> list[Feature]:
    """Each column as a number or a category (text), nullable when the data has gaps."""
    features = []
    for name in x.columns:
        column = x[name]
        nullable = bool(column.isna().any())
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            features.append(Feature(str(name), "number", nullable))
        else:
            categories = sorted(str(v) for v in column.dropna().unique())
            features.append(Feature(str(name), "category", nullable, categories))
    return features


def _as_model_input(x: pd.DataFrame, features: list[Feature]) -> pd.DataFrame:
    """Numbers as floats, categories as text (missing as NaN), the way serving builds them."""
    out = {}
    for f in features:
        if f.type == "number":
            out[f.name] = x[f.name].astype("float64")
        else:
            out[f.name] = x[f.name].map(lambda v: v if pd.isna(v) else str(v)).astype("object")
    return pd.DataFrame(out, index=x.index)


def estimator_for(
    kind: Kind,
    features: list[Feature],
    seed: int,
    max_iter: int | None = None,
    class_weight: str = "none",
    parameters: dict[str, float] | None = None,
) -> Any:
    """Gradient boosting; text categories through scikit-learn's encoder and native categorical support.

    Classifiers run max_iter iterations with no early stopping of their own (train chooses max_iter
    on a stratified split); regression keeps scikit-learn's early stopping."""
    model = _booster(kind, seed, max_iter, class_weight, parameters or {})
    categories = [f.name for f in features if f.type == "category"]
    if not categories:
        return model
    numbers = [f.name for f in features if f.type == "number"]
    encode = ColumnTransformer(
        [
            (
                "categories",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan),
                categories,
            ),
            ("numbers", "passthrough", numbers),
        ],
        verbose_feature_names_out=False,
    )
    native_categories = [len(f.categories or []) <= MAX_NATIVE_CATEGORIES for f in features if f.type == "category"]
    model.set_params(categorical_features=native_categories + [False] * len(numbers))
    return Pipeline([("encode", encode), ("model", model)])


def _booster(kind: Kind, seed: int, max_iter: int | None, class_weight: str, parameters: dict[str, float]) -> Any:
    if kind == "regression":
        return HistGradientBoostingRegressor(**{**PARAMETERS, **parameters}, random_state=seed)
    return HistGradientBoostingClassifier(
        **{**PARAMETERS, **parameters, "max_iter": max_iter or PARAMETERS["max_iter"]},
        early_stopping=False,
        class_weight=None if class_weight == "none" else class_weight,
        random_state=seed,
    )


def _model_x(x: pd.DataFrame, named: bool) -> Any:
    """Features as the model takes them: named columns (a Pipeline with categories), or plain numbers."""
    return x if named else x.to_numpy(dtype=float)


def _threshold_rule(recipe: dict[str, Any] | None) -> str:
    """How the signature's threshold was chosen, as the card says it."""
    if recipe and recipe.get("threshold") is not None:
        return "set with --threshold"
    rule = threshold_rules.parse((recipe or {}).get("threshold_for", "f1"))
    return f"{rule.describe()} over the training rows, each scored out of fold"


def _plot(path: Path, draw: Callable[[Any], None], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4.8, 4.5), dpi=100)
    draw(axes)
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def train(
    model_dir: Path,
    recipe: Recipe | None = None,
    name: str | None = None,
    progress: Progress = lambda _: None,
    tuner: Tuner | None = None,
    holdout: Path | None = None,
) -> Evaluation:
    """Fit by the recipe (its parameters searched first by the tuner, on the training rows only),
    evaluate on held-out rows, write the artifact, signature and reports.

    The held-out rows are the CSV `holdout` when given, else a prepared folder's holdout.csv (its
    train.csv the rows fitted), else a seeded 20% of the data (HELD_OUT_SHARE; stratified by label
    for classifiers)."""
    recipe = recipe or Recipe(source="synthetic", label="label", features=None, task="binary")
    name = name or model_dir.name
    table, data = _load_table(recipe, progress)
    kind = recipe.task
    check_trainable(table, kind)
    features = features_of(table.x)
    categories = sum(f.type == "category" for f in features)
    named = categories > 0
    holdout = holdout or _prepared_holdout(recipe)
    x_train, x_test, y_train, y_test = _split(table, features, kind, recipe.seed, holdout, progress)
    y = pd.concat([y_train, y_test])
    progress(
        f"{kind}: {len(features)} features ({categories} categories), "
        f"{len(y_train)} training rows, {len(y_test)} held out"
    )
    recipe, tuning = tuner(recipe, features, named, x_train, y_train, progress) if tuner else (recipe, _untuned(recipe))
    labels = sorted(y.unique().tolist()) if kind != "regression" else None
    positive, chosen = _classifier_choices(recipe, features, named, labels, x_train, y_train, progress)
    recipe = _with_gate_metric(recipe, y_train, positive, progress)
    progress(
        f"fitting {'a Pipeline of OrdinalEncoder and ' if named else ''}HistGradientBoosting on {len(y_train)} rows"
    )
    model = _fit(kind, features, recipe, chosen, _model_x(x_train, named), y_train)
    threshold = _threshold(recipe, model, positive, _model_x(x_train, named), y_train, progress)
    objective = (
        chosen.validation_objective if chosen else _regression_objective(recipe, features, named, x_train, y_train)
    )
    fitting = {**_served_fitting(model, chosen, len(y_train)), "validation_objective": objective, "tuning": tuning}
    signature = Signature(
        kind=kind,
        features=features,
        labels=labels,
        positive_label=positive,
        threshold=threshold,
        named=named,
        sklearn_version=sklearn.__version__,
        recipe=recipe.recorded(),
        unknown_categories=recipe.unknown_categories,
    )
    progress(f"evaluating on {len(y_test)} held-out rows")
    model_dir.mkdir(parents=True, exist_ok=True)
    evaluation = evaluate(model, signature, x_test, y_test, len(y_train), model_dir / PLOT, name)
    progress(f"writing {model_dir}")
    _write_model(model_dir, name, model, signature, evaluation, data, fitting)
    training_profile.write(model_dir, x_train, features)  # the reference live traffic is compared with
    return evaluation


def _prepared_holdout(recipe: Recipe) -> Path | None:
    """A prepared folder's hold-out (training/prepare.py: the newest rows when there is a time column)."""
    if recipe.source == "synthetic" or recipe.data is None or not is_prepared(Path(recipe.data)):
        return None
    return Path(recipe.data) / PREPARED_HOLDOUT


def _split(
    table: Table, features: list[Feature], kind: Kind, seed: int, holdout: Path | None, progress: Progress
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series[Any], pd.Series[Any]]:
    """Training and held-out rows as the model takes them: the hold-out CSV, else a seeded split."""
    x = _as_model_input(table.x, features)
    y = table.y if kind == "regression" else table.y.map(native)
    if holdout is not None:
        progress(f"holding out the rows of {holdout}")
        held = load_csv(holdout, table.label, [f.name for f in features])
        y_held = held.y if kind == "regression" else held.y.map(native)
        return x, _as_model_input(held.x, features), y, y_held
    stratify = None if kind == "regression" else y
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=HELD_OUT_SHARE, random_state=seed, stratify=stratify
    )
    return x_train, x_test, y_train, y_test


def _with_gate_metric(recipe: Recipe, y_train: pd.Series[Any], positive: Any, progress: Progress) -> Recipe:
    """The recipe with its gate metric: the one asked for (checked against the kind), else the data's default."""
    if recipe.gate_metric is not None:
        gate.metric_for(recipe.gate_metric, recipe.task)
        return recipe
    chosen = gate.default_metric(recipe.task, y_train, positive)
    progress(f"gate metric: {chosen} (the default for this data; --gate-metric to choose)")
    return replace(recipe, gate_metric=chosen)


def _not_features(recipe: Recipe) -> tuple[str, ...]:
    """The columns that are no feature when the recipe takes every column: its time column."""
    return (recipe.time_column,) if recipe.time_column else ()


def _load_table(recipe: Recipe, progress: Progress) -> tuple[Table, dict[str, Any]]:
    """The recipe's data, and what the reports say of it (its source, and its digest or seed)."""
    if recipe.source == "synthetic":
        progress(f"generating {recipe.rows} synthetic readings (the demo's rule: a peak between two similar values)")
        table = synthetic_table(recipe.rows, recipe.seed, recipe.noise)
        return table, {"source": "synthetic", "rows": recipe.rows, "seed": recipe.seed, "noise": recipe.noise}
    if recipe.data is not None and is_prepared(Path(recipe.data)):
        progress(f"loading the prepared rows in {recipe.data}")
        fit, holdout = load_prepared(Path(recipe.data), recipe.label, recipe.features, _not_features(recipe))
        found = read_manifest(Path(recipe.data))
        rows = len(fit.y) + len(holdout.y)  # train.csv is fitted, holdout.csv judged (_prepared_holdout)
        return fit, {"source": recipe.source, "sources": recipe.sources, "rows": rows, "preparation": found}
    progress(f"loading {recipe.source}")
    table = load_csv(Path(recipe.data or recipe.source), recipe.label, recipe.features, exclude=_not_features(recipe))
    digest = hashlib.sha256(Path(recipe.data or recipe.source).read_bytes()).hexdigest()
    return table, {"source": recipe.source, "sha256": digest, "rows": len(table.y)}


def _positive_label(recipe: Recipe, labels: list[Any]) -> Any:
    positive = recipe.positive_label if recipe.positive_label is not None else labels[-1]
    if positive not in labels:
        raise ValueError(f"--positive-label {positive!r} is not a label of the data ({labels})")
    return positive


def _classifier_choices(
    recipe: Recipe,
    features: list[Feature],
    named: bool,
    labels: list[Any] | None,
    x_train: Any,
    y_train: pd.Series[Any],
    progress: Progress,
) -> tuple[Any, Fitting | None]:
    """A classifier's positive label (binary) and its boosting iterations."""
    if labels is None:
        return None, None
    positive = _positive_label(recipe, labels) if recipe.task == "binary" else None
    return positive, _choose_iterations(recipe, features, named, positive, x_train, y_train, progress)


def _choose_iterations(
    recipe: Recipe,
    features: list[Feature],
    named: bool,
    positive: Any,
    x_train: Any,
    y_train: pd.Series[Any],
    progress: Progress,
) -> Fitting:
    """The boosting iterations by ITERATIONS_RULE on a stratified quarter of the training rows that a
    probe model did not see."""
    if recipe.class_weight not in CLASS_WEIGHTS:
        raise ValueError(f"--class-weight {recipe.class_weight!r} is not one of {', '.join(CLASS_WEIGHTS)}")
    x_fit, x_val, y_fit, y_val = train_test_split(
        x_train, y_train, test_size=VALIDATION_SHARE, random_state=recipe.seed, stratify=y_train
    )
    minority = int(y_val.value_counts().min())
    probe = estimator_for(recipe.task, features, recipe.seed, None, recipe.class_weight, recipe.parameters)
    probe.fit(_model_x(x_fit, named), y_fit)
    classes = list(probe.classes_)
    if minority >= MIN_VALIDATION_MINORITY:
        stages = _staged_proba(probe, _model_x(x_val, named))
        scores = [_validation_pr_auc(y_val, p, classes, positive) for p in stages]
        best = int(np.argmax(scores))
        rule = ITERATIONS_RULE
    else:
        best = int(_booster_of(probe).n_iter_) - 1
        scores = [_validation_pr_auc(y_val, probe.predict_proba(_model_x(x_val, named)), classes, positive)] * (
            best + 1
        )
        rule = f"all max_iter: fewer than {MIN_VALIDATION_MINORITY} rows of the rarest class to validate on"
    progress(f"boosting iterations: {best + 1} ({len(y_val)} validation rows, {minority} of the rarest class)")
    return Fitting(
        iterations=best + 1,
        max_iter=int(PARAMETERS["max_iter"]),
        iterations_rule=rule,
        class_weight=recipe.class_weight,
        fit_rows=len(y_fit),
        validation_rows=len(y_val),
        validation_minority_rows=minority,
        probabilities=PROBABILITIES[recipe.task].format(folds=CALIBRATION_FOLDS),
        calibration=CALIBRATION[recipe.task],
        calibration_folds=CALIBRATION_FOLDS,
        validation_objective=round(scores[best], 6),
    )


def _fit(kind: Kind, features: list[Feature], recipe: Recipe, chosen: Fitting | None, x: Any, y: Any) -> Any:
    """The served model: a classifier as CALIBRATION_FOLDS boosters with the chosen iterations and
    weights, each recalibrated on its own held-out fold (CALIBRATION); a regressor with
    scikit-learn's early stopping."""
    if chosen is None:
        return estimator_for(kind, features, recipe.seed, parameters=recipe.parameters).fit(x, y)
    booster = estimator_for(kind, features, recipe.seed, chosen.iterations, chosen.class_weight, recipe.parameters)
    calibrated = CalibratedClassifierCV(booster, method=chosen.calibration, cv=_folds(recipe.seed), ensemble=True)
    return calibrated.fit(x, y)


def _folds(seed: int) -> StratifiedKFold:
    return StratifiedKFold(CALIBRATION_FOLDS, shuffle=True, random_state=seed)


def _regression_objective(
    recipe: Recipe, features: list[Feature], named: bool, x: pd.DataFrame, y: pd.Series[Any]
) -> float:
    """A regressor's OBJECTIVE_METRIC: the RMSE on a random quarter of the training rows of one fitted
    on the other three (as a tuning trial scores it)."""
    x_fit, x_val, y_fit, y_val = train_test_split(x, y, test_size=VALIDATION_SHARE, random_state=recipe.seed)
    probe = estimator_for("regression", features, recipe.seed, parameters=recipe.parameters)
    predicted = probe.fit(_model_x(x_fit, named), y_fit).predict(_model_x(x_val, named))
    return round(float(np.sqrt(mean_squared_error(y_val, predicted))), 6)


def _threshold(
    recipe: Recipe, model: Any, positive: Any, x: Any, y: pd.Series[Any], progress: Progress
) -> float | None:
    """Binary: the recipe's threshold, else its `threshold_for` rule on the served (calibrated) scale: each
    training row scored by the calibrated booster whose fold held it out."""
    if positive is None or recipe.threshold is not None:
        return recipe.threshold
    rule = threshold_rules.parse(recipe.threshold_for)
    progress(f"choosing the threshold: {rule.describe()} over the training rows, each scored out of fold")
    scores = np.empty(len(y))
    column = list(model.classes_).index(positive)
    for pair, (_, held_out) in zip(model.calibrated_classifiers_, _folds(recipe.seed).split(x, y), strict=True):
        rows = x.iloc[held_out] if isinstance(x, pd.DataFrame) else x[held_out]
        scores[held_out] = pair.predict_proba(rows)[:, column]
    return rule.choose((y == positive).to_numpy(), scores)


def _validation_pr_auc(y: pd.Series[Any], proba: Any, classes: list[Any], positive: Any) -> float:
    """PR AUC of the positive label (binary), or its mean over the labels (multi-class).

    Not the log loss: on 0.5% positives its minimum comes after a handful of iterations, long
    before the ranking of the rare class stops improving (benchmarks/README.md, "Imbalance")."""
    if positive is not None:
        return float(average_precision_score(y == positive, proba[:, classes.index(positive)]))
    return float(average_precision_score(label_binarize(y, classes=classes), proba, average="macro"))


def _staged_proba(model: Any, x: Any) -> Any:
    """The classifier's probabilities after each boosting iteration."""
    if isinstance(model, Pipeline):
        return model[-1].staged_predict_proba(model[:-1].transform(x))
    return model.staged_predict_proba(x)


def _booster_of(model: Any) -> Any:
    """The gradient boosting model inside a calibrated classifier and/or a Pipeline."""
    if isinstance(model, CalibratedClassifierCV):
        model = model.calibrated_classifiers_[0].estimator
    return model[-1] if isinstance(model, Pipeline) else model


def _served_fitting(model: Any, chosen: Fitting | None, train_rows: int) -> dict[str, Any]:
    """What the card reports of the fit: the served model's own n_iter_, and how it was chosen."""
    booster = _booster_of(model)
    parameters = {name: native(booster.get_params()[name]) for name in TUNED}
    served = {"iterations": int(booster.n_iter_), "train_rows": train_rows, "parameters": parameters}
    if chosen is None:
        return {
            **served,
            "max_iter": int(PARAMETERS["max_iter"]),
            "iterations_rule": "scikit-learn's early stopping on a random 10% of the training rows"
            if booster.do_early_stopping_
            else "all max_iter: scikit-learn stops early only over 10,000 rows",
        }
    return {**served, **asdict(chosen), "iterations": int(booster.n_iter_)}


def _untuned(recipe: Recipe) -> dict[str, Any]:
    """The card's tuning entry when this run searched nothing."""
    if recipe.parameters:
        return {"tuned": False, "parameters": "the recipe's (found by an earlier tuning)"}
    return {"tuned": False, "parameters": "the defaults: nrt train --tune searches training/tune.py's SPACE"}


def _write_model(
    model_dir: Path,
    name: str,
    model: Any,
    signature: Signature,
    evaluation: Evaluation,
    data: dict[str, Any],
    fitting: dict[str, Any],
) -> None:
    """The artifact, its signature, the evaluation report and the model card."""
    joblib.dump(model, model_dir / ARTIFACT)
    (model_dir / SIGNATURE).write_text(signature.to_json())
    trained_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    preparation = data.pop("preparation", None)  # the card cites it; preparation.json keeps it whole
    report = {**asdict(evaluation), "trained_at": trained_at, "data": data}
    (model_dir / EVALUATION).write_text(json.dumps(report, indent=2) + "\n")
    card = model_card(name, signature, evaluation, data, trained_at, fitting)
    card["preparation"] = preparation_entry(preparation, model_dir)
    (model_dir / MODEL_CARD).write_text(json.dumps(card, indent=2) + "\n")


def preparation_entry(manifest: dict[str, Any] | None, model_dir: Path) -> dict[str, Any] | None:
    """The card's summary of training/prepare.py's manifest (kept whole as preparation.json)."""
    if manifest is None:
        return None
    (model_dir / "preparation.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return {
        "version": manifest.get("preparation_version"),
        "manifest": "preparation.json",
        "rows_in": manifest.get("rows_in"),
        "rows_out": manifest.get("rows_out"),
        "dropped": {
            s["rule"]: s["rows_in"] - s["rows_out"] for s in manifest.get("steps", []) if s["rows_in"] > s["rows_out"]
        },
        "split": manifest.get("split"),
        "date_range": manifest.get("date_range"),
        "contract_changes": manifest.get("contract_changes", []),
    }


def gate_metric_of(signature: Signature) -> str:
    """The model's gate metric: its recipe's, else (trained before it could be chosen) its kind's."""
    chosen = (signature.recipe or {}).get("gate_metric")
    return str(chosen) if chosen else gate.LEGACY_METRIC[signature.kind]


def evaluate(
    model: Any, signature: Signature, x: pd.DataFrame, y: pd.Series[Any], train_rows: int, plot: Path, name: str
) -> Evaluation:
    """The kind's metrics on held-out rows, and the kind's plot."""
    kind = signature.kind
    metric = gate_metric_of(signature)
    higher = gate.GATE_METRICS[metric].higher_is_better
    if kind == "regression":
        metrics = _regression_metrics(model.predict(_model_x(x, signature.named)), y, plot, name)
    else:
        metrics = _classifier_metrics(model, signature, x, y, plot, name)
    return Evaluation(kind, metric, float(metrics[metric]), higher, metrics, train_rows, len(y))


def _regression_metrics(predicted: Any, y: pd.Series[Any], plot: Path, name: str) -> dict[str, Any]:
    """MAE, RMSE and R², and a plot of the residuals."""
    residuals = y.to_numpy(dtype=float) - predicted
    metrics: dict[str, Any] = {
        "mae": round(float(mean_absolute_error(y, predicted)), 4),
        "rmse": round(float(np.sqrt(mean_squared_error(y, predicted))), 4),
        "r2": round(float(r2_score(y, predicted)), 4),
    }

    def draw(axes: Any) -> None:
        axes.scatter(predicted, residuals, s=8, alpha=0.5, color="#2563eb")
        axes.axhline(0, color="#9aa5b1", linestyle="--", linewidth=1)
        axes.set(xlabel="predicted", ylabel="actual - predicted")

    _plot(plot, draw, f"{name}: held-out residuals (RMSE {metrics['rmse']})")
    return metrics


def _classifier_metrics(
    model: Any, signature: Signature, x: pd.DataFrame, y: pd.Series[Any], plot: Path, name: str
) -> dict[str, Any]:
    """The kind's metrics and its plot (ROC for binary, the confusion matrix for multi-class),
    and the confusion matrix for both."""
    labels = signature.labels or []
    scores = model.predict_proba(_model_x(x, signature.named))
    classes = [native(c) for c in model.classes_]
    if signature.kind == "binary":
        predicted, metrics = _binary_metrics(signature, scores, classes, y, plot, name)
    else:
        # not dtype=object: scikit-learn takes an object array of integers for an "unknown" target
        predicted = np.asarray(classes)[np.argmax(scores, axis=1)]
        metrics = _multiclass_metrics(y, predicted, labels)
    matrix = confusion_matrix(y, predicted, labels=labels)
    metrics["confusion_matrix"] = {"labels": labels, "rows_true_columns_predicted": matrix.tolist()}
    if signature.kind == "multiclass":

        def draw(axes: Any) -> None:
            axes.imshow(matrix, cmap="Blues")
            axes.set(xlabel="predicted", ylabel="true")
            ticks = range(len(labels))
            axes.set_xticks(ticks, [str(label) for label in labels], rotation=90, fontsize=7)
            axes.set_yticks(ticks, [str(label) for label in labels], fontsize=7)

        _plot(plot, draw, f"{name}: held-out confusion matrix")
    return metrics


def _binary_metrics(
    signature: Signature, scores: Any, classes: list[Any], y: pd.Series[Any], plot: Path, name: str
) -> tuple[Any, dict[str, Any]]:
    """The predicted labels at the signature's threshold, ROC and PR AUC and the rest, and the ROC plot."""
    labels = signature.labels or []
    positive = signature.positive_label
    assert positive is not None  # a binary signature names its positive label
    p = scores[:, classes.index(positive)]
    negative = next(label for label in labels if label != positive)
    threshold = signature.threshold if signature.threshold is not None else 0.5
    predicted = np.where(p >= threshold, positive, negative)
    truth = (y == positive).to_numpy()
    metrics: dict[str, Any] = {
        "roc_auc": round(float(roc_auc_score(truth, p)), 4),
        "pr_auc": round(float(average_precision_score(truth, p)), 4),
        "brier": round(float(brier_score_loss(truth, p)), 6),  # the probabilities as frequencies: 0 is perfect
        "threshold": threshold,
        "threshold_rule": _threshold_rule(signature.recipe),
        "precision": round(float(precision_score(truth, predicted == positive, zero_division=0)), 4),
        "recall": round(float(recall_score(truth, predicted == positive, zero_division=0)), 4),
        "f1": round(float(f1_score(truth, predicted == positive, zero_division=0)), 4),
        "positive_label": positive,
        "positive_rate": round(float(truth.mean()), 4),
    }
    fpr, tpr, _ = roc_curve(truth, p)

    def draw(axes: Any) -> None:
        axes.plot(fpr, tpr, color="#2563eb", linewidth=2, label=f"ROC AUC {metrics['roc_auc']:.4f}")
        axes.plot([0, 1], [0, 1], color="#9aa5b1", linestyle="--", linewidth=1, label="chance")
        axes.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
        axes.legend(loc="lower right")

    _plot(plot, draw, f"{name}: held-out ROC")
    return predicted, metrics


def _multiclass_metrics(y: pd.Series[Any], predicted: Any, labels: list[Any]) -> dict[str, Any]:
    """Accuracy, macro F1, and each label's precision and recall."""
    per_class_p = precision_score(y, predicted, labels=labels, average=None, zero_division=0)
    per_class_r = recall_score(y, predicted, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(y, predicted)), 4),
        "macro_f1": round(float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)), 4),
        "per_class": {
            str(label): {"precision": round(float(p), 4), "recall": round(float(r), 4)}
            for label, p, r in zip(labels, per_class_p, per_class_r, strict=True)
        },
    }


def _algorithm(signature: Signature, fitting: dict[str, Any]) -> dict[str, Any]:
    """The card's algorithm: the booster, its parameters, what was fitted and how they were tuned."""
    fitted = dict(fitting)
    tuning = fitted.pop("tuning", None)
    return {
        "name": "HistGradientBoostingRegressor" if signature.kind == "regression" else "HistGradientBoostingClassifier",
        "parameters": {**fitted["parameters"], "max_iter": fitted["iterations"]},
        "fitting": fitted,
        "tuning": tuning,
        "categories": "OrdinalEncoder into native categorical support" if signature.named else "none",
    }


def model_card(
    name: str,
    signature: Signature,
    evaluation: Evaluation,
    data: dict[str, Any],
    trained_at: str,
    fitting: dict[str, Any],
) -> dict[str, Any]:
    """What the model is, what it was trained and measured on, and how it is called."""
    example = {
        f.name: (f.categories[0] if f.categories else None) if f.type == "category" else 0 for f in signature.features
    }
    return {
        "name": name,
        "trained_at": trained_at,
        "kind": signature.kind,
        "task": {
            "binary": f"binary classification of {signature.recipe and signature.recipe['label']!s}: "
            f"positive label {signature.positive_label!r} when its probability >= {signature.threshold}",
            "multiclass": f"multi-class classification into {len(signature.labels or [])} labels",
            "regression": f"regression of {signature.recipe and signature.recipe['label']!s}",
        }[signature.kind],
        "algorithm": _algorithm(signature, fitting),
        "framework": {"scikit-learn": sklearn.__version__, "python": platform.python_version()},
        "features": [asdict(f) for f in signature.features],
        "labels": signature.labels,
        "data": data,
        "evaluation": {
            "held_out_share": round(evaluation.test_rows / (evaluation.train_rows + evaluation.test_rows), 4),
            "held_out_rows": evaluation.test_rows,
            "gate_metric": evaluation.metric,
            "gate_metric_value": evaluation.value,
            "higher_is_better": evaluation.higher_is_better,
            **evaluation.metrics,
        },
        "intended_use": "scoring readings of these features in near real time",
        "limitations": (
            "readings that do not fit the signature (a missing, unknown or mistyped feature, an unknown "
            "category) are refused with HTTP 400; quality holds only for data like the training data"
        ),
        "serving": {
            "contract": "SageMaker scikit-learn container: model_fn and transform_fn",
            "request": {"instances": [{"features": example}]},
        },
    }
