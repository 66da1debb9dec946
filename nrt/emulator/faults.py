"""Fault injection at the AWS boundary of the local runtime (`nrt up --faults ...`).

Faults are what AWS does on a bad day, injected where the workflow meets the embedded AWS,
so the workflow's own Retry and Catch handle them as they would on AWS:

| fault        | where               | what the workflow sees                                      |
|--------------|---------------------|-------------------------------------------------------------|
| model_error  | InvokeEndpoint      | the model container answers 500: ModelError (424), original |
|              |                     | status 500                                                  |
| throttle     | InvokeEndpoint      | ThrottlingException (400)                                   |
| cold_start   | InvokeEndpoint      | the call takes `cold_start_seconds` longer (a cold start)   |
| write_error  | DynamoDB PutItem    | ProvisionedThroughputExceededException (400), nothing       |
|              |                     | written                                                     |

Rates are per call. A fault is drawn from one seeded generator, so a run can be repeated.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nrt.emulator.wiring import Wiring

RATES = ("model_error", "throttle", "cold_start", "write_error")


class FaultSpecError(ValueError):
    """A --faults value that cannot be read; the message names the part and the rule."""


@dataclass
class Faults:
    """Per-call fault rates (0 to 1), and what was injected so far."""

    model_error: float = 0.0
    throttle: float = 0.0
    cold_start: float = 0.0
    write_error: float = 0.0
    cold_start_seconds: float = 2.0
    seed: int | None = None
    injected: Counter[str] = field(default_factory=Counter, init=False)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def active(self) -> bool:
        return any(getattr(self, name) > 0 for name in RATES)

    def draw(self, fault: str) -> bool:
        """Whether this call gets `fault`; counted when it does."""
        rate: float = getattr(self, fault)
        if rate <= 0:
            return False
        with self._lock:
            hit = self._rng.random() < rate
            if hit:
                self.injected[fault] += 1
        return hit

    def describe(self) -> str:
        parts = [f"{name}={getattr(self, name):g}" for name in RATES if getattr(self, name) > 0]
        if self.cold_start > 0:
            parts.append(f"cold_start_seconds={self.cold_start_seconds:g}")
        return ",".join(parts) or "none"


def parse(spec: str, seed: int | None = None) -> Faults:
    """`model_error=0.05,throttle=0.02,cold_start=0.01,write_error=0.01[,cold_start_seconds=2]`."""
    known = {f.name for f in fields(Faults) if f.init} - {"seed"}
    values = dict(parse_fault(part, known) for part in (p.strip() for p in spec.split(",")) if part)
    return Faults(seed=seed, **values)


def parse_fault(part: str, known: set[str]) -> tuple[str, float]:
    """One `name=value` of the spec, checked: a known fault, a number, in its range."""
    name, sep, raw = part.partition("=")
    name = name.strip()
    if not sep:
        raise FaultSpecError(f"fault '{part}' needs a value: name=rate, e.g. model_error=0.05")
    if name not in known:
        raise FaultSpecError(f"unknown fault '{name}'; known: {', '.join(sorted(known))}")
    try:
        value = float(raw)
    except ValueError:
        raise FaultSpecError(f"fault '{name}' must be a number, got '{raw}'") from None
    if name in RATES and not 0 <= value <= 1:
        raise FaultSpecError(f"fault '{name}' is a rate per call: between 0 and 1, got {raw}")
    if name == "cold_start_seconds" and not 0 <= value <= 60:
        raise FaultSpecError(f"cold_start_seconds must be between 0 and 60, got {raw}")
    return name, value


def install(faults: Faults | None, wiring: Wiring) -> None:
    """Put `faults` in force through the embedded AWS's declared interceptors (None lifts
    them): every model call (wiring.model_call) and every table write (wiring.write_check)."""
    if faults is None:
        wiring.model_call = wiring.write_check = None
        return
    wiring.model_call = functools.partial(faulty_model_call, faults)
    wiring.write_check = functools.partial(faulty_write, faults)


def faulty_model_call(faults: Faults, base_url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    """A model host call that throttles, starts cold or fails at the rates in force."""
    from moto.core.exceptions import JsonRESTError

    from nrt import emulator

    if faults.draw("throttle"):
        raise JsonRESTError("ThrottlingException", "Rate exceeded (injected fault)")
    if faults.draw("cold_start"):
        time.sleep(faults.cold_start_seconds)
    if faults.draw("model_error"):
        return 500, b'{"message": "the model container failed (injected fault)"}'
    return emulator.invoke_model_host(base_url, body, content_type)


def faulty_write(faults: Faults, operation: str) -> None:
    """A PutItem refused as DynamoDB refuses one over its throughput, at the rate in force."""
    from moto.core.exceptions import JsonRESTError

    if operation == "put_item" and faults.draw("write_error"):
        raise JsonRESTError(
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded (injected fault)",
        )
