"""Serving code in the SageMaker scikit-learn container's contract: `model_fn` and
`transform_fn` (the container refuses a module that also defines input_fn, predict_fn or
output_fn). The local model host runs exactly these two functions, as the container does.

The model directory holds the fitted estimator (model.joblib) and its signature
(signature.json): the model's kind, its features in order with their types, its labels and
threshold, and what a category it never saw becomes (unknown_categories: "refuse", the default,
or "missing" on a feature that takes missing values). Every instance is checked against the
signature before the model sees it, so a reading that does not fit is a 400 naming the
feature, never a silent wrong answer.

Request:  {"instances": [row, ...]}, each row one of
          [12, 87, 20]                                positional values, in the signature's order
          {"data": [12, 87, 20], ...}                 a reading with positional values
          {"features": {"carat": 0.3, "cut": null}}   a reading with named values (null: missing)
          ({"data": [...]} alone is one reading.)
Response: {"predictions": [{"kind", "prediction", "probability", "probabilities"}, ...]}
          prediction: the label as the training data had it (classifiers) or the number
          (regression); probability: of the positive label (binary) or of the predicted one
          (multi-class), null for regression; probabilities: the 5 most likely labels'
          (TOP_LABELS; every label's for up to 5), null for regression.
          An instance of {"instances": [...]} that does not fit has its refusal in its place:
          {"kind", "error": "InvalidReading", "message", "feature"}, feature naming the field at
          fault (a feature's name, or "data" / "features" for the row as a whole). So a batch
          always answers 200, and the workflow records each refusal once, without a second call.
          A single reading ({"data": ...} alone), or a request that is not one of these shapes,
          is refused whole: 400 {"message", "feature"}.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np

ARTIFACT = "model.joblib"
SIGNATURE = "signature.json"
KINDS = ("binary", "multiclass", "regression")
MAX_FEATURES = 1000
# A reply's size is bounded, whatever the model: a classifier answers the probabilities of its
# most likely labels only (all of them for up to this many), and a refusal's message is cut.
# With the body limit this keeps every state of the workflow under Step Functions' 256 KiB
# payload quota for the largest batch (docs/user-guide.md#limits; a workflow test checks it).
TOP_LABELS = 5
MAX_MESSAGE = 300
MAX_NAME = 128

Kind = Literal["binary", "multiclass", "regression"]
Label = str | int | float
# What a category the model never saw becomes: a refusal (400 naming the feature), or a missing
# value (None, scored as NaN as a null is) on a feature that takes missing values.
UnknownCategories = Literal["refuse", "missing"]
UNKNOWN_CATEGORIES: tuple[UnknownCategories, ...] = ("refuse", "missing")


class InvalidInput(ValueError):
    """The request cannot be scored by this model: a client error (HTTP 400). `feature` names
    the field at fault: a feature's name, "data" or "features" for a row as a whole, or None
    for a request that is not a list of readings."""

    status_code = 400

    def __init__(self, message: str, feature: str | None = None) -> None:
        super().__init__(message)
        self.feature = feature

    def answer(self) -> dict[str, Any]:
        """The 400's body: the reason, and the field it names (structured, for a producer to act on)."""
        return {"message": str(self), "feature": self.feature}


