"""The embedded AWS: moto, patched where it differs from AWS (fidelity) or does work the local
stack does not need (speed), one module per concern.

Every patch is a `_patch_*` function registered with `@patch(kind, what, test)` (registry.py).
`install()` applies them in order, refuses a moto whose code under a patch changed since the
fingerprints in fingerprints.json were taken, and checks that every rebind reached every
module. `NRT_EMULATOR_SPEEDUPS=0` applies the fidelity patches only. The ASL is never changed
to suit moto. `python -m nrt.emulator table` prints the registry (docs/local-vs-aws.md carries it).
"""

from __future__ import annotations

import os
import threading
from importlib.metadata import version

# Each module registers its patches on import (registry.MODULE_ORDER orders them).
from nrt.emulator import (
    athena,
    dynamodb,
    executions,
    sagemaker,
    sagemaker_jobs,
    sdk_casing,
    sdk_tasks,
    speed,
    tuning_jobs,
    write_through,
)
from nrt.emulator.executions import (
    MAX_PAYLOAD_BYTES,
    aws_errors,
    check_execution_input,
    check_execution_name,
    error_answer,
    execution_exists,
    start_sync_execution,
    throttling,
    validation_error,
)
from nrt.emulator.registry import (
    _APPLYING,
    _TOUCHED,
    MOTO_VERSION,
    REGISTRY,
    SPEEDUPS_SETTING,
    CompatError,
    Patch,
    check_fingerprints,
    check_moto_version,
    check_rebinds,
    expected_fingerprints,
)
from nrt.emulator.sagemaker import invoke_model_host
from nrt.emulator.wiring import ModelHosts, Wiring, unwire, wire, wired

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MOTO_VERSION",
    "REGISTRY",
    "SPEEDUPS_SETTING",
    "CompatError",
    "ModelHosts",
    "Wiring",
    "athena",
    "aws_errors",
    "check_execution_input",
    "check_execution_name",
    "check_moto_version",
    "current_fingerprints",
    "dynamodb",
    "error_answer",
    "execution_exists",
    "executions",
    "expected_fingerprints",
    "install",
    "invoke_model_host",
    "sagemaker",
    "sagemaker_jobs",
    "sdk_casing",
    "sdk_tasks",
    "speed",
    "start_sync_execution",
    "throttling",
    "tuning_jobs",
    "unwire",
    "validation_error",
    "wire",
    "wired",
    "write_through",
]

_installed = False
_lock = threading.Lock()


def install(port: int | None = None) -> None:
    """Apply every patch once; `port` is the embedded AWS's port (sets MOTO_PORT)."""
    global _installed
    if port is not None:
        os.environ["MOTO_PORT"] = str(port)
    with _lock:
        if _installed:
            return
        speedups = os.environ.get(SPEEDUPS_SETTING, "1") != "0"
        applied = _apply([entry for entry in REGISTRY if speedups or entry.kind != "speed"])
        check_rebinds()
        check_fingerprints(applied, expected_fingerprints())
        _installed = True


def _apply(entries: list[Patch]) -> dict[str, str]:
    """Apply patches in order; what each rewrote in moto, with its fingerprint."""
    check_moto_version(version("moto"))
    applied: dict[str, str] = {}
    for entry in entries:
        _APPLYING[:] = [entry.name]
        entry.apply()
        applied.update(_TOUCHED.pop(entry.name, {}))
    _APPLYING.clear()
    return applied


def current_fingerprints() -> dict[str, str]:
    """Apply every patch in a fresh interpreter and report what each one rewrote."""
    global _installed
    applied = _apply(REGISTRY)
    _installed = True
    return applied
