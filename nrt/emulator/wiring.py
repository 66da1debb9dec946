"""What the local runtime plugs into the embedded AWS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# Runs a training job on this machine: (job name, hyperparameters, channels) -> (model.tar.gz
# bytes, the job's log).
TrainingRunner = Callable[[str, dict[str, str], dict[str, dict[str, bytes]]], tuple[bytes, str]]
# Calls a model host: (base URL, body, content type) -> (status, body).
ModelCall = Callable[[str, bytes, str], tuple[int, bytes]]


class TableChanges(Protocol):
    """Keeps each table change. submit() is called inside the table's write lock with moto's
    stream record (emulator.durable.wire_record makes it what DynamoDB Streams sends); a write
    does not wait for it. Whoever answers a caller waits with sync() (nrt/durable.py)."""

    def submit(self, table: str, record: dict[str, Any]) -> None: ...

    def sync(self) -> None: ...


# Takes an S3 object that was written (bucket, key, body) or deleted (body None) to keep.
ObjectChanges = Callable[[str, str, bytes | None], None]


@dataclass
class Wiring:
    """What the local runtime plugs into the embedded AWS, in one place: the model host of each
        endpoint, how a training job runs, how a model host is called (faults wrap this), and where
    each table change, endpoint change and S3 object is kept."""

    model_hosts: dict[str, str] = field(default_factory=dict)  # endpoint -> base URL
    training_runner: TrainingRunner | None = None  # None: training jobs fail with a reason
    model_call: ModelCall | None = None  # None: invoke_model_host
    table_changes: TableChanges | None = None  # None: tables live in memory only
    endpoints_changed: Callable[[], None] | None = None  # None: endpoints live in memory only
    objects_changed: ObjectChanges | None = None  # None: S3 objects live in memory only


WIRING = Wiring()