@dataclass(frozen=True)
class Feature:
    """One input column: a number, or a category (text) with its known values."""

    name: str
    type: Literal["number", "category"] = "number"
    nullable: bool = False
    categories: list[str] | None = None  # None: any text is accepted

    def check(self, value: Any, unknown: UnknownCategories = "refuse") -> Any:
        """The value as the model takes it (None for missing); InvalidInput names the rule broken.
        unknown="missing": a category the model never saw is missing, where the feature takes missing."""
        if value is None:
            if not self.nullable:
                raise InvalidInput(f"feature {self.name!r} is missing (null); this model needs a value", self.name)
            return None
        return self._number(value) if self.type == "number" else self._category(value, unknown)

    def _number(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"feature {self.name!r} must be a number, not {_show(value)}", self.name)
        try:
            number = float(value)
        except OverflowError:  # an integer beyond a double's range
            raise InvalidInput(f"feature {self.name!r} is beyond a double's range", self.name) from None
        if not math.isfinite(number):
            raise InvalidInput(f"feature {self.name!r} must be finite", self.name)
        return number

    def _category(self, value: Any, unknown: UnknownCategories) -> str | None:
        if not isinstance(value, str):
            raise InvalidInput(f"feature {self.name!r} is a category: send text, not {_show(value)}", self.name)
        if self.categories is None or value in self.categories:
            return value
        if unknown == "missing" and self.nullable:
            return None
        known = ", ".join(self.categories[:20]) + (", ..." if len(self.categories) > 20 else "")
        # The reason before the list, so that a refusal cut to MAX_MESSAGE keeps it.
        why = "; unknown categories are scored as missing, but this feature takes no missing value"
        why, known = (why, f"known: {known}") if unknown == "missing" else ("", known)
        raise InvalidInput(f"feature {self.name!r}: {_show(value)} is not a known category{why} ({known})", self.name)


@dataclass(frozen=True)
class Signature:
    """What a deployed model takes and gives, saved with its artifact."""

    kind: Kind
    features: list[Feature]
    labels: list[Label] | None = None  # classifiers: as the training data had them
    positive_label: Label | None = None  # binary
    threshold: float | None = None  # binary: positive when its probability >= threshold
    named: bool = False  # fitted on named columns (a DataFrame): scored as one
    sklearn_version: str = ""
    recipe: dict[str, Any] | None = None  # how it was trained, so it can be retrained
    unknown_categories: UnknownCategories = "refuse"  # an unseen category: refused, or scored as missing

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Signature:
        kind = raw.get("kind")
        if kind not in KINDS:
            raise ValueError(f"signature kind must be one of {', '.join(KINDS)}, not {kind!r}")
        unknown = raw.get("unknown_categories", "refuse")
        if unknown not in UNKNOWN_CATEGORIES:
            allowed = ", ".join(UNKNOWN_CATEGORIES)
            raise ValueError(f"signature unknown_categories must be one of {allowed}, not {unknown!r}")
        features = [Feature(**f) for f in raw["features"]]
        return cls(**{**raw, "features": features})

    def row(self, instance: Any, index: int) -> list[Any]:
        """One instance (positional list, or a reading with data or features) as checked values."""
        if isinstance(instance, dict) and "features" in instance and "data" not in instance:
            return self._named_row(instance["features"], index)
        values = instance.get("data") if isinstance(instance, dict) else instance
        if not isinstance(values, list) or not values:
            raise InvalidInput(
                f"instances[{index}] must be a list of values, or a reading with data or features", "data"
            )
        if len(values) != len(self.features):
            raise InvalidInput(
                f"instances[{index}] has {len(values)} features; this model expects {len(self.features)} "
                f"({_names(self)})",
                "data",
            )
        return _checked(index, self.features, values, self.unknown_categories)

    def _named_row(self, named: Any, index: int) -> list[Any]:
        """A reading's features by name, in the model's order."""
        if not isinstance(named, dict):
            raise InvalidInput(f"instances[{index}].features must be an object of feature names to values", "features")
        unknown = sorted(set(named) - set(self.feature_names))
        if unknown:
            raise InvalidInput(
                f"instances[{index}]: unknown feature {unknown[0]!r}; this model takes {_names(self)}", unknown[0]
            )
        missing = [f.name for f in self.features if f.name not in named]
        if missing:
            raise InvalidInput(
                f"instances[{index}]: feature {missing[0]!r} is missing; send null for a missing value", missing[0]
            )
        return _checked(index, self.features, [named[f.name] for f in self.features], self.unknown_categories)


def _checked(index: int, features: list[Feature], values: list[Any], unknown: UnknownCategories) -> list[Any]:
    try:
        return [f.check(v, unknown) for f, v in zip(features, values, strict=True)]
    except InvalidInput as error:
        raise InvalidInput(f"instances[{index}]: {error}", error.feature) from None


