"""What the embedded AWS hands the local stack to keep across restarts: each table change, in
the order the table took it, each change to the deployed endpoints, and each S3 object written
or deleted (nrt/state/store.py keeps them; the local runtime loads them back at start)."""

from __future__ import annotations

import copy
import functools
import heapq
import inspect
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

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
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard

    # Every write to a table with a stream (put, update, delete, transactions) ends in
    # StreamShard.add, inside the atomic-writes lock: the one place to see each change in
    # the order the table took it. It is handed to the local stack's store there
    # (wired().table_changes); the answer waits for the commit where it goes out (below, and
    # the local API). Items loaded back at start are not changes.
    original_add = StreamShard.add
    original_transact = DynamoDBBackend.transact_write_items

    def add(self: Any, old: Any, new: Any) -> None:
        if getattr(_RESTORING, "active", False):
            return
        original_add(self, old, new)
        if not self.items:
            return
        record = self.items[-1].record
        if isinstance(self.table.items, KeptItems):
            self.table.items.changed(old if new is None else new, new, record)
        in_transaction = getattr(_TRANSACTION, "changes", None)
        if in_transaction is not None:
            in_transaction.append((self, record))
        else:
            _hand_over(self, record)

    def transact_write_items(self: Any, *args: Any, **kwargs: Any) -> Any:
        # All or nothing, in the store too: a transaction's changes are handed over once it has
        # taken them all; when one is refused, moto puts the tables back and none is handed over.
        with _WRITES:
            _TRANSACTION.changes = []
            try:
                result = original_transact(self, *args, **kwargs)
                taken = _TRANSACTION.changes
            finally:
                _TRANSACTION.changes = None
            for shard, record in taken:
                _hand_over(shard, record)
            return result

    replace_attr(StreamShard, "add", functools.wraps(original_add)(add))
    replace_attr(DynamoDBBackend, "transact_write_items", functools.wraps(original_transact)(transact_write_items))


_TRANSACTION = threading.local()  # the changes of the transaction this thread runs, not handed over yet


def _hand_over(shard: Any, record: dict[str, Any]) -> None:
    """A change the table took, to the local stack's store (when one is wired)."""
    sink = wired().table_changes
    if sink is not None:
        sink.submit(shard.table.name, record)
        _HANDED_IN[0] += 1  # a call that hands in nothing waits for no commit (the answers patch)
        trim(shard)


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


# --- tables kept in the store, not in memory ---------------------------------------------------


class ItemSource(Protocol):
    """Where a kept table's items are read (nrt/state/store.py's Store): one by its key, a page in
    the order of their keys, or counted. Keys are the store's strings (item_key)."""

    def item_key(self, keys: dict[str, Any]) -> str: ...

    def item(self, table: str, key: str) -> dict[str, Any] | None: ...

    def items_between(self, table: str, low: str, high: str | None, limit: int) -> list[tuple[str, dict[str, Any]]]: ...

    def count(self, table: str) -> int: ...


PAGE = 256  # items read from the store at a time while a Query or Scan walks a table
_KEEPING = [False]  # whether the kept-tables patch is applied (NRT_EMULATOR_SPEEDUPS=0: not)


