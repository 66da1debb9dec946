"""The bytes one reading becomes on its way to the lake: the predictions item DynamoDB stores
(what a write costs), the change record Kinesis and Firehose carry, and the API's log line.

The item has exactly the attributes PutPrediction writes (read from the ASL); each is filled as
the workflow fills it, for a reading of `features` numeric features, so the sizes follow the
item's shape. The change record is Kinesis Data Streams for DynamoDB's JSON, the shape of
tests/events/firehose_insert.json.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["Sizes", "change_record", "item_bytes", "prediction_item", "sample_reading", "sizes"]

SENSOR = "sensor-0001"
TIMESTAMP = 1767225600000
MODEL = "fraud"
ENDPOINT = "nrt-fraud"
FEATURE_VALUE = -1.3598071336738  # a typical double as JSON writes it (16 characters)
PREDICTION = {
    "kind": "binary",
    "prediction": 1,
    "probability": 0.973105,
    "probabilities": {"0": 0.026895, "1": 0.973105},
}


def sample_reading(features: int) -> dict[str, Any]:
    """A single reading as a producer sends it (the workflow stores it whole): `features` named
    numeric features."""
    return {
        "sensor": SENSOR,
        "model": MODEL,
        "timestamp": TIMESTAMP,
        "features": {f"v{i:02d}": FEATURE_VALUE for i in range(features)},
    }


def _json(value: Any) -> str:
    """JSON as States.JsonToString writes it: no spaces."""
    return json.dumps(value, separators=(",", ":"))


def _values(features: int) -> dict[str, dict[str, Any]]:
    reading = sample_reading(features)
    return {
        "sensor": {"S": SENSOR},
        "timestamp_endpoint": {"S": f"{TIMESTAMP}#{ENDPOINT}"},
        "timestamp": {"N": str(TIMESTAMP)},
        "event_id": {"S": f"{SENSOR}:{TIMESTAMP}"},
        "model": {"S": MODEL},
        "endpoint": {"S": ENDPOINT},
        "kind": {"S": str(PREDICTION["kind"])},
        "prediction": {"S": _json(PREDICTION["prediction"])},
        "probability": {"S": _json(PREDICTION["probability"])},
        "probabilities": {"S": _json(PREDICTION["probabilities"])},
        "reading": {"S": _json(reading)},
        "predicted_at": {"S": "2026-12-05T20:00:00.123Z"},
    }


def prediction_item(attributes: Sequence[str], features: int) -> dict[str, dict[str, Any]]:
    """The predictions item for a reading, attribute by attribute as the ASL names them.

    KeyError for an attribute this module does not know how to fill: the ASL changed, and the
    plan must learn the new attribute's size before it prices a write again."""
    values = _values(features)
    return {name: values[name] for name in attributes}


def _number_bytes(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits
    return math.ceil(len(digits) / 2) + 1


def item_bytes(item: dict[str, dict[str, Any]]) -> int:
    """DynamoDB's size of an item: each name's UTF-8 bytes plus its value's (strings: their UTF-8
    bytes; numbers: one byte per two significant digits, plus one; a boolean: one)."""
    total = 0
    for name, value in item.items():
        ((kind, text),) = value.items()
        size = 1 if kind == "BOOL" else _number_bytes(text) if kind == "N" else len(text.encode())
        total += len(name.encode()) + size
    return total


def change_record(item: dict[str, dict[str, Any]], table: str) -> bytes:
    """The record Kinesis Data Streams for DynamoDB writes for the item's INSERT."""
    record = {
        "awsRegion": "us-east-1",
        "eventID": str(uuid.UUID(int=0)),
        "eventName": "INSERT",
        "userIdentity": None,
        "recordFormat": "application/json",
        "tableName": table,
        "dynamodb": {
            "ApproximateCreationDateTime": TIMESTAMP + 125,
            "Keys": {k: item[k] for k in ("sensor", "timestamp_endpoint")},
            "SizeBytes": item_bytes(item),
            "ApproximateCreationDateTimePrecision": "MILLISECOND",
            "NewImage": item,
        },
        "eventSource": "aws:dynamodb",
    }
    return json.dumps(record).encode()


@dataclass(frozen=True)
class Sizes:
    """Bytes per reading, and the units each service bills them in."""

    item_bytes: int
    write_units: int  # DynamoDB: 1 KB each
    record_bytes: int  # the change record on the Kinesis stream and into Firehose
    request_bytes: int  # one reading's share of the request body
    access_log_bytes: int  # one API request's log line

    @property
    def kinesis_billed_bytes(self) -> int:
        return math.ceil(self.record_bytes / 1024) * 1024

    @property
    def firehose_billed_bytes(self) -> int:
        return math.ceil(self.record_bytes / 5120) * 5120


def sizes(attributes: Sequence[str], features: int, access_log_format: str) -> Sizes:
    """The sizes of one reading of `features` features through the template's item and log line."""
    item = prediction_item(attributes, features)
    size = item_bytes(item)
    return Sizes(
        item_bytes=size,
        write_units=math.ceil(size / 1024),
        record_bytes=len(change_record(item, "nrt-inference-predictions-by-model")),
        request_bytes=len(json.dumps(sample_reading(features)).encode()),
        # $context variables give way to values of about their own length (ids, an IP, a status).
        access_log_bytes=len(access_log_format.encode()) + 1,
    )