def _show(value: Any) -> str:
    return _cut(json.dumps(value), 40)


def _names(signature: Signature) -> str:
    names = signature.feature_names
    return ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


def native(value: Any) -> Label | float:
    """A numpy scalar (a label or a value) as the JSON value the training data had."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str | int | float):
        return value
    return str(value)


# The one held-out metric per kind that live quality is compared with (nrt/lake/quality.py, the
# endpoint's nrt:quality_value tag): F1 of the positive label, macro F1, MAE.
QUALITY_HEADLINE = {"binary": "f1", "multiclass": "macro_f1", "regression": "mae"}


def outcome_contract(kind: str, labels: list[Any] | None) -> dict[str, Any]:
    """What POST /outcomes checks an outcome against: the model's kind and its labels as text, as
    the lake stores a predicted label (str(label)), so an outcome 1 or "1" is the label 1."""
    return {"kind": kind, "labels": [str(label) for label in labels or []]}


def label_from_text(text: str) -> Label:
    """A label given on the command line: an integer where it reads as one (labels 0/1), else text."""
    return int(text) if text.lstrip("-").isdigit() else text


def signature_from_estimator(model: Any, kind: Kind | None = None) -> Signature:
    """What the estimator says of itself: feature names or count, the text categories its encoders
    learnt, labels, and its kind; unknown categories "missing" where every encoder scores one it
    never saw (see derive_signature)."""
    import sklearn

    classes = getattr(model, "classes_", None)
    kind = kind or _kind_of(classes)
    labels = [native(c) for c in classes] if classes is not None and kind != "regression" else None
    binary = kind == "binary"
    names = _feature_names(model)
    encoded = _encoded_safely(model, names)
    return Signature(
        kind=kind,
        features=[_feature(name, encoded.get(name)) for name in names],
        labels=labels,
        positive_label=labels[-1] if labels and binary else None,
        threshold=0.5 if binary else None,
        named=hasattr(model, "feature_names_in_"),
        sklearn_version=str(getattr(model, "_sklearn_version", sklearn.__version__)),
        unknown_categories=_policy(encoded),
    )


def _feature_names(model: Any) -> list[str]:
    """The names the estimator was fitted with, else x0, x1, ... for as many as it takes."""
    names = [str(n) for n in getattr(model, "feature_names_in_", [])]
    count = int(getattr(model, "n_features_in_", len(names) or 0))
    return names or [f"x{i}" for i in range(count)]


def _kind_of(classes: Any) -> Kind:
    if classes is None:
        return "regression"
    return "binary" if len(classes) == 2 else "multiclass"


@dataclass(frozen=True)
class _Encoding:
    """How a fitted step takes one input column of text: its known values (None: any text), and
    whether it scores a value it never saw (rather than raise)."""

    categories: list[str] | None
    scores_unknown: bool


def _feature(name: str, encoding: _Encoding | None) -> Feature:
    if encoding is None:
        return Feature(name)
    return Feature(name, "category", categories=encoding.categories)


def _encoded_safely(model: Any, names: list[str]) -> dict[str, _Encoding]:
    try:
        return _encoded(model, names)
    except (TypeError, ValueError, IndexError, KeyError):  # a selection it cannot read: its columns stay numbers
        return {}


def _policy(encoded: dict[str, _Encoding]) -> UnknownCategories:
    """Unknown categories "missing" where every text column's encoder scores a value it never saw; else "refuse"."""
    return "missing" if encoded and all(e.scores_unknown for e in encoded.values()) else "refuse"


def _encoded(step: Any, names: list[str]) -> dict[str, _Encoding]:
    """The input columns (by name) that a fitted step takes as text, found through its public
    attributes: Pipeline steps, ColumnTransformer's transformers_, an encoder's categories_ and
    handle_unknown, a vectorizer's vocabulary_, HistGradientBoosting's is_categorical_ from
    pandas categories. Nothing for a step it does not know (its columns stay numbers)."""
    if hasattr(step, "transformers_"):
        found: dict[str, _Encoding] = {}
        for _, transformer, columns in step.transformers_:
            found |= _encoded(transformer, _selected(names, columns))
        return found
    if hasattr(step, "steps"):
        return _through(step, names)
    if hasattr(step, "categories_"):
        return _categories(step, names)
    return _any_text(step, names)


