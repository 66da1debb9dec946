"""DynamoDB and its streams: atomic conditional writes; GetRecords pages dumped as they are."""

from __future__ import annotations

import calendar
import datetime
import functools
import threading
from typing import Any

from nrt.emulator.registry import (
    patch,
    replace_attr,
)
from nrt.emulator.wiring import wired

# --- atomic writes -----------------------------------------------------------------------------

_WRITES = threading.RLock()


@patch(
    "fidelity",
    "a conditional write is atomic",
    "tests/workflow/test_emulator.py::test_concurrent_conditional_writes_of_one_key_let_exactly_one_through",
    upstream="docs/upstream/atomic-writes.md (not filed)",
)
def _patch_atomic_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    # DynamoDB evaluates a write's condition and applies the write as one step. moto checks,
    # then writes, in Python: two executions writing the same key at once could both pass
    # attribute_not_exists. One lock over the table-writing calls restores the guarantee.
    # The runtime's write check (faults) sees each call first: a refused write writes nothing.
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, __original: Any = original, __name: str = name, **kwargs: Any) -> Any:
            check = wired().write_check
            if check is not None:
                check(__name)
            with _WRITES:
                return __original(self, *args, **kwargs)

        replace_attr(DynamoDBBackend, name, functools.wraps(original)(atomic))


# --- GetRecords on DynamoDB Streams ------------------------------------------------------------


def epoch_seconds(value: Any) -> float:
    """A naive UTC datetime as epoch seconds, cut to the millisecond as the Smithy rules (and
    moto's serializer) cut it."""
    if isinstance(value, datetime.datetime):
        whole = calendar.timegm(value.utctimetuple())
        return whole + (value.microsecond // 1000) / 1000.0 if value.microsecond else whole
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
