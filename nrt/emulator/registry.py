"""The registry of patches: what each rewrites in moto, how, and what proves it; the checks
`install()` makes (moto's version, fingerprints of patched code, complete rebinds)."""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

MOTO_VERSION = "5.2.5"


class CompatError(RuntimeError):
    """moto is not the version this module was written against."""


def check_moto_version(found: str) -> None:
    """Refuse to patch a moto this module was not written and tested against."""
    if found != MOTO_VERSION:
        raise CompatError(f"nrt.emulator is written for moto {MOTO_VERSION}, found {found}; pin moto=={MOTO_VERSION}")


# --- the registry: every patch, what it restores or saves, and its proof ----------------------

SPEEDUPS_SETTING = "NRT_EMULATOR_SPEEDUPS"  # "0": apply the fidelity patches only
FINGERPRINTS = Path(__file__).with_name("fingerprints.json")


# fidelity: what AWS does, where moto differs; speed: the same behaviour with less work.
Kind = Literal["fidelity", "speed"]


@dataclass(frozen=True)
class Patch:
    """One patch of moto: fidelity (what AWS does) or speed (same behaviour, less work)."""

    name: str
    kind: Kind
    aws: str
    test: str
    upstream: str
    apply: Callable[[], None]


REGISTRY: list[Patch] = []
_APPLYING: list[str] = []  # the patch being applied (what replace_attr, add_attr and _rebind record under)
_TOUCHED: dict[str, dict[str, str]] = {}  # patch -> {what it changes in moto: fingerprint}
_REBOUND: list[tuple[str, str, Any]] = []  # (patch, name, the object it replaced everywhere)


def check_rebinds() -> None:
    """After every patch: no module of the interpreter may still hold what a rebind replaced
    (a module loaded after the rebind would keep the original, silently)."""
    for patch_name, name, old in _REBOUND:
        left = [
            m
            for m, module in list(sys.modules.items())
            if m.startswith("moto.stepfunctions.parser") and getattr(module, name, None) is old
        ]
        if left:
            raise CompatError(f"patch {patch_name}: {name} is still the original in {left}")


# The order patches apply in: ASL data, the speed-ups, executions, SageMaker endpoints, then
# its jobs, Athena (its integration joins SageMaker's in the task factory), DynamoDB, what
# outlives the process (after update_endpoint exists); within a module, the order they are
# written in.
MODULE_ORDER = (
    "sdk_tasks",
    "sdk_casing",
    "speed",
    "executions",
    "sagemaker",
    "sagemaker_jobs",
    "tuning_jobs",
    "athena",
    "dynamodb",
    "write_through",
)


def _order(entry: Patch) -> int:
    return MODULE_ORDER.index(entry.apply.__module__.rsplit(".", 1)[-1])


def patch(
    kind: Kind, aws: str, test: str, upstream: str = "none yet"
) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register a patch function; install() applies them in this order."""

    def register(apply: Callable[[], None]) -> Callable[[], None]:
        name = apply.__name__.removeprefix("_patch_").replace("_", "-")
        REGISTRY.append(Patch(name, kind, aws, test, upstream, apply))
        REGISTRY.sort(key=_order)  # stable: definition order within a module
        return apply

    return register


def fingerprint(value: Any) -> str:
    """What a patch rewrites, as moto has it: a hash of its source (or of its repr)."""
    try:
        text = inspect.getsource(value)
    except (TypeError, OSError):
        text = repr(value)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _record(target: str, value: str) -> None:
    if _APPLYING:
        _TOUCHED.setdefault(_APPLYING[0], {})[f"{_APPLYING[0]}: {target}"] = value


def _qualname(owner: Any, name: str) -> str:
    if isinstance(owner, types.ModuleType):
        return f"{owner.__name__}.{name}"
    return f"{owner.__module__}.{owner.__qualname__}.{name}"


def expected_fingerprints() -> dict[str, str]:
    found: dict[str, str] = json.loads(FINGERPRINTS.read_text())
    return found


def check_fingerprints(applied: dict[str, str], expected: dict[str, str]) -> None:
    """Fail, naming the patch, when moto's code under a patch is not what it was written for."""
    for key, value in sorted(applied.items()):
        if key in expected and expected[key] != value:
            raise CompatError(
                f"patch {key.split(':', 1)[0]}: moto's {key.split(': ', 1)[1]} changed since moto {MOTO_VERSION} "
                f"(fingerprint {value}, expected {expected[key]}); review the patch, then "
                "python -m nrt.emulator fingerprints > nrt/emulator/fingerprints.json"
            )
        if key not in expected:
            raise CompatError(f"patch {key.split(':', 1)[0]}: {key.split(': ', 1)[1]} has no recorded fingerprint")


def replace_attr(owner: Any, name: str, value: Any) -> None:
    """Patch owner.name; refuses a name moto does not have (a rename would otherwise go unnoticed)."""
    if not hasattr(owner, name):
        raise CompatError(f"moto {MOTO_VERSION}: {owner!r} has no {name!r} to patch")
    _record(_qualname(owner, name), fingerprint(getattr(owner, name)))
    setattr(owner, name, value)


def follows(owner: Any, name: str) -> None:
    """Record moto code a patch answers as without replacing it (a change to it is then caught)."""
    if not hasattr(owner, name):
        raise CompatError(f"moto {MOTO_VERSION}: {owner!r} has no {name!r} to follow")
    _record(_qualname(owner, name), fingerprint(getattr(owner, name)))


def add_attr(owner: Any, name: str, value: Any) -> None:
    """Add what moto lacks; refuses if moto has grown its own (then this patch should go)."""
    if hasattr(owner, name):
        raise CompatError(f"moto {MOTO_VERSION}: {owner!r} already has {name!r}")
    _record(_qualname(owner, name), "absent")
    setattr(owner, name, value)


def rebind_in_interpreter(name: str, old: Any, new: Any) -> None:
    """Point every module of moto's interpreter that holds `old` under `name` at `new`.

    The parser is imported first, so that every state and service module is loaded and
    none keeps the old binding because it happened to be imported later.
    """
    import moto.stepfunctions.parser.asl.parse.asl_parser
    import moto.stepfunctions.parser.backend.execution  # noqa: F401

    rebound = []
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("moto.stepfunctions.parser") and getattr(module, name, None) is old:
            setattr(module, name, new)
            rebound.append(module_name)
    _REBOUND.append((_APPLYING[0] if _APPLYING else name, name, old))
    # Which modules held it: a module that starts or stops using it changes this.
    _record(f"rebind {name}", hashlib.sha256(",".join(sorted(rebound)).encode()).hexdigest()[:16])