def _any_text(step: Any, names: list[str]) -> dict[str, _Encoding]:
    """Columns a step takes as any text, encoding an unseen value itself."""
    if hasattr(step, "vocabulary_"):  # a text vectorizer: one column of free text
        return {name: _Encoding(None, True) for name in names}
    categorical = getattr(step, "is_categorical_", None)  # None: no categorical feature at all
    if getattr(step, "categorical_features", None) == "from_dtype" and categorical is not None:
        # HistGradientBoosting fitted on pandas categories: it scores an unseen value as missing.
        return {name: _Encoding(None, True) for name, on in zip(names, categorical, strict=True) if on}
    return {}


def _through(pipeline: Any, names: list[str]) -> dict[str, _Encoding]:
    """A Pipeline's first steps, for as long as each keeps its columns as they came (an imputer, a scaler)."""
    for _, step in pipeline.steps:
        if step is None or step == "passthrough":
            continue
        found = _encoded(step, names)
        if found or not _keeps_columns(step, names):
            return found
    return {}


def _keeps_columns(step: Any, names: list[str]) -> bool:
    try:
        return [str(n) for n in step.get_feature_names_out(names)] == names
    except (AttributeError, TypeError, ValueError):
        return False


def _selected(names: list[str], columns: Any) -> list[str]:
    """A ColumnTransformer's column selection (names, indices, a mask or a slice) as names."""
    if isinstance(columns, slice):
        return names[columns]
    picked = [columns] if isinstance(columns, str | int) else list(columns)
    if picked and all(isinstance(c, bool | np.bool_) for c in picked):
        return [name for name, on in zip(names, picked, strict=True) if on]
    return [c if isinstance(c, str) else names[int(c)] for c in picked]


def _categories(encoder: Any, names: list[str]) -> dict[str, _Encoding]:
    """An encoder's text categories per column (a missing value is not one); numeric ones stay numbers."""
    scores_unknown = getattr(encoder, "handle_unknown", "ignore") != "error"
    found = {}
    for name, values in zip(names, encoder.categories_, strict=True):
        known = [v for v in values.tolist() if not (isinstance(v, float) and math.isnan(v)) and v is not None]
        if known and all(isinstance(v, str) for v in known):
            found[name] = _Encoding(known, scores_unknown)
    return found


class NoSignature(ValueError):
    """The model does not say enough of itself to be served without a signature.json."""


def derive_signature(estimator: Any, kind: Kind | None = None) -> Signature:
    """signature.json's content, from the fitted estimator: signature_from_estimator, then each
    feature nullable where the model scores a reading with it missing. NoSignature, naming the file
    and showing its form, where the model says nothing of its features or does not score a
    reading built from what it says."""
    signature = signature_from_estimator(estimator, kind)
    if not signature.features:
        raise NoSignature(_ask_for_signature(signature, "it does not say which features it takes"))
    probe = Model(estimator, signature)
    base = [_probe_value(f) for f in signature.features]
    error = _fails(probe, [base])
    if error:
        raise NoSignature(_ask_for_signature(signature, f"a reading built from what it says of itself fails ({error})"))
    if not _fails(probe, [[None] * len(base)]):
        nullable = [True] * len(base)
    else:
        nullable = [not _fails(probe, [[None if j == i else v for j, v in enumerate(base)]]) for i in range(len(base))]
    features = [Feature(f.name, f.type, n, f.categories) for f, n in zip(signature.features, nullable, strict=True)]
    return replace(signature, features=features)


def _probe_value(feature: Feature) -> Any:
    if feature.type == "number":
        return 0.0
    return feature.categories[0] if feature.categories else "x"