def _item(attrs: dict[str, Any], hash_attr: str, range_attr: str | None) -> Any:
    """A moto Item from the attributes the store kept (they passed moto's checks when written)."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    item: Any = Item.__new__(Item)
    item.hash_key = DynamoType(attrs[hash_attr])
    item.range_key = DynamoType(attrs[range_attr]) if range_attr is not None else None
    # As moto's Item.__deepcopy__ does: no size check per attribute (O(n^2)) for a checked item.
    item.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    for name, value in attrs.items():
        dict.__setitem__(item.attrs, name, DynamoType(value))
    return item


class KeptItems:
    """A table's items as moto's Table.items reads and writes them (`[hash][range]`, or `[hash]`
    without a range key), held in the store instead of in memory: a read goes to the changes
    the store has not committed yet (`_pending`, the latest per key), then to the store by key.
    A change leaves `_pending` once the store has committed it (committed()); a change no store
    commits (tables in memory only, or a store that failed) stays, so nothing written is unseen."""

    def __init__(self, table: Any, source: ItemSource) -> None:
        self.name: str = table.name
        self.hash_attr: str = table.hash_key_attr
        self.range_attr: str | None = table.range_key_attr
        self.source = source
        self._pending: dict[str, tuple[Any, object]] = {}  # key -> (Item, or None: deleted; its record)
        self._lock = threading.Lock()
        self._scope = threading.local()

    # moto's Table.items, read and written as a dict
    def key_of(self, item: Any) -> str:
        return self._key(item.hash_key, item.range_key)

    def _key(self, hash_key: Any, range_key: Any = None) -> str:
        """The store's key of an item (its key attributes as moto's stream records name them)."""
        keys = {self.hash_attr: hash_key.to_json()}
        if self.range_attr is not None:
            keys[self.range_attr] = range_key.to_json()
        return self.source.item_key(keys)

    def get(self, key: str) -> Any:
        """The item under key, or None."""
        with self._lock:
            pending = self._pending.get(key)
        if pending is not None:
            return pending[0]
        found = self.source.item(self.name, key)
        return None if found is None else _item(found, self.hash_attr, self.range_attr)

    def put(self, item: Any) -> None:
        with self._lock:
            self._pending[self.key_of(item)] = (item, None)

    def take(self, key: str) -> Any:
        """Remove and return the item under key (KeyError if there is none), as dict.pop does."""
        item = self.get(key)
        if item is None:
            raise KeyError(key)
        with self._lock:
            self._pending[key] = (None, None)
        return item

    def __getitem__(self, hash_key: Any) -> Any:
        if self.range_attr is not None:
            return _HashItems(self, hash_key)
        item = self.get(self._key(hash_key))
        if item is None:
            raise KeyError(hash_key)
        return item

    def __setitem__(self, hash_key: Any, item: Any) -> None:
        self.put(item)

    def __contains__(self, hash_key: Any) -> bool:
        return next(self.with_hash(hash_key), None) is not None

    def pop(self, hash_key: Any) -> Any:
        return self.take(self._key(hash_key))

    def values(self) -> list[Any]:
        """Every item, grouped by hash key as moto's nested dict holds them (reads the whole table)."""
        if self.range_attr is None:
            return list(self.ordered())
        groups: dict[Any, dict[Any, Any]] = {}
        for item in self.ordered():
            groups.setdefault(item.hash_key, {})[item.range_key] = item
        return list(groups.values())

    def __deepcopy__(self, memo: dict[int, Any]) -> KeptItems:
        # TransactWriteItems copies the table to roll back to: the changes not committed are
        # copied, what the store holds is shared.
        twin = KeptItems.__new__(KeptItems)
        twin.__dict__.update(self.__dict__, _lock=threading.Lock(), _scope=threading.local())
        with self._lock:
            twin._pending = {key: (copy.deepcopy(item, memo), record) for key, (item, record) in self._pending.items()}
        return twin

    # what the store and the write-through tell it
    def changed(self, item: Any, new: Any, record: object) -> None:
        """A change the table took (StreamShard.add): `new` (None: deleted) until `record` is committed."""
        with self._lock:
            self._pending[self.key_of(item)] = (new, record)

    def committed(self, source: ItemSource, record: dict[str, Any]) -> None:
        """The store committed `record`: its item is read from there now, unless changed since."""
        if source is not self.source:
            return
        key = source.item_key(record["dynamodb"]["Keys"])
        with self._lock:
            if key in self._pending and self._pending[key][1] is record:
                del self._pending[key]

    def carry(self, other: KeptItems) -> None:
        """Take over the changes another KeptItems of this table holds, not committed to its store."""
        with other._lock:
            pending = dict(other._pending)
        with self._lock:
            self._pending.update(pending)

    def held(self) -> int:
        """Changes held in memory, not committed to the store yet."""
        with self._lock:
            return len(self._pending)

    def count(self) -> int:
        """Items in the table (the store's count, corrected by the changes not committed yet)."""
        with self._lock:
            pending = list(self._pending.items())
        stored = self.source.count(self.name)
        return stored + sum(
            (item is not None) - (self.source.item(self.name, key) is not None) for key, (item, _) in pending
        )

    # walking the table in the store's key order
    def ordered(self, after: str = "", before: str | None = None) -> Iterator[Any]:
        """Items with after < key < before, in key order, the pending changes merged in."""
        with self._lock:
            pending = sorted(
                (key, 0, item)
                for key, (item, _) in self._pending.items()
                if after < key and (before is None or key < before)
            )
        stored = ((key, 1, attrs) for key, attrs in self._stored(after, before))
        last = None
        for key, rank, value in heapq.merge(pending, stored, key=lambda entry: entry[:2]):
            if key == last:
                continue  # a pending change hides what the store has under its key
            last = key
            if value is not None:
                yield value if rank == 0 else _item(value, self.hash_attr, self.range_attr)

    def _stored(self, low: str, high: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
        while True:
            page = self.source.items_between(self.name, low, high, PAGE)
            yield from page
            if len(page) < PAGE:
                return
            low = page[-1][0]

    def with_hash(self, hash_key: Any) -> Iterator[Any]:
        """The items of one hash key: a range of the store's keys when the hash key's name sorts
        first in them (as the predictions table's does), else the whole table filtered."""
        if self.range_attr is None:
            item = self.get(self._key(hash_key))
            return iter(() if item is None else (item,))
        if self.hash_attr < self.range_attr:
            prefix = self.source.item_key({self.hash_attr: hash_key.to_json()})[:-1] + ","
            return self.ordered(prefix, prefix[:-1] + chr(ord(",") + 1))
        return (item for item in self.ordered() if item.hash_key == hash_key)

    @contextmanager
    def scoped(self, **scope: Any) -> Iterator[None]:
        """While a Query (hash_key=) or a Scan page (after=) runs in this thread, what all_items() walks."""
        self._scope.value = scope
        try:
            yield
        finally:
            self._scope.value = {}

    def in_scope(self) -> Iterator[Any]:
        scope = getattr(self._scope, "value", {})
        if "hash_key" in scope:
            return self.with_hash(scope["hash_key"])
        return self.ordered(scope.get("after", ""))


class _HashItems:
    """One hash key's items of a kept table, as moto's `items[hash]` dict of range keys."""

    def __init__(self, kept: KeptItems, hash_key: Any) -> None:
        self.kept, self.hash_key = kept, hash_key

    def __getitem__(self, range_key: Any) -> Any:
        item = self.kept.get(self.kept._key(self.hash_key, range_key))
        if item is None:
            raise KeyError(range_key)
        return item

    def __setitem__(self, range_key: Any, item: Any) -> None:
        self.kept.put(item)

    def pop(self, range_key: Any) -> Any:
        return self.kept.take(self.kept._key(self.hash_key, range_key))

    def values(self) -> list[Any]:
        return list(self.kept.with_hash(self.hash_key))

    def __len__(self) -> int:
        return len(self.values())


@patch(
    "speed",
    "a table's items are read from the store by key, not held in memory",
    "tests/workflow/test_kept_tables.py::test_thousands_of_stored_items_hold_nothing_in_the_embedded_dynamodb",
    upstream="not for upstream: local persistence",
)
def _patch_kept_tables() -> None:
    from moto.dynamodb.models.table import Table

    # A kept table (keep_items) holds no item in memory: moto reads and writes it through
    # KeptItems. Its walks read the store page by page, in the store's key order (a Scan's
    # order on DynamoDB is its own too): a Query only its hash key's range, a Scan page from
    # its ExclusiveStartKey on, and DescribeTable's ItemCount is the store's count.
    all_items, length, query, scan = Table.all_items, Table.__len__, Table.query, Table.scan
    query_signature, scan_signature = inspect.signature(query), inspect.signature(scan)

    def kept_all_items(self: Any) -> Any:
        return self.items.in_scope() if isinstance(self.items, KeptItems) else all_items(self)

    def kept_len(self: Any) -> int:
        return self.items.count() if isinstance(self.items, KeptItems) else length(self)

    def kept_query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = query_signature.bind(self, *args, **kwargs)
        if (
            not isinstance(self.items, KeptItems)
            or bound.arguments.get("index_name")
            or bound.arguments["hash_key"] is None
        ):
            return query(self, *args, **kwargs)
        with self.items.scoped(hash_key=bound.arguments["hash_key"]):
            return query(self, *args, **kwargs)

    def kept_scan(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = scan_signature.bind(self, *args, **kwargs)
        if not isinstance(self.items, KeptItems) or bound.arguments.get("index_name"):
            return scan(self, *args, **kwargs)
        start = bound.arguments.get("exclusive_start_key")
        bound.arguments["exclusive_start_key"] = None  # the walk starts after it already
        with self.items.scoped(after=self.items.source.item_key(start) if start else ""):
            return scan(*bound.args, **bound.kwargs)

    replace_attr(Table, "all_items", functools.wraps(all_items)(kept_all_items))
    replace_attr(Table, "__len__", functools.wraps(length)(kept_len))
    replace_attr(Table, "query", functools.wraps(query)(kept_query))
    replace_attr(Table, "scan", functools.wraps(scan)(kept_scan))
    _KEEPING[0] = True


def keep_items(account: str, region: str, table_name: str, source: ItemSource) -> bool:
    """From now on the table's items are the source's: none are loaded, each is read by its key
    when asked for. What the table holds that the source has not committed stays until it has.
    False when the kept-tables patch is not applied (the tables live in memory; load_items)."""
    from moto.dynamodb.models import dynamodb_backends

    if not _KEEPING[0]:
        return False
    table: Any = dynamodb_backends[account][region].get_table(table_name)
    with _WRITES:
        held = table.items
        if isinstance(held, KeptItems) and held.source is source:
            return True
        kept = KeptItems(table, source)
        if isinstance(held, KeptItems):  # kept by another store: its changes not committed stay
            kept.carry(held)
        else:
            for item in table.all_items():  # items in memory: kept until a store has them
                kept.put(item)
        table.items = kept
    return True


def committed(account: str, region: str, source: ItemSource) -> Callable[[list[tuple[str, dict[str, Any]]]], None]:
    """What the source's committer calls after each commit: the tables it keeps read those
    items from it from then on, and let go of them."""
    from moto.dynamodb.models import dynamodb_backends

    tables = dynamodb_backends[account][region].tables

    def forget(changes: list[tuple[str, dict[str, Any]]]) -> None:
        for name, record in changes:
            table = tables.get(name)
            if table is not None and isinstance(table.items, KeptItems):
                table.items.committed(source, record)

    return forget


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
