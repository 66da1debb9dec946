"""What the local runtime plugs into the embedded AWS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# Runs a training job on this machine: (job name, hyperparameters, channels) -> (model.tar.gz
# bytes, the job's log).
TrainingRunner = Callable[[str, dict[str, str], dict[str, dict[str, bytes]]], tuple[bytes, str]]
# Calls a model host: (base URL, body, content type) -> (status, body).
ModelCall = Callable[[str, bytes, str], tuple[int, bytes]]


@dataclass
class Wiring:
    """What the local runtime plugs into the embedded AWS, in one place: the model host of each
    endpoint, how a training job runs, and how a model host is called (faults wrap this)."""

    model_hosts: dict[str, str] = field(default_factory=dict)  # endpoint -> base URL
    training_runner: TrainingRunner | None = None  # None: training jobs fail with a reason
    model_call: ModelCall | None = None  # None: invoke_model_host


WIRING = Wiring()