def _fails(model: Model, rows: list[list[Any]]) -> str:
    """Why the model cannot score these rows ('' when it can)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _score(model, rows)
    except Exception as error:  # whatever the model raises, it cannot take this reading
        return _cut(f"{type(error).__name__}: {error}", 200)
    return ""


def _ask_for_signature(signature: Signature, why: str) -> str:
    """The refusal: why, what signature.json is, and its form for this model."""
    return (
        f"cannot tell what this model takes: {why}. Put a {SIGNATURE} beside "
        f"{ARTIFACT} (at the top of model.tar.gz; nrt deploy-model --sample CSV writes one) saying its kind and "
        f"features in the order it takes them, e.g. {json.dumps(_example(signature))}"
    )


def _example(signature: Signature) -> dict[str, Any]:
    """A minimal signature.json for this model: its kind, a few features, its labels."""
    features = signature.features[:3] or [Feature("x0")]
    example: dict[str, Any] = {"kind": signature.kind, "features": [_example_feature(f) for f in features]}
    if signature.named:
        example["named"] = True
    if signature.labels is not None:
        example["labels"] = signature.labels[:5]
    return example


def _example_feature(feature: Feature) -> dict[str, Any]:
    shown: dict[str, Any] = {"name": feature.name, "type": feature.type, "nullable": feature.nullable}
    if feature.type == "category":
        shown["categories"] = (feature.categories or ["a", "b"])[:3]
    return shown


@dataclass(frozen=True)
class Model:
    """The fitted estimator and its signature, as model_fn loads them."""

    estimator: Any
    signature: Signature


def load_signature(model_dir: str | Path, estimator: Any) -> Signature:
    """The model directory's signature.json, else what the estimator says of itself (derive_signature)."""
    path = Path(model_dir) / SIGNATURE
    if path.is_file():
        return Signature.from_dict(json.loads(path.read_text()))
    return derive_signature(estimator)  # deployed by other tools, or saved before signatures existed


def model_fn(model_dir: str) -> Model:
    """Load the fitted estimator and its signature from the model directory."""
    estimator = joblib.load(Path(model_dir) / ARTIFACT)
    return Model(estimator, load_signature(model_dir, estimator))


def read_request(request_body: str | bytes, content_type: str = "application/json") -> tuple[list[Any], bool]:
    """A JSON request's instances, and whether it was a list of them ({"instances": [...]},
    answered one by one) rather than one reading alone."""
    if content_type.split(";")[0].strip() != "application/json":
        raise InvalidInput(f"content type {content_type!r} is not supported; send application/json")
    try:
        payload = json.loads(request_body)
    except ValueError as exc:
        raise InvalidInput(f"body is not JSON: {exc}") from None
    if isinstance(payload, dict) and "instances" in payload:
        rows, listed = payload["instances"], True
    elif isinstance(payload, dict) and ("data" in payload or "features" in payload):
        rows, listed = [payload], False
    else:
        raise InvalidInput('expected {"instances": [...]} or {"data": [...]} or {"features": {...}}')
    if not isinstance(rows, list) or not rows:
        raise InvalidInput("instances must be a non-empty list of feature rows")
    return rows, listed


