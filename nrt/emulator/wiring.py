"""What the local runtime plugs into the embedded AWS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Runs a training job on this machine: (job name, hyperparameters, channels) -> (model.tar.gz
# bytes, the job's log).
TrainingRunner = Callable[[str, dict[str, str], dict[str, dict[str, bytes]]], tuple[bytes, str]]
# Calls a model host: (base URL, body, content type) -> (status, body).
ModelCall = Callable[[str, bytes, str], tuple[int, bytes]]
# Takes a table's change (table name, DynamoDB Streams record) to keep; returns what waits
# until it is kept (the write that made it returns after), or None.
TableChanges = Callable[[str, dict[str, Any]], Callable[[], None] | None]
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
