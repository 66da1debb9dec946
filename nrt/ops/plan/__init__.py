"""`nrt plan`: the capacity and cost plan of the deployed stack at a given rate.

- `facts`: what the template and the inference ASL say a reading costs (counted from the files).
- `records`: the bytes a reading becomes (the item, the change record, the log line).
- `latency`: the latencies Little's law uses, with their sources.
- `hops`: the arithmetic per hop: rate, concurrency, the quota that binds, the month's cost.
- here: the request checked, the plan put together, the break-even against instances, and
  the plan as a table or JSON. Prices: nrt.ops.prices.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from nrt.ops.deploy import SERVERLESS_MEMORY_MB
from nrt.ops.plan import hops as h
from nrt.ops.plan.facts import Facts, facts
from nrt.ops.plan.latency import LATENCIES
from nrt.ops.plan.records import Sizes, sizes
from nrt.ops.prices import CHECKED, prices_for

__all__ = ["TIERS", "BreakEven", "Plan", "PlanError", "PlanRequest", "make_plan", "render", "to_json"]

TIERS = ("serverless", "provisioned", "instance", "lambda")
LAMBDA_MEMORY_MB = (128, 10_240)
DEFAULT_MEMORY_MB = {"serverless": 2048, "provisioned": 2048, "instance": 0, "lambda": 1024}


class PlanError(ValueError):
    """A request the plan cannot answer: the message says which input and why."""


@dataclass(frozen=True)
class PlanRequest:
    rps: float
    batch: int = 1
    tier: str = "serverless"
    memory_mb: int | None = None
    region: str = "us-east-1"
    instance_type: str = "ml.m5.large"
    features: int = 30
    event_ids: bool = False


@dataclass(frozen=True)
class BreakEven:
    """Where serverless at `memory_mb` stops being cheaper than `instance_type` instances."""

    memory_mb: int
    instance_type: str
    serverless_usd_per_call: float
    instance_usd_month: float
    instance_calls_per_s: float
    calls_per_s: float | None  # None: serverless stays cheaper at any rate
    readings_per_s: float | None


@dataclass(frozen=True)
class Plan:
    request: PlanRequest
    memory_mb: int
    hops: list[h.Hop]
    sizes: Sizes
    facts: Facts
    break_even: BreakEven
    monthly_usd: float = field(init=False)
    idle_usd: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "monthly_usd", sum(hop.monthly_usd for hop in self.hops))
        object.__setattr__(self, "idle_usd", sum(hop.idle_usd for hop in self.hops))

    @property
    def usd_per_million(self) -> float | None:
        readings = self.request.rps * h.SECONDS_PER_MONTH
        return self.monthly_usd / readings * 1e6 if readings else None


def _memory(request: PlanRequest) -> int:
    memory = request.memory_mb if request.memory_mb is not None else DEFAULT_MEMORY_MB[request.tier]
    if request.tier in ("serverless", "provisioned") and memory not in SERVERLESS_MEMORY_MB:
        raise PlanError(
            f"--memory for a serverless endpoint is one of {', '.join(map(str, SERVERLESS_MEMORY_MB))} MB, not {memory}"
        )
    if request.tier == "lambda" and not LAMBDA_MEMORY_MB[0] <= memory <= LAMBDA_MEMORY_MB[1]:
        raise PlanError(
            f"--memory for a Lambda function is {LAMBDA_MEMORY_MB[0]}-{LAMBDA_MEMORY_MB[1]} MB, not {memory}"
        )
    return memory


def check(request: PlanRequest, template_facts: Facts) -> int:
    """The request's memory; PlanError for anything the plan cannot price."""
    if not math.isfinite(request.rps) or request.rps < 0:
        raise PlanError(f"--rps must be a rate of 0 or more readings per second, not {request.rps}")
    if request.tier not in TIERS:
        raise PlanError(f"--tier must be one of {', '.join(TIERS)}, not {request.tier!r}")
    if not 1 <= request.batch <= template_facts.batch_limit:
        raise PlanError(
            f"--batch must be 1-{template_facts.batch_limit} readings (the workflow's Validate state), "
            f"not {request.batch}"
        )
    if request.instance_type not in h.VCPUS:
        raise PlanError(f"--instance-type must be one of {', '.join(h.VCPUS)}, not {request.instance_type!r}")
    if request.features < 1:
        raise PlanError(f"--features must be 1 or more, not {request.features}")
    return _memory(request)


def break_even(ctx: h.Ctx) -> BreakEven:
    """Serverless costs the same per call at any rate; instances cost per hour and serve a fixed
    rate each. Where serverless's month meets one instance's, instances start to be cheaper (and
    stay so: n instances serve n times the rate for n times the price)."""
    memory = ctx.memory_mb if ctx.tier in ("serverless", "provisioned") else DEFAULT_MEMORY_MB["serverless"]
    at = h.Ctx(
        ctx.rps, ctx.batch, "serverless", memory, ctx.instance_type, ctx.event_ids, ctx.facts, ctx.sizes, ctx.prices
    )
    per_call = h._serverless_call_usd(at, ctx.prices.serverless_gb_second.usd)
    month = ctx.prices.instance_hour[ctx.instance_type].usd * h.HOURS_PER_MONTH
    capacity = h.instance_capacity(at)
    calls = month / (per_call * h.SECONDS_PER_MONTH)
    crossing = calls if calls <= capacity else None
    readings = None if crossing is None else crossing * ctx.batch / ctx.facts.model_calls_per_request
    return BreakEven(memory, ctx.instance_type, per_call, month, capacity, crossing, readings)