def frame(signature: Signature, rows: list[list[Any]]) -> Any:
    """Checked rows as the model was fitted on them: a DataFrame of named columns, or numbers."""
    if not signature.named:
        return np.asarray([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
    import pandas as pd

    columns = {
        feature.name: pd.Series(
            [np.nan if row[i] is None else row[i] for row in rows],
            dtype="float64" if feature.type == "number" else "object",
        )
        for i, feature in enumerate(signature.features)
    }
    return pd.DataFrame(columns)


def predict(instances: list[Any], model: Model, listed: bool = True) -> list[dict[str, Any]]:
    """Check every instance against the signature, then score those that fit in one call. An
    instance that does not fit gets its own refusal in its place (`{"error": "InvalidReading",
    "message": ..., "feature": ...}`) and the others are scored; a reading sent alone (not
    listed) that does not fit is refused whole (InvalidInput, a 400)."""
    signature = model.signature
    rows: list[list[Any]] = []
    refused: dict[int, InvalidInput] = {}
    for i, instance in enumerate(instances):
        try:
            rows.append(signature.row(instance, i))
        except InvalidInput as error:
            refused[i] = error
    if refused and not listed:
        raise refused[0]
    scored = iter(_score(model, rows) if rows else [])
    return [_refusal(signature.kind, refused[i]) if i in refused else next(scored) for i in range(len(instances))]


def _refusal(kind: Kind, error: InvalidInput) -> dict[str, Any]:
    feature = error.feature  # an unknown name can be as long as the body allows: cut as well
    feature = None if feature is None else _cut(feature, MAX_NAME)
    return {"kind": kind, "error": "InvalidReading", "message": _cut(str(error), MAX_MESSAGE), "feature": feature}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _score(model: Model, rows: list[list[Any]]) -> list[dict[str, Any]]:
    signature = model.signature
    x = frame(signature, rows)
    estimator = model.estimator
    if signature.kind == "regression":
        return [
            {"kind": "regression", "prediction": float(v), "probability": None, "probabilities": None}
            for v in estimator.predict(x)
        ]
    if not hasattr(estimator, "predict_proba"):
        return [
            {"kind": signature.kind, "prediction": native(v), "probability": None, "probabilities": None}
            for v in estimator.predict(x)
        ]
    labels = [native(c) for c in estimator.classes_]
    return [_classified(signature, labels, scores) for scores in estimator.predict_proba(x)]


def _classified(signature: Signature, labels: list[Label], scores: Any) -> dict[str, Any]:
    """One row's class probabilities as a prediction: the positive label past the threshold
    (binary), else the most likely label. `probabilities` holds the TOP_LABELS most likely
    labels' (in the model's label order)."""
    everyone = {str(label): round(float(p), 6) for label, p in zip(labels, scores, strict=True)}
    kept = set(np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:TOP_LABELS].tolist())
    probabilities = {str(label): everyone[str(label)] for i, label in enumerate(labels) if i in kept}
    if signature.kind == "binary":
        positive = signature.positive_label if signature.positive_label is not None else labels[-1]
        p_positive = everyone[str(positive)]
        negative = next(label for label in labels if label != positive)
        threshold = 0.5 if signature.threshold is None else signature.threshold
        prediction, probability = (positive if p_positive >= threshold else negative), p_positive
    else:
        best = int(np.argmax(scores))
        prediction, probability = labels[best], round(float(scores[best]), 6)
    return {
        "kind": signature.kind,
        "prediction": prediction,
        "probability": probability,
        "probabilities": probabilities,
    }


def encode(predictions: list[dict[str, Any]], accept: str = "application/json") -> str:
    """Encode predictions as JSON."""
    return json.dumps({"predictions": predictions})


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: what transform_fn gives where SageMaker's toolkit is not installed."""

    body: str
    status: int = 200
    content_type: str = "application/json"


@functools.cache
def _toolkit() -> Any:
    """SageMaker's serving toolkit's worker module inside the container; None elsewhere (looked up once)."""
    try:
        from sagemaker_containers.beta.framework import worker  # type: ignore[import-not-found]
    except ImportError:
        return None
    return worker


def _reply(body: str, status: int) -> Any:
    # SageMaker's scikit-learn container answers whatever Response transform_fn returns, with
    # its status; an exception would become a 500 there, whatever the exception says.
    worker = _toolkit()
    if worker is None:
        return Reply(body, status)
    return worker.Response(response=body, status=status, mimetype="application/json")


def transform_fn(model: Model, request_body: str | bytes, content_type: str, accept: str) -> Any:
    """Decode, predict and encode; a request the model cannot take is a 400, as the container answers it."""
    try:
        rows, listed = read_request(request_body, content_type)
        answer = encode(predict(rows, model, listed), accept)
    except InvalidInput as exc:
        return _reply(json.dumps(exc.answer()), exc.status_code)
    return _reply(answer, 200)
