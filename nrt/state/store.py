"""What the local stack keeps across restarts: one SQLite database, `<state-dir>/state.db`.

On AWS the tables, the Kinesis stream, a started execution and a deployed endpoint outlive
any process. The embedded AWS keeps them in memory, so the local stack writes them here as
they change, and loads them back at the next start:

- `items`: every provisioned table's items, handed over by the embedded DynamoDB inside each
  write and committed by GroupCommit (the 200 goes out after the commit);
- `changes`: the predictions table's change records in order, each with its own number: the
  local stand-in for the Kinesis data stream, which the stream worker reads from its
  checkpoint on (in its own process, so it drains even after `nrt up` died);
- `accepted`: every `/events` request answered 202 and not yet run, with its attempts;
- `endpoints`: the prefixed SageMaker endpoints, with their config, model and tags;
- `objects`: the embedded S3's objects (model artifacts, training code, retraining recipes).

WAL journal, `synchronous=NORMAL`: a commit survives the process being killed (not a power
cut, which is not what a laptop stack promises). One connection per process, behind a lock.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from nrt.state.space import Backoff, DiskSpace

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.type_defs import TagTypeDef

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    table_name TEXT NOT NULL, item_key TEXT NOT NULL, item TEXT NOT NULL,
    PRIMARY KEY (table_name, item_key));
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accepted (
    name TEXT PRIMARY KEY, input TEXT NOT NULL, accepted_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS endpoints (name TEXT PRIMARY KEY, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (bucket, key));
"""


class EndpointSpec(TypedDict):
    """A prefixed endpoint as it is kept: what CreateEndpointConfig and CreateModel take back,
    its tags, and why it failed (a model that cannot load stays Failed across a restart)."""

    config: dict[str, Any]
    models: list[dict[str, Any]]
    tags: list[TagTypeDef]
    failed: NotRequired[str]
    gone: NotRequired[list[str]]  # models deleted while the endpoint serves


@dataclass(frozen=True)
class Change:
    """One change record of a streamed table, numbered in the order the table took it."""

    seq: int
    table: str
    record: dict[str, Any]


def item_key(keys: dict[str, Any]) -> str:
    """An item's key attributes as one string (sorted, so either order names the same item)."""
    return json.dumps(keys, sort_keys=True, separators=(",", ":"), default=as_json)


def as_json(value: object) -> str:
    """DynamoDB JSON as the wire carries it: a binary value (B, BS) in base64, which moto takes
    back as the same value. moto holds what a client sent as bytes, which JSON has no type for."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def kept_item(text: str) -> dict[str, Any]:
    """An item as the store keeps it (JSON text), with its binary values bytes again (as_json's
    reverse), as moto holds what a client sent: a condition or a key compares bytes with bytes."""
    item: dict[str, Any] = json.loads(text)
    if '"B":' not in text and '"BS":' not in text:
        return item
    return {name: _with_bytes(value) for name, value in item.items()}


def _with_bytes(value: dict[str, Any]) -> dict[str, Any]:
    """One attribute value (DynamoDB JSON: {type: value}) with its binary values decoded."""
    if isinstance(value.get("B"), str):
        return {"B": base64.b64decode(value["B"])}
    if "BS" in value:
        return {"BS": [base64.b64decode(v) if isinstance(v, str) else v for v in value["BS"]]}
    if "M" in value:
        return {"M": {name: _with_bytes(v) for name, v in value["M"].items()}}
    if "L" in value:
        return {"L": [_with_bytes(v) for v in value["L"]]}
    return value


class StoreDamaged(RuntimeError):
    """state.db cannot be used as it is; it is kept untouched, and the message says what to do."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(
            f"{path} is damaged: {why}. It is left as it is: move it aside (mv {path} {path}.damaged) "
            "to start with an empty state, or put back a copy you trust"
        )
        self.path = path


