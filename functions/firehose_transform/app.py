"""Firehose processor: one KDS-for-DynamoDB change record in, one flat prediction row out.

The workflow stores the model's answer as JSON text; each kind becomes typed columns here: a
label as text (classifiers), a value as a double (regression), probabilities as a map.

The rows are JSON whose keys are exactly the Glue table's columns (snake_case: Firehose's
JSON reader lower-cases keys before the Parquet conversion). A record that cannot be read is
marked ProcessingFailed on its own, so Firehose writes it under the error prefix and the rest
of the batch still lands.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import KinesisFirehoseEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

CHANGE_TYPES = ("INSERT", "MODIFY", "REMOVE")
KINDS = ("binary", "multiclass", "regression")

Result = Literal["Ok", "ProcessingFailed"]


class MalformedChange(ValueError):
    """The change record is not a readable KDS-for-DynamoDB record of a prediction."""


@dataclass(frozen=True)
class Outcome:
    record_id: str
    result: Result
    data: str  # base64, as Firehose wants it back
    reason: str = ""


def plain(value: dict[str, Any]) -> Any:
    """A DynamoDB attribute value ({"S": "x"}, {"N": "1"}, ...) as a plain Python value."""
    if not isinstance(value, dict) or len(value) != 1:
        raise MalformedChange(f"not an attribute value: {value!r}")
    kind, inner = next(iter(value.items()))
    decode = _DECODERS.get(kind)
    if decode is None:
        raise MalformedChange(f"unsupported attribute type {kind}")
    return decode(inner)


def number(text: Any) -> int | float:
    try:
        value = Decimal(str(text))
    except InvalidOperation as error:
        raise MalformedChange(f"not a number: {text!r}") from error
    if not value.is_finite():
        raise MalformedChange(f"not a finite number: {text!r}")
    return int(value) if value == value.to_integral_value() else float(value)


# Each DynamoDB attribute type, decoded (sets sorted, so the same set gives the same row).
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "S": str,
    "N": number,
    "BOOL": bool,
    "NULL": lambda _: None,
    "L": lambda inner: [plain(v) for v in inner],
    "M": lambda inner: {k: plain(v) for k, v in inner.items()},
    "SS": lambda inner: sorted(str(v) for v in inner),
    "NS": lambda inner: sorted(number(v) for v in inner),
}


def dedup_key(change: dict[str, Any]) -> str:
    """The same change delivered twice gets the same key; any other change gets another."""
    ddb = change["dynamodb"]
    identity = [
        change.get("tableName"),
        change["eventName"],
        ddb.get("Keys"),
        ddb.get("ApproximateCreationDateTime"),
        ddb.get("NewImage"),
        ddb.get("OldImage"),
    ]
    return hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _typed(item: dict[str, Any], name: str, kind: type, required: bool = False) -> Any:
    value = item.get(name)
    if value is None:
        if required:
            raise MalformedChange(f"missing {name}")
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MalformedChange(f"{name} is not {kind.__name__}: {value!r}")
    return value


def _flag(item: dict[str, Any], name: str) -> bool:
    """A BOOL attribute the workflow writes only when true (so other items are not a byte bigger)."""
    value = item.get(name, False)
    if not isinstance(value, bool):
        raise MalformedChange(f"{name} is not a boolean: {value!r}")
    return value


def _json(item: dict[str, Any], name: str) -> Any:
    """An attribute the workflow stores as JSON text (a label, a number, an object, or null)."""
    text = item.get(name)
    if text is None:
        return None
    if not isinstance(text, str):
        raise MalformedChange(f"{name} is not JSON text: {text!r}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedChange(f"{name} is not JSON") from error


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _legacy_columns(item: dict[str, Any]) -> dict[str, Any]:
    """An item written before models of every kind: a 0/1 classifier."""
    prediction = _typed(item, "prediction", int)
    return {
        "kind": "binary" if prediction is not None else None,
        "label": None if prediction is None else str(prediction),
        "value": None,
        "probability": _typed(item, "probability", float),
        "probabilities": None,
    }


def _check_probabilities(probability: Any, probabilities: Any) -> None:
    if probability is not None and not _is_number(probability):
        raise MalformedChange(f"probability is not a number: {probability!r}")
    if probabilities is not None and (
        not isinstance(probabilities, dict) or not all(_is_number(v) for v in probabilities.values())
    ):
        raise MalformedChange("probabilities is not an object of label to number")


def _regression_columns(prediction: Any) -> dict[str, Any]:
    if not _is_number(prediction):
        raise MalformedChange(f"a regression prediction is not a number: {prediction!r}")
    return {"kind": "regression", "label": None, "value": float(prediction), "probability": None, "probabilities": None}


def _label_columns(kind: str, prediction: Any, probability: Any, probabilities: Any) -> dict[str, Any]:
    if not isinstance(prediction, str | int) or isinstance(prediction, bool):
        raise MalformedChange(f"a label is not text or an integer: {prediction!r}")
    return {
        "kind": kind,
        "label": str(prediction),
        "value": None,
        "probability": None if probability is None else float(probability),
        "probabilities": None if probabilities is None else {str(k): float(v) for k, v in probabilities.items()},
    }


def prediction_columns(item: dict[str, Any]) -> dict[str, Any]:
    """kind, label, value, probability and probabilities, typed for SQL, from the stored answer."""
    kind = _typed(item, "kind", str)
    if kind is None:
        return _legacy_columns(item)
    if kind not in KINDS:
        raise MalformedChange(f"unknown kind {kind!r}")
    prediction = _json(item, "prediction")
    probability = _json(item, "probability")
    probabilities = _json(item, "probabilities")
    _check_probabilities(probability, probabilities)
    if kind == "regression":
        return _regression_columns(prediction)
    return _label_columns(kind, prediction, probability, probabilities)


def input_column(item: dict[str, Any]) -> str | None:
    """What the model was given: the reading's data or features, as JSON text."""
    reading = _json(item, "reading")
    if isinstance(reading, dict):
        given = reading.get("features", reading.get("data"))
        return None if given is None else json.dumps(given, separators=(",", ":"))
    features = item.get("features")  # an item written before readings were stored whole
    return features if isinstance(features, str) else None


