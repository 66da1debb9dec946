"""What the local runtime plugs into the embedded AWS."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

# Runs a training job on this machine: (job name, hyperparameters, channels) -> (model.tar.gz
# bytes, the job's log).
TrainingRunner = Callable[[str, dict[str, str], dict[str, dict[str, bytes]]], tuple[bytes, str]]
# Runs a processing job on this machine: (job name, ContainerEntrypoint, ContainerArguments,
# each input's files by its local path, the outputs' local paths) -> what it left (processing_jobs.Finished).
ProcessingRunner = Callable[[str, list[str], list[str], dict[str, dict[str, bytes]], list[str]], Any]
# Calls a model host: (base URL, body, content type) -> (status, body).
ModelCall = Callable[[str, bytes, str], tuple[int, bytes]]
# Starts a model host for an endpoint's model, or joins the start under way: (endpoint, model
# name, ModelDataUrl) -> the host's base URL once it answers /ping; raises, saying why, when
# the model cannot load. The runtime routes the host (ModelHosts.route) before it returns.
HostStart = Callable[[str, str, str], str]


class TableChanges(Protocol):
    """Keeps each table change. submit() is called inside the table's write lock with moto's
    stream record (emulator.write_through.wire_record makes it what DynamoDB Streams sends); a write
    does not wait for it. Whoever answers a caller waits with sync() (nrt/state/store.py)."""

    def submit(self, table: str, record: dict[str, Any]) -> None: ...

    def sync(self) -> None: ...


# Called before each table-writing call with its name (put_item, update_item, delete_item,
# transact_write_items); raises to refuse the write as DynamoDB would.
WriteCheck = Callable[[str], None]
# Takes an S3 object that was written (bucket, key, body) or deleted (body None) to keep.
ObjectChanges = Callable[[str, str, bytes | None], None]


class LakeQueryError(Exception):
    """A query the local lake cannot run, with the reason (what Athena's FAILED state says)."""


class LakeAnswer(Protocol):
    @property
    def columns(self) -> list[str]: ...

    @property
    def rows(self) -> list[tuple[Any, ...]]: ...

    @property
    def types(self) -> list[str]:
        """Each column's DuckDB type."""
        ...


class LakeQueries(Protocol):
    """The local lake as the embedded Athena reads it (nrt.lake.athena.LakeQueries)."""

    def execute(self, sql: str, parameters: list[str]) -> LakeAnswer:
        """The query's answer; LakeQueryError saying why it cannot run."""
        ...

    def scanned_bytes(self, sql: str) -> int:
        """The bytes of the lake's tables the query names (Athena bills what it reads)."""
        ...


class ModelHosts:
    """Which model host serves each endpoint, and since when each endpoint is idle: the local
    runtime routes an endpoint to a host's base URL when the host is ready and withdraws it when
    the host goes; InvokeEndpoint reads it inside use()."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._urls: dict[str, str] = {}
        self._busy: dict[str, int] = {}
        self._used: dict[str, float] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def route(self, endpoint: str, url: str) -> None:
        with self._lock:
            self._urls[endpoint] = url
            self._used[endpoint] = self._clock()  # a host just started counts as just used

    @contextmanager
    def use(self, endpoint: str) -> Iterator[None]:
        """An invocation of the endpoint in flight: its host is not idle until it ends."""
        with self._lock:
            self._busy[endpoint] = self._busy.get(endpoint, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._busy[endpoint] -= 1
                self._used[endpoint] = self._clock()

    def idle_for(self, endpoint: str) -> float:
        """Seconds since the endpoint's last invocation ended (or its host was routed); 0 while one runs."""
        with self._lock:
            if self._busy.get(endpoint, 0) > 0:
                return 0.0
            return self._clock() - self._used.get(endpoint, self._clock())

    def withdraw(self, endpoint: str) -> None:
        with self._lock:
            self._urls.pop(endpoint, None)

    def url(self, endpoint: str) -> str | None:
        with self._lock:
            return self._urls.get(endpoint)


@dataclass
class Wiring:
    """What the local runtime plugs into the embedded AWS, in one object: the model host of each
    endpoint, how a training job runs, how a model host is called and whether a table write
    goes ahead (the interceptors faults use), how a model host starts, where each table change,
    endpoint change and S3 object is kept, and the lake Athena's queries read. The runtime builds
    it and hands it over with wire(); the patches read it with wired()."""

    model_hosts: ModelHosts = field(default_factory=ModelHosts)
    training_runner: TrainingRunner | None = None  # None: training jobs fail with a reason
    processing_runner: ProcessingRunner | None = None  # None: processing jobs fail with a reason
    model_call: ModelCall | None = None  # None: invoke_model_host
    # None: an endpoint is InService as soon as it is made and serves only the host routed to it
    host_start: HostStart | None = None
    write_check: WriteCheck | None = None  # None: every table write goes ahead
    table_changes: TableChanges | None = None  # None: tables live in memory only
    endpoints_changed: Callable[[], None] | None = None  # None: endpoints live in memory only
    objects_changed: ObjectChanges | None = None  # None: S3 objects live in memory only
    athena: LakeQueries | None = None  # runs Athena's queries on the local lake; None: they fail with a reason

    def sync(self) -> None:
        """Wait until every table change made so far is kept (at once when tables live in
        memory only): what an answer waits for."""
        if self.table_changes is not None:
            self.table_changes.sync()


# moto's backends are one per process, so is the wiring the patches see. Until a runtime wires
# its own: tables, endpoints and objects in memory only, no model hosts, no training.
_wired = Wiring()


def wire(wiring: Wiring) -> None:
    """Hand the embedded AWS what the runtime built; every patch uses it from the next call on."""
    global _wired
    _wired = wiring


def unwire(wiring: Wiring) -> None:
    """Take `wiring` back out (if it is still the one in use): an embedded AWS that stops."""
    global _wired
    if _wired is wiring:
        _wired = Wiring()


def wired() -> Wiring:
    """What the runtime wired in (wire), as the patches read it."""
    return _wired