class Store:
    """The local stack's durable state (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        if path.exists() and path.stat().st_size == 0:
            # SQLite would take it as a new, empty database: everything kept would be gone unsaid.
            raise StoreDamaged(path, "it is empty (0 bytes), so what it kept is gone")
        # Autocommit; each method is one transaction. Another process (the stream worker) may
        # hold the write lock for a moment: wait for it rather than fail.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        try:
            self._open()
        except sqlite3.OperationalError:  # locked, I/O: not the file's content
            self._db.close()
            raise
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise StoreDamaged(path, f"SQLite cannot read it: {error}") from None

    def _open(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        # A state.db from before attempts were counted.
        if "attempts" not in {row[1] for row in self._db.execute("PRAGMA table_info(accepted)")}:
            self._db.execute("ALTER TABLE accepted ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('stream_id', ?)", (uuid.uuid4().hex[:12],))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction (the database's write lock from its start), all or nothing."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                # SQLite ends the transaction itself on some errors (SQLITE_FULL among them): a
                # ROLLBACK then would raise and hide the error that matters.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @property
    def stream_id(self) -> str:
        """This state directory's change stream: object names in the lake carry it, so two state
        directories writing one lake, or a state directory made anew, never reuse a name."""
        with self._lock:
            return str(self._db.execute("SELECT value FROM meta WHERE key='stream_id'").fetchone()[0])

    # --- tables -------------------------------------------------------------------------------

    def record_change(self, table: str, record: dict[str, Any], streamed: bool) -> None:
        """A table changed (a DynamoDB Streams record): keep the item as it is now, and the
        record itself when the table streams to the lake."""
        self.record_changes([(table, record, streamed)])

    def record_changes(self, changes: list[tuple[str, dict[str, Any], bool]]) -> None:
        """Several changes (table, record, streamed), in order, in one transaction."""
        items: list[tuple[str, str, str | None]] = []
        logged: list[tuple[str, str]] = []
        for table, record, streamed in changes:
            ddb = record["dynamodb"]
            image = ddb.get("NewImage")
            kept = json.dumps(image, separators=(",", ":"), default=as_json) if image else None
            items.append((table, item_key(ddb["Keys"]), kept))
            if streamed:
                logged.append((table, json.dumps(record, separators=(",", ":"), default=as_json)))
        with self._transaction():
            for table, key, item in items:
                if item is None:
                    self._db.execute("DELETE FROM items WHERE table_name=? AND item_key=?", (table, key))
                else:
                    self._db.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?)", (table, key, item))
            self._db.executemany("INSERT INTO changes (table_name, record) VALUES (?, ?)", logged)

    def items(self, table: str) -> Iterable[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT item FROM items WHERE table_name=? ORDER BY rowid", (table,)).fetchall()
        return (kept_item(row[0]) for row in rows)

    def count(self, table: str) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM items WHERE table_name=?", (table,)).fetchone()[0])

    # The embedded DynamoDB reads its tables' items here, by key (nrt/emulator/write_through.py:KeptItems).

    def item_key(self, keys: dict[str, Any]) -> str:
        """An item's key as the store names it (item_key): items_between walks this order."""
        return item_key(keys)

    def item(self, table: str, key: str) -> dict[str, Any] | None:
        """One item by its key (item_key), or None."""
        with self._lock:
            row = self._db.execute("SELECT item FROM items WHERE table_name=? AND item_key=?", (table, key)).fetchone()
        return None if row is None else kept_item(row[0])

    def items_between(self, table: str, low: str, high: str | None, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Up to `limit` (key, item) with low < key < high (no upper bound when None), in key order."""
        # Both bounds on the primary key's index: a Query reads its hash key's range only.
        below, bound = ("AND item_key<?", (high,)) if high is not None else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT item_key, item FROM items WHERE table_name=? AND item_key>? {below} ORDER BY item_key LIMIT ?",
                (table, low, *bound, limit),
            ).fetchall()
        return [(str(key), kept_item(item)) for key, item in rows]

    def changes_after(self, seq: int, limit: int = 1000) -> list[Change]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, table_name, record FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
            ).fetchall()
        return [Change(int(s), str(t), json.loads(r)) for s, t, r in rows]

    def forget_changes_through(self, seq: int) -> None:
        """The lake holds everything up to seq: those records need not be kept."""
        with self._lock:
            self._db.execute("DELETE FROM changes WHERE seq <= ?", (seq,))

    def last_change(self) -> int:
        with self._lock:
            found = self._db.execute("SELECT max(seq) FROM changes").fetchone()[0]
        return int(found or 0)

    # --- accepted events ----------------------------------------------------------------------

    def accept(self, name: str, execution_input: str, at: float) -> None:
        with self._lock:
            self._db.execute("INSERT INTO accepted VALUES (?, ?, ?, 0)", (name, execution_input, at))

    def attempt(self, name: str) -> int:
        """Count one more attempt to run an accepted event (before it runs, so a run the
        process did not survive counts too); returns the count."""
        with self._lock:
            found = self._db.execute(
                "UPDATE accepted SET attempts = attempts + 1 WHERE name=? RETURNING attempts", (name,)
            ).fetchone()
        return int(found[0]) if found else 1

    def done(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM accepted WHERE name=?", (name,))

    def accepted(self) -> list[tuple[str, str]]:
        """(name, input) of every accepted event not yet run, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT name, input FROM accepted ORDER BY accepted_at, rowid").fetchall()
        return [(str(n), str(i)) for n, i in rows]

    # --- endpoints ----------------------------------------------------------------------------

    def save_endpoints(self, specs: dict[str, EndpointSpec]) -> None:
        """The endpoints as they are now (what is not in specs is gone)."""
        rows = [(name, json.dumps(spec, separators=(",", ":"))) for name, spec in specs.items()]
        with self._transaction():
            self._db.execute("DELETE FROM endpoints")
            self._db.executemany("INSERT INTO endpoints VALUES (?, ?)", rows)

    def endpoints(self) -> dict[str, EndpointSpec]:
        with self._lock:
            rows = self._db.execute("SELECT name, spec FROM endpoints ORDER BY name").fetchall()
        return {str(n): json.loads(s) for n, s in rows}

    # --- S3 objects ---------------------------------------------------------------------------

    def save_object(self, bucket: str, key: str, body: bytes | None) -> None:
        """An object as it is now (None: deleted)."""
        with self._transaction():
            if body is None:
                self._db.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))
            else:
                self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?)", (bucket, key, body))

    def objects(self) -> Iterator[tuple[str, str, bytes]]:
        """(bucket, key, body) of every object kept, one at a time (bodies can be large)."""
        with self._lock:
            names = self._db.execute("SELECT bucket, key FROM objects ORDER BY bucket, key").fetchall()
        for bucket, key in names:
            with self._lock:
                row = self._db.execute("SELECT body FROM objects WHERE bucket=? AND key=?", (bucket, key)).fetchone()
            if row is not None:
                yield str(bucket), str(key), bytes(row[0])