def to_row(change: dict[str, Any], ingested_at: int) -> dict[str, Any]:
    """One change record -> one row with exactly the Glue table's columns."""
    if not isinstance(change, dict) or not isinstance(change.get("dynamodb"), dict):
        raise MalformedChange("no dynamodb section")
    change_type = change.get("eventName")
    if change_type not in CHANGE_TYPES:
        raise MalformedChange(f"unknown eventName {change_type!r}")
    ddb = change["dynamodb"]
    if not isinstance(ddb.get("Keys"), dict):
        raise MalformedChange("no Keys")
    # A REMOVE has no NewImage: its row carries the old image (or only the keys).
    image = ddb.get("NewImage") or ddb.get("OldImage") or {}
    item = {name: plain(value) for name, value in {**image, **ddb["Keys"]}.items()}
    changed_at = ddb.get("ApproximateCreationDateTime")
    return {
        "event_id": _typed(item, "event_id", str),
        "sensor": _typed(item, "sensor", str, required=True),
        "timestamp": _typed(item, "timestamp", int, required=True),
        "model": _typed(item, "model", str),
        "endpoint": _typed(item, "endpoint", str),
        **prediction_columns(item),
        "input": input_column(item),
        "predicted_at": _typed(item, "predicted_at", str),
        "cached": _flag(item, "cached"),
        "change_type": change_type,
        "changed_at": int(number(changed_at)) if changed_at is not None else None,
        "ingested_at": ingested_at,
        "dedup_key": dedup_key(change),
        "prediction": None,  # legacy columns: older files hold them
        "features": None,
    }


def transform(records: Iterable[tuple[str, str, int]]) -> list[Outcome]:
    """(record id, base64 data, arrival ms) -> one outcome per record, in order."""
    outcomes = []
    for record_id, data, arrival in records:
        try:
            change = json.loads(base64.b64decode(data, validate=True))
            row = to_row(change, arrival)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # ValueError covers bad base64, bad JSON and MalformedChange.
            outcomes.append(Outcome(record_id, "ProcessingFailed", data, f"{type(error).__name__}: {error}"))
            continue
        encoded = base64.b64encode((json.dumps(row, separators=(",", ":")) + "\n").encode()).decode()
        outcomes.append(Outcome(record_id, "Ok", encoded))
    return outcomes


# Config is checked at cold start, by name (powertools reads both from the environment).
for _name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
    if not os.environ.get(_name):
        raise RuntimeError(f"{_name} is not set")

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context
@event_source(data_class=KinesisFirehoseEvent)
def handler(event: KinesisFirehoseEvent, context: LambdaContext) -> dict[str, Any]:
    outcomes = transform((r.record_id, r.data, r.approximate_arrival_timestamp) for r in event.records)
    failed = [o for o in outcomes if o.result != "Ok"]
    for outcome in failed:
        logger.warning("change record not transformed", record_id=outcome.record_id, reason=outcome.reason)
    metrics.add_metric(name="RowsTransformed", unit=MetricUnit.Count, value=len(outcomes) - len(failed))
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(failed))
    return {"records": [{"recordId": o.record_id, "result": o.result, "data": o.data} for o in outcomes]}
