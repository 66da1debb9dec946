"""DynamoDB and its streams: atomic conditional writes; GetRecords pages dumped as they are."""

from __future__ import annotations

import calendar
import datetime
import functools
import json
import threading
from typing import Any

from nrt.emulator.registry import (
    _replace,
    patch,
)

# --- atomic writes -----------------------------------------------------------------------------

_WRITES = threading.RLock()


@patch(
    "fidelity",
    "a conditional write is atomic",
    "tests/workflow/test_emulator.py::test_concurrent_conditional_writes_of_one_key_let_exactly_one_through",
)
def _patch_atomic_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    # DynamoDB evaluates a write's condition and applies the write as one step. moto checks,
    # then writes, in Python: two executions writing the same key at once could both pass
    # attribute_not_exists. One lock over the table-writing calls restores the guarantee.
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _WRITES:
                return __original(self, *args, **kwargs)

        _replace(DynamoDBBackend, name, functools.wraps(original)(atomic))


# --- GetRecords on DynamoDB Streams ------------------------------------------------------------


def epoch_seconds(value: Any) -> float:
    """A naive UTC datetime as epoch seconds, cut to the millisecond as the Smithy rules (and
    moto's serializer) cut it."""
    if isinstance(value, datetime.datetime):
        whole = calendar.timegm(value.utctimetuple())
        return whole + (value.microsecond // 1000) / 1000.0 if value.microsecond else whole
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def stream_records_json(page: dict[str, Any]) -> str:
    """A GetRecords page on the wire: moto's records are already in wire names and shapes;
    only ApproximateCreationDateTime (a naive UTC datetime) becomes epoch seconds, cut to
    the millisecond as the Smithy rules (and moto's serializer) cut it."""

    return json.dumps({k: v for k, v in page.items() if v is not None}, default=epoch_seconds, separators=(",", ":"))


@patch(
    "speed",
    "GetRecords pages are dumped as they are",
    "tests/workflow/test_emulator_speed.py::test_get_records_answers_what_moto_s_own_serializer_answers",
)
def _patch_stream_records() -> None:
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    # moto serializes every value through a model-driven serializer: 0.46 ms per record,
    # paid in the embedded AWS's process for each prediction the stream worker reads. The
    # records need no transformation but the timestamp, so they are dumped as they are.
    def get_records(self: Any) -> Any:
        limit = self._get_param("Limit")
        page = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
        return stream_records_json(page), {"Content-Type": "application/x-amz-json-1.0"}

    _replace(DynamoDBStreamsHandler, "get_records", get_records)