def make_plan(request: PlanRequest, template_facts: Facts | None = None) -> Plan:
    """The plan for `request` against the template's facts (the repository's template by default)."""
    template_facts = template_facts or facts()
    memory = check(request, template_facts)
    prices = prices_for(request.region)
    reading = sizes(template_facts.prediction_attributes, request.features, template_facts.access_log_format)
    ctx = h.Ctx(
        request.rps,
        request.batch,
        request.tier,
        memory,
        request.instance_type,
        request.event_ids,
        template_facts,
        reading,
        prices,
    )
    return Plan(request, memory, h.hops(ctx), reading, template_facts, break_even(ctx))


def _money(usd: float) -> str:
    return f"${usd:,.2f}" if usd < 1e6 else f"${usd / 1e6:,.2f} M"


def _count(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}" if value >= 10 else f"{value:,.1f}"


def _quota_cell(quota: h.Quota | None) -> str:
    if quota is None:
        return ""
    mark = "BINDS " if quota.binds else ""
    return f"{mark}{_count(quota.needed)} / {quota.default:,.0f} {quota.unit}"


def _quota_line(quota: h.Quota) -> str:
    mark = "binds" if quota.binds else "quota"
    raise_with = quota.code or "AWS Support"
    return f"    {mark}: {quota.name}, default {quota.default:,.0f} {quota.unit}; raise: {raise_with}"


ROW = "{:<34} {:>9} {:>7}  {:<36} {:>12} {:>9}"


def _header(plan: Plan) -> list[str]:
    r = plan.request
    size = plan.sizes
    per_reading = f"{size.item_bytes} B item (write units: {size.write_units}), {size.record_bytes} B change record"
    return [
        f"nrt plan: {r.rps:,.0f} readings/s in batches of {r.batch} ({r.rps / r.batch:,.0f} requests/s), tier {r.tier}"
        + (f" {plan.memory_mb} MB" if plan.memory_mb else "")
        + f", {r.region}, {r.features} features a reading",
        f"per reading: {per_reading}; {plan.facts.writes_per_reading} DynamoDB write"
        f" ({plan.facts.writes_per_reading_with_event_id} with its own event_id); batch limit {plan.facts.batch_limit}",
        "",
        ROW.format("hop", "in flight", "ms", "tightest quota: needed / default", "$/month", "idle"),
    ]


def _hop_lines(hop: h.Hop) -> list[str]:
    line = ROW.format(
        hop.name[:34],
        _count(hop.concurrency),
        _count(hop.latency_ms),
        _quota_cell(hop.quota)[:36],
        _money(hop.monthly_usd),
        _money(hop.idle_usd),
    )
    return [line, f"    {hop.throughput}", *(_quota_line(q) for q in hop.quotas)]


def _break_even_line(b: BreakEven) -> str:
    per_million = f"${b.serverless_usd_per_call * 1e6:,.2f} per million calls"
    if b.readings_per_s is None or b.calls_per_s is None:
        return (
            f"break-even: serverless {b.memory_mb} MB stays cheaper than {b.instance_type} at any rate ({per_million})"
        )
    return (
        f"break-even: above {b.readings_per_s:,.1f} readings/s ({b.calls_per_s:,.2f} model calls/s), "
        f"one {b.instance_type}\n"
        f"  ({_money(b.instance_usd_month)}/month, ~{b.instance_calls_per_s:,.0f} calls/s) is cheaper than serverless "
        f"{b.memory_mb} MB ({per_million})"
    )


def _binding_lines(plan: Plan) -> list[str]:
    binding = [
        f"  {hop.name}: {sum(q.binds for q in hop.quotas)}" for hop in plan.hops if hop.quota and hop.quota.binds
    ]
    header = "quotas that bind (the binds: lines above; raise them before the spike):"
    return [f"{header} none"] if not binding else [header, *binding]


def _footer(plan: Plan) -> list[str]:
    per_million = plan.usd_per_million
    used = dict.fromkeys(price.label for hop in plan.hops for price in hop.prices)
    return [
        ROW.format("total", "", "", "", _money(plan.monthly_usd), _money(plan.idle_usd)),
        "",
        f"per million readings: {'-' if per_million is None else _money(per_million)}",
        _break_even_line(plan.break_even),
        *_binding_lines(plan),
        f"prices ({plan.request.region} list prices, checked {CHECKED}; * = not re-read from the source):",
        *(f"  {label}" for label in used),
        "latencies (ms; sources in nrt/ops/plan/latency.py):",
        *(f"  {lat.ms:g} {lat.what}" for lat in LATENCIES.values()),
    ]


def render(plan: Plan) -> str:
    """The plan as a table for a terminal."""
    lines = _header(plan)
    for hop in plan.hops:
        lines += _hop_lines(hop)
    return "\n".join(lines + _footer(plan))


def to_json(plan: Plan) -> dict[str, Any]:
    """The plan as plain data."""
    return {
        "request": asdict(plan.request),
        "memory_mb": plan.memory_mb,
        "per_reading": asdict(plan.sizes),
        "facts": {k: v for k, v in asdict(plan.facts).items() if k != "access_log_format"},
        "hops": [asdict(hop) | {"binds": bool(hop.quota and hop.quota.binds)} for hop in plan.hops],
        "monthly_usd": plan.monthly_usd,
        "idle_usd": plan.idle_usd,
        "usd_per_million": plan.usd_per_million,
        "break_even": asdict(plan.break_even),
        "latencies": {k: asdict(v) for k, v in LATENCIES.items()},
    }
