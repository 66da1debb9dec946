"""What the embedded AWS hands the local stack to keep across restarts: each table change, in
the order the table took it, and each change to the deployed endpoints (nrt/durable.py keeps
them; the local runtime loads them back at start)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from nrt.emulator.dynamodb import _WRITES, epoch_seconds
from nrt.emulator.registry import _replace, patch
from nrt.emulator.wiring import WIRING

# --- tables ---------------------------------------------------------------

_RESTORING = threading.local()


def wire_record(record: dict[str, Any]) -> dict[str, Any]:
    """A moto stream record as DynamoDB Streams puts it on the wire (the time as epoch seconds)."""
    ddb = record["dynamodb"]
    return {
        **record,
        "dynamodb": {**ddb, "ApproximateCreationDateTime": epoch_seconds(ddb["ApproximateCreationDateTime"])},
    }


_PENDING = threading.local()  # what this thread's write waits for before it returns

TABLE_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


def _waits() -> list[Callable[[], None]]:
    if not hasattr(_PENDING, "waits"):
        _PENDING.waits = []
    found: list[Callable[[], None]] = _PENDING.waits
    return found


@patch(
    "fidelity",
    "a table and its change stream outlive the process",
    "tests/workflow/test_durable.py::test_every_change_a_table_takes_reaches_the_store_in_order",
)
def _patch_durable_changes() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard

    # Every write to a table with a stream (put, update, delete, transactions) ends in
    # StreamShard.add, inside the atomic-writes lock: the one place to see each change in
    # the order the table took it. It is handed to the local stack's store there
    # (WIRING.table_changes), and the write call waits for it to be kept once the lock is
    # released, so the caller's answer comes after. Items loaded back at start are not changes.
    original_add = StreamShard.add

    def add(self: Any, old: Any, new: Any) -> None:
        if getattr(_RESTORING, "active", False):
            return
        original_add(self, old, new)
        sink = WIRING.table_changes
        if sink is not None and self.items:
            wait = sink(self.table.name, wire_record(self.items[-1].record))
            if wait is not None:
                _waits().append(wait)

    _replace(StreamShard, "add", functools.wraps(original_add)(add))

    for name in TABLE_WRITES:
        original = getattr(DynamoDBBackend, name)

        def kept(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            try:
                return __original(self, *args, **kwargs)
            finally:
                waits, _PENDING.waits = _waits(), []
                for wait in waits:
                    wait()

        _replace(DynamoDBBackend, name, functools.wraps(original)(kept))


@contextmanager
def _restoring() -> Iterator[None]:
    _RESTORING.active = True
    try:
        yield
    finally:
        _RESTORING.active = False


def load_items(account: str, region: str, table_name: str, items: Iterable[dict[str, Any]]) -> int:
    """Put items back into a table of the embedded DynamoDB as they were: no change records,
    no conditions (what the store kept is what the table held). Returns how many."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[account][region].get_table(table_name)
    count = 0
    with _WRITES, _restoring():
        for item in items:
            table.put_item(item)
            count += 1
    return count


# --- endpoints ---------------------------------------------------------------------------------

ENDPOINT_CHANGES = ("create_endpoint", "update_endpoint", "delete_endpoint", "add_tags", "delete_tags")


@patch(
    "fidelity",
    "a deployed endpoint outlives the process",
    "tests/workflow/test_durable.py::test_a_change_to_an_endpoint_or_its_tags_is_reported_before_the_call_returns",
)
def _patch_durable_endpoints() -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    # After each call that changes what an endpoint serves or says (its config, its tags), the
    # local stack saves the endpoints (WIRING.endpoints_changed) before the answer goes out.
    for name in ENDPOINT_CHANGES:
        original = getattr(SageMakerModelBackend, name)

        def changed(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            result = __original(self, *args, **kwargs)
            hook = WIRING.endpoints_changed
            if hook is not None:
                hook()
            return result

        _replace(SageMakerModelBackend, name, functools.wraps(original)(changed))
