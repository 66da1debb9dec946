"""What the embedded AWS hands the local stack to keep across restarts: each table change, in
the order the table took it, each change to the deployed endpoints, and each S3 object written
or deleted (nrt/state/store.py keeps them; the local runtime loads them back at start)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from nrt.emulator.dynamodb import _WRITES, epoch_seconds
from nrt.emulator.registry import patch, replace_attr
from nrt.emulator.wiring import wired

# --- tables ---------------------------------------------------------------

_RESTORING = threading.local()
# Changes handed to the store so far: an answer that saw none handed in waits for no commit.
_HANDED_IN = [0]


def wire_record(record: dict[str, Any]) -> dict[str, Any]:
    """A moto stream record as DynamoDB Streams puts it on the wire (the time as epoch seconds)."""
    ddb = record["dynamodb"]
    return {
        **record,
        "dynamodb": {**ddb, "ApproximateCreationDateTime": epoch_seconds(ddb["ApproximateCreationDateTime"])},
    }


# Stream records moto keeps in memory per table once the store keeps them all: moto keeps every
# one for ever (a long `nrt up` grew by one record per write), DynamoDB Streams for 24 hours.
KEPT_STREAM_RECORDS = 1000


def trim(shard: Any) -> None:
    """Let go of the oldest records beyond KEPT_STREAM_RECORDS (when twice as many are held),
    moving the shard's first sequence number on, as a stream's trim horizon moves: sequence
    numbers keep counting, and a reader at the newest records reads on."""
    excess = len(shard.items) - KEPT_STREAM_RECORDS
    if excess >= KEPT_STREAM_RECORDS:
        del shard.items[:excess]
        shard.starting_sequence_number += excess


@patch(
    "fidelity",
    "a table and its change stream outlive the process",
    "tests/workflow/test_durable.py::test_every_change_a_table_takes_reaches_the_store_in_order",
    upstream="docs/upstream/write-through-changes.md (not for upstream: local persistence)",
)
def _patch_write_through_changes() -> None:
    from moto.dynamodb.models.table import StreamShard

    # Every write to a table with a stream (put, update, delete, transactions) ends in
    # StreamShard.add, inside the atomic-writes lock: the one place to see each change in
    # the order the table took it. It is handed to the local stack's store there
    # (wired().table_changes); the answer waits for the commit where it goes out (below, and
    # the local API). Items loaded back at start are not changes.
    original_add = StreamShard.add

    def add(self: Any, old: Any, new: Any) -> None:
        if getattr(_RESTORING, "active", False):
            return
        original_add(self, old, new)
        sink = wired().table_changes
        if sink is not None and self.items:
            sink.submit(self.table.name, self.items[-1].record)
            _HANDED_IN[0] += 1
            trim(self)

    replace_attr(StreamShard, "add", functools.wraps(original_add)(add))


@patch(
    "fidelity",
    "a write over HTTP answers after its change is kept",
    "tests/workflow/test_durable.py::test_a_write_over_http_answers_after_its_change_is_kept",
    upstream="docs/upstream/write-through-answers.md (not for upstream: local persistence)",
)
def _patch_write_through_answers() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    # Every request to the embedded AWS's HTTP endpoint passes here: its answer goes out once
    # the changes it made are committed (or as a 500 when they could not be). The server sends
    # nothing before the application returns, so raising here is an error answer, not a cut one.
    # A call during which no table changed (a read) waits for nothing: it is answered even
    # while the store cannot keep writes (a full disk).
    original_call = DomainDispatcherApplication.__call__

    def call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        sink = wired().table_changes
        if sink is None:
            return original_call(self, environ, start_response)
        handed_in = _HANDED_IN[0]
        answer = original_call(self, environ, start_response)
        if _HANDED_IN[0] != handed_in:
            sink.sync()
        return answer

    replace_attr(DomainDispatcherApplication, "__call__", functools.wraps(original_call)(call))


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
    upstream="docs/upstream/write-through-endpoints.md (not for upstream: local persistence)",
)
def _patch_write_through_endpoints() -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    # After each call that changes what an endpoint serves or says (its config, its tags), the
    # local stack saves the endpoints (wired().endpoints_changed) before the answer goes out.
    for name in ENDPOINT_CHANGES:
        original = getattr(SageMakerModelBackend, name)

        def changed(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            result = __original(self, *args, **kwargs)
            hook = wired().endpoints_changed
            if hook is not None:
                hook()
            return result

        replace_attr(SageMakerModelBackend, name, functools.wraps(original)(changed))


# --- S3 objects --------------------------------------------------------------------------------


@patch(
    "fidelity",
    "an S3 object outlives the process",
    "tests/workflow/test_durable.py::test_an_s3_object_written_or_deleted_is_reported_before_the_call_returns",
    upstream="docs/upstream/write-through-objects.md (not for upstream: local persistence)",
)
def _patch_write_through_objects() -> None:
    from moto.s3.models import S3Backend

    # Every object written ends in S3Backend.put_object (PutObject, CopyObject, a completed
    # multipart upload) and every object removed in delete_object (DeleteObjects calls it for
    # each key): after either, the local stack keeps the change (wired().objects_changed) before
    # the answer goes out. Objects loaded back at start are not changes.
    original_put = S3Backend.put_object
    original_delete = S3Backend.delete_object

    def put_object(self: Any, bucket_name: str, key_name: str, value: bytes, *args: Any, **kwargs: Any) -> Any:
        key = original_put(self, bucket_name, key_name, value, *args, **kwargs)
        hook = wired().objects_changed
        if hook is not None and not getattr(_RESTORING, "active", False):
            hook(bucket_name, key_name, bytes(key.value))
        return key

    def delete_object(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        result = original_delete(self, bucket_name, key_name, *args, **kwargs)
        hook = wired().objects_changed
        if hook is not None:
            hook(bucket_name, key_name, None)
        return result

    replace_attr(S3Backend, "put_object", functools.wraps(original_put)(put_object))
    replace_attr(S3Backend, "delete_object", functools.wraps(original_delete)(delete_object))


def load_objects(account: str, region: str, objects: Iterable[tuple[str, str, bytes]]) -> int:
    """Put objects back into the embedded S3 as they were (creating a bucket that is missing),
    without reporting them as changes. Returns how many."""
    from moto.s3.models import s3_backends

    backend = s3_backends[account]["aws"]
    count = 0
    with _restoring():
        for bucket, key, body in objects:
            if bucket not in backend.buckets:
                backend.create_bucket(bucket, region)
            backend.put_object(bucket, key, body)
            count += 1
    return count