class StoreUnavailable(RuntimeError):
    """The store could not keep a change: the write that made it is not durable."""


# How long an answer waits for a store that is behind to catch up before it is refused, and how
# often the committer looks for room after a commit failed for lack of space.
SYNC_GRACE_SECONDS = 1.0
ROOM_POLL_SECONDS = 0.25
# How long a change nobody waits for stays in memory before it is committed anyway (a write
# whose answer does not call sync(), such as an in-process call of the runtime's own).
LINGER_SECONDS = 0.05


class GroupCommit:
    """Keeps table changes in the store from one thread, many per transaction.

    The embedded DynamoDB hands each change over inside its write lock (so the order is the
    table's) and goes on; nobody waits per write. Whoever answers a caller (the local API, the
    embedded AWS's HTTP server, the events worker before it drops an event from the journal)
    calls sync() before the answer: it returns once every change handed in until then is
    committed. One wait per answer, however many writes the answer made. The first sync()
    that finds nobody committing commits the batch being filled itself, in its own thread;
    the others wait for that commit, then one of them commits the next: no thread is woken
    per write or per answer. The committing thread commits only what nobody waits for (after
    LINGER_SECONDS) and retries a failed commit after its back-off.

    A commit that fails (a full disk) leaves the tables in memory ahead of the store: its
    changes are kept aside, in order, and committed again, before anything handed in later,
    after a back-off (nrt/state/space.py's Backoff) until one commit takes them. Meanwhile
    every sync() that waits for a change not kept raises StoreUnavailable at once (a resend
    would otherwise be answered from an item that is not kept yet); once the store has caught
    up, answers are given again, without a restart.
    """

    def __init__(
        self,
        store: Store,
        tables: Iterable[str] | None = None,
        streamed: Iterable[str] = (),
        convert: Callable[[dict[str, Any]], dict[str, Any]] = lambda record: record,
        space: DiskSpace | None = None,
        backoff: Backoff | None = None,
        committed: Callable[[list[tuple[str, dict[str, Any]]]], None] | None = None,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self.store = store
        self.tables = None if tables is None else frozenset(tables)
        self.streamed = frozenset(streamed)
        self.convert = convert  # the record as it is stored, made at commit time
        self.space = space  # told of each commit's outcome: a full disk refuses writes at the door
        self._backoff = backoff or Backoff()
        self._linger = linger
        # Told the changes (as handed in) after each commit that kept them: the embedded DynamoDB
        # then reads those items from the store and lets go of them.
        self.committed = committed
        guard = threading.RLock()
        self._cond = threading.Condition(guard)  # guards everything below; commits notify it
        self._work = threading.Condition(guard)  # the committing thread's, woken only at close
        self._filling: list[tuple[str, dict[str, Any]]] = []
        self._filled_at = 0.0  # when the first change of the batch being filled was handed in
        self._committing = False  # a batch is being committed (by an answer, or the thread below)
        self._retry_at: float | None = None  # after a failed commit: not before this (monotonic)
        self._behind: list[tuple[str, dict[str, Any]]] = []  # handed in, not kept: committed first
        self._batch = 1  # the number of the batch being filled; batches commit in order
        self._committed = 0  # every batch up to this one is done (kept, or failed)
        self._kept = 0  # every change of every batch up to this one is kept
        self._waiting = 0  # changes a failed commit left to keep (they are in _behind, or in a retry)
        self._for_space = False  # the last commit failed for lack of space: retried once there is room
        self.broken: str | None = None  # why the last commit failed, while changes wait to be kept
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="store-commit", daemon=True)
        self._thread.start()

    def submit(self, table: str, record: dict[str, Any]) -> None:
        """Queue a table's change (a DynamoDB Streams record) to keep; tables not kept are left."""
        if self.tables is not None and table not in self.tables:
            return
        with self._cond:
            if not self._filling:
                self._filled_at = time.monotonic()
            self._filling.append((table, record))

    def sync(self) -> None:
        """Return once every change handed in so far is committed; raise StoreUnavailable while
        one of them is not kept (after SYNC_GRACE_SECONDS at most: the disk may just have room
        again, and the next attempt keep it)."""
        with self._cond:
            target = self._batch if self._filling else self._batch - 1
            deadline = time.monotonic() + SYNC_GRACE_SECONDS
        while (lead := self._wait_or_lead(target, deadline)) is not None:
            self._finish(*lead)
        with self._cond:
            broken = self.broken if target > self._kept else None
        if broken is not None:
            raise StoreUnavailable(
                f"the local store could not keep a write ({broken}); it is kept once there is room, "
                "nothing accepted before was lost"
            )

    def _wait_or_lead(self, target: int, deadline: float) -> tuple[int, list[tuple[str, dict[str, Any]]]] | None:
        """Wait until batch `target` is committed (or the store is broken past the deadline);
        or, when nobody is committing and the store is up to date, take the batch being filled
        for the caller to commit itself."""
        with self._cond:
            while self._committed < target and (self.broken is None or time.monotonic() < deadline):
                if self.broken is None and not self._committing and not self._behind:
                    return self._take_filling()
                self._cond.wait(None if self.broken is None else max(0.0, deadline - time.monotonic()))
            return None

    def _take_filling(self) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
        """The batch to commit now (what a failed commit left first); the caller holds the lock."""
        batch, changes = self._batch, self._behind + self._filling
        self._filling, self._behind, self._batch = [], [], batch + 1
        self._committing = True
        return batch, changes

    @property
    def waiting(self) -> int:
        """Changes handed in and not kept yet, after a commit failed (0 when the store is up to date)."""
        with self._cond:
            return self._waiting

    def _run(self) -> None:
        while (taken := self._take()) is not None:
            if self._finish(*taken) is not None and self._closed:
                return  # stopping: what is not kept now was answered 503, never "kept"

    def _finish(self, batch: int, changes: list[tuple[str, dict[str, Any]]]) -> str | None:
        """Commit a batch taken, then tell the waiting answers; why not, if it failed."""
        error = self._commit(changes)
        self._for_space = error is not None and self._for_space
        with self._cond:
            self._committing = False
            self._committed = batch
            if error is None:
                self._kept, self.broken, self._waiting, self._retry_at = batch, None, 0, None
            else:
                self._behind, self.broken, self._waiting = changes, error, len(changes)
                self._retry_at = time.monotonic() + self._backoff.next()
            self._cond.notify_all()
        return error

    def _take(self) -> tuple[int, list[tuple[str, dict[str, Any]]]] | None:
        """The committing thread's next batch (what a failed commit left first), once there is
        one and the back-off is over, and no answer is committing one; None once closed with
        nothing left."""
        with self._cond:
            while self._committing or (not self._closed and not self._due()):
                self._work.wait(self._wait_seconds())
            if not self._filling and not self._behind:
                return None
            return self._take_filling()

    def _due(self) -> bool:
        """Something to commit now that no answer will: a failed commit's changes once the
        back-off is over (or, when it failed for lack of space, once the disk has room), or a
        change nobody waited for during LINGER_SECONDS."""
        if not self._filling and not self._behind:
            return False
        now = time.monotonic()
        if self._retry_at is not None and now < self._retry_at:
            return self._for_space and self.space is not None and self.space.full() is None
        return bool(self._behind) or now - self._filled_at >= self._linger

    def _wait_seconds(self) -> float:
        """How long the committer may sleep: after a failure for space it looks at the disk every
        ROOM_POLL_SECONDS; a change nobody waits for is due after LINGER_SECONDS."""
        if self._retry_at is not None:
            return ROOM_POLL_SECONDS
        if self._filling:
            return max(0.0, self._filled_at + self._linger - time.monotonic())
        return self._linger  # a change handed in meanwhile wakes nobody: it is looked for

    def _commit(self, changes: list[tuple[str, dict[str, Any]]]) -> str | None:
        """Keep changes in one transaction; why not, if it failed."""
        try:
            self.store.record_changes(
                [(table, self.convert(record), table in self.streamed) for table, record in changes]
            )
        except Exception as failure:
            self._for_space = self.space is not None and self.space.failed(failure)
            return f"{type(failure).__name__}: {failure}"
        self._backoff.reset()
        if self.space is not None:
            self.space.wrote()
        if self.committed is not None:
            self.committed(changes)
        return None

    def close(self) -> None:
        """Commit what is queued, then stop."""
        with self._cond:
            self._closed = True
            self._work.notify()
            self._cond.notify_all()
        self._thread.join(timeout=30)
