"""The plan's arithmetic, hop by hop: the rate each hop sees, the concurrency it needs (Little's
law: in flight = arrivals per second x seconds each stays), the quota that binds, and the month's
cost at that rate and idle. Pure functions of the request, the template's facts and the prices.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from nrt.ops.deploy import Serverless
from nrt.ops.plan.facts import Facts
from nrt.ops.plan.latency import LATENCIES
from nrt.ops.plan.records import Sizes
from nrt.ops.prices import Price, Prices

__all__ = ["HOURS_PER_MONTH", "SECONDS_PER_MONTH", "Ctx", "Hop", "Quota", "hops", "little"]

HOURS_PER_MONTH = 730  # AWS's pricing pages' month
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
GB = 1024**3
QUOTAS_LISTING = (
    "Service Quotas defaults as ListAWSDefaultServiceQuotas lists them "
    "(gruntwork-io/terraform-aws-utilities docs/quotas.md, 2024-02)"
)
EXPRESS_BASE_MB = 50  # Step Functions pricing: memory = 50 MB + definition + data x Map steps
EXPRESS_CHUNK_MB = 64
INSTANCE_UTILISATION = 0.7  # target CPU utilisation of an instance endpoint (assumption)
VCPUS = {"ml.m5.large": 2, "ml.c5.large": 2, "ml.c5.xlarge": 4}
# nrt deploy-model's default MaxConcurrency for a serverless endpoint.
DEPLOY_MAX_CONCURRENCY = Serverless().max_concurrency
SERVERLESS_CONFIG = (
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html"
)
KINESIS_ON_DEMAND = "https://docs.aws.amazon.com/streams/latest/dev/how-do-i-size-a-stream.html"
XRAY_RESERVOIR = 1.0  # default sampling rule: the first request each second ...
XRAY_RATE = 0.05  # ... and 5% of the rest


@dataclass(frozen=True)
class Quota:
    """A service quota: its default, the Service Quotas code to raise it, and what the plan needs."""

    name: str
    default: float
    unit: str
    code: str  # "" where the quota is not in Service Quotas (ask AWS Support, or a hard limit)
    needed: float
    source: str

    @property
    def binds(self) -> bool:
        """At or past the default: a quota at 100% throttles the next request."""
        return self.needed > 0 and self.needed >= self.default


@dataclass(frozen=True)
class Hop:
    name: str
    quotas: tuple[Quota, ...]  # every quota on the hop's path; `quota` is the tightest
    concurrency: float | None  # in flight, by Little's law
    latency_ms: float | None  # how long each stays, the figure Little's law used
    throughput: str  # what flows through, in the units the hop is sized in
    monthly_usd: float
    idle_usd: float
    prices: tuple[Price, ...]  # the prices used

    @property
    def quota(self) -> Quota | None:
        """The quota nearest to binding: the highest share of its default needed."""
        return max(self.quotas, key=lambda q: q.needed / q.default if q.default else math.inf, default=None)


@dataclass(frozen=True)
class Ctx:
    rps: float  # readings per second
    batch: int
    tier: str
    memory_mb: int
    instance_type: str
    event_ids: bool
    facts: Facts
    sizes: Sizes
    prices: Prices

    @property
    def requests(self) -> float:
        """API requests (and executions) per second: one per batch."""
        return self.rps / self.batch

    @property
    def model_calls(self) -> float:
        return self.requests * self.facts.model_calls_per_request

    @property
    def writes_per_reading(self) -> int:
        f = self.facts
        return f.writes_per_reading_with_event_id if self.event_ids else f.writes_per_reading

    def at(self, rps: float) -> Ctx:
        return Ctx(
            rps,
            self.batch,
            self.tier,
            self.memory_mb,
            self.instance_type,
            self.event_ids,
            self.facts,
            self.sizes,
            self.prices,
        )


def little(arrivals_per_s: float, seconds_each: float) -> float:
    """Little's law: the mean number in flight."""
    return arrivals_per_s * seconds_each


def _monthly(ctx: Ctx, cost: Callable[[Ctx], float]) -> tuple[float, float]:
    return cost(ctx), cost(ctx.at(0.0))


def model_ms(ctx: Ctx) -> float:
    """One model call: the serverless overhead plus the model, or the model alone elsewhere."""
    overhead = LATENCIES["serverless_overhead"].ms if ctx.tier in ("serverless", "provisioned") else 0.0
    return overhead + LATENCIES["model"].ms


def express_ms(ctx: Ctx) -> float:
    """An execution: the benchmark's workflow, the model call, and a write per Map wave past the first."""
    waves = math.ceil(ctx.batch / ctx.facts.map_concurrency)
    return LATENCIES["express_sync"].ms + model_ms(ctx) + (waves - 1) * LATENCIES["dynamodb_write"].ms


def express_billed_gb(ctx: Ctx) -> float:
    """Express's billed memory: 50 MB + definition + a Map step's payload x the Map's steps (the
    pricing page's formula and example), in 64 MB chunks. A step's payload: a reading and its answer."""
    step_mb = (ctx.sizes.request_bytes + ctx.sizes.item_bytes) / 1024**2
    used = EXPRESS_BASE_MB + ctx.facts.definition_bytes / 1024**2 + step_mb * ctx.batch
    return math.ceil(used / EXPRESS_CHUNK_MB) * EXPRESS_CHUNK_MB / 1024


def api_gateway(ctx: Ctx) -> Hop:
    p = ctx.prices.rest_api_request
    monthly, idle = _monthly(ctx, lambda c: p.monthly(c.requests * SECONDS_PER_MONTH))
    latency = LATENCIES["rest_api"].ms
    quotas: tuple[Quota, ...] = (
        Quota(
            "throttle per account and Region (burst 5,000)",
            10_000,
            "requests/s",
            "L-8A5B8E43",
            ctx.requests,
            "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html",
        ),
        Quota(
            f"usage plan per API key (burst {ctx.facts.key_burst_limit:,.0f})",
            ctx.facts.key_rate_limit,
            "requests/s",
            "parameter ThrottleRateLimit",
            ctx.requests,
            "template.yaml",
        ),
    )
    return Hop(
        "API Gateway REST API",
        quotas,
        little(ctx.requests, latency / 1000),
        latency,
        f"{ctx.requests:,.0f} requests/s",
        monthly,
        idle,
        (p,),
    )


def step_functions(ctx: Ctx) -> Hop:
    req, gbh = ctx.prices.express_request, ctx.prices.express_gb_hour
    duration = express_ms(ctx)
    billed_s = math.ceil(duration / 100) / 10

    def cost(c: Ctx) -> float:
        executions = c.requests * SECONDS_PER_MONTH
        return req.monthly(executions) + gbh.monthly(executions * billed_s * express_billed_gb(c) / 3600)

    monthly, idle = _monthly(ctx, cost)
    concurrency = little(ctx.requests, duration / 1000)
    quotas: tuple[Quota, ...] = (
        Quota(
            "synchronous Express concurrent executions",
            3_700,
            "executions",
            "L-6C9C5312",
            concurrency,
            QUOTAS_LISTING + "; 1,000 in some Regions",
        ),
    )
    return Hop(
        "Step Functions Express (sync)",
        quotas,
        concurrency,
        duration,
        f"{ctx.requests:,.0f} executions/s, {express_billed_gb(ctx) * 1024:.0f} MB x {billed_s:.1f} s billed",
        monthly,
        idle,
        (req, gbh),
    )


def _serverless_call_usd(ctx: Ctx, gb_second: float) -> float:
    seconds = math.ceil(model_ms(ctx)) / 1000  # billed per millisecond
    data_gb = ctx.batch * (ctx.sizes.request_bytes + 200) / GB  # the readings in, the answers out
    return ctx.memory_mb / 1024 * seconds * gb_second + data_gb * ctx.prices.serverless_data_gb.usd


def serverless(ctx: Ctx) -> Hop:
    p = ctx.prices
    monthly, idle = _monthly(
        ctx, lambda c: c.model_calls * SECONDS_PER_MONTH * _serverless_call_usd(c, p.serverless_gb_second.usd)
    )
    latency = model_ms(ctx)
    concurrency = little(ctx.model_calls, latency / 1000)
    quotas: tuple[Quota, ...] = (
        Quota(
            "total serverless concurrency per account",
            10,
            "invocations",
            "L-96300102",
            concurrency,
            QUOTAS_LISTING,
        ),
        Quota(
            "the endpoint's MaxConcurrency (200 at most)",
            DEPLOY_MAX_CONCURRENCY,
            "invocations",
            "nrt deploy-model --max-concurrency",
            concurrency,
            SERVERLESS_CONFIG,
        ),
    )
    return Hop(
        f"SageMaker serverless {ctx.memory_mb} MB",
        quotas,
        concurrency,
        latency,
        f"{ctx.model_calls:,.0f} calls/s",
        monthly,
        idle,
        (p.serverless_gb_second, p.serverless_data_gb),
    )


def provisioned(ctx: Ctx) -> Hop:
    p = ctx.prices
    latency = model_ms(ctx)
    concurrency = little(ctx.model_calls, latency / 1000)
    warm = max(1, math.ceil(concurrency))
    held = warm * ctx.memory_mb / 1024 * SECONDS_PER_MONTH * p.provisioned_gb_second.usd
    monthly, idle = _monthly(
        ctx,
        lambda c: (
            held + c.model_calls * SECONDS_PER_MONTH * _serverless_call_usd(c, p.provisioned_inference_gb_second.usd)
        ),
    )
    quotas: tuple[Quota, ...] = (
        Quota(
            "provisioned concurrency per endpoint (hard)",
            200,
            "invocations",
            "",
            warm,
            SERVERLESS_CONFIG,
        ),
        Quota(
            "total serverless concurrency per account",
            10,
            "invocations",
            "L-96300102",
            warm,
            QUOTAS_LISTING,
        ),
    )
    return Hop(
        f"SageMaker provisioned {warm} x {ctx.memory_mb} MB",
        quotas,
        concurrency,
        latency,
        f"{ctx.model_calls:,.0f} calls/s",
        monthly,
        idle,
        (p.provisioned_gb_second, p.provisioned_inference_gb_second),
    )


def instance_capacity(ctx: Ctx) -> float:
    """Calls per second one instance serves at the target utilisation."""
    return VCPUS[ctx.instance_type] * 1000 / LATENCIES["instance_call"].ms * INSTANCE_UTILISATION


def instances(ctx: Ctx) -> int:
    return max(1, math.ceil(ctx.model_calls / instance_capacity(ctx)))


def instance(ctx: Ctx) -> Hop:
    p = ctx.prices.instance_hour[ctx.instance_type]
    monthly, idle = _monthly(ctx, lambda c: instances(c) * p.usd * HOURS_PER_MONTH)
    latency = LATENCIES["model"].ms
    quotas: tuple[Quota, ...] = (
        Quota(
            f"{ctx.instance_type} for endpoint usage",
            0,
            "instances",
            "L-4D27DFDD"
            if ctx.instance_type == "ml.c5.large"
            else "L-614B09FD"
            if ctx.instance_type == "ml.m5.large"
            else "",
            instances(ctx),
            QUOTAS_LISTING + " (a new account's default; many accounts have more)",
        ),
    )
    return Hop(
        f"SageMaker {instances(ctx)} x {ctx.instance_type}",
        quotas,
        little(ctx.model_calls, latency / 1000),
        latency,
        f"{ctx.model_calls:,.0f} calls/s, {instance_capacity(ctx):,.0f}/s per instance",
        monthly,
        idle,
        (p,),
    )


def lambda_ms(ctx: Ctx) -> float:
    """The Lambda tier's handler: the model, then the batch's writes in waves of the Map's width."""
    waves = math.ceil(ctx.batch / ctx.facts.map_concurrency)
    return LATENCIES["model"].ms + waves * LATENCIES["dynamodb_write"].ms


def lambda_model(ctx: Ctx) -> Hop:
    p = ctx.prices
    duration = lambda_ms(ctx)
    per_call = p.lambda_request.usd + ctx.memory_mb / 1024 * math.ceil(duration) / 1000 * p.lambda_gb_second.usd
    monthly, idle = _monthly(ctx, lambda c: c.requests * SECONDS_PER_MONTH * per_call)
    concurrency = little(ctx.requests, duration / 1000)
    quotas: tuple[Quota, ...] = (
        Quota(
            "Lambda concurrent executions (a function scales by 1,000 per 10 s)",
            1_000,
            "executions",
            "L-B99A9384",
            concurrency,
            "https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html",
        ),
    )
    return Hop(
        f"Lambda model {ctx.memory_mb} MB (arm64)",
        quotas,
        concurrency,
        duration,
        f"{ctx.requests:,.0f} invocations/s",
        monthly,
        idle,
        (p.lambda_request, p.lambda_gb_second),
    )


# An eventually consistent read of an item up to 4 KB (the cache setting's GetItem) is half a unit.
READ_UNITS_EACH = 0.5


def dynamodb(ctx: Ctx) -> Hop:
    p, r = ctx.prices.dynamodb_write_unit, ctx.prices.dynamodb_read_unit
    units = ctx.rps * ctx.writes_per_reading * ctx.sizes.write_units
    reads = ctx.facts.reads_per_request * READ_UNITS_EACH

    def cost(c: Ctx) -> float:
        month = c.rps * c.writes_per_reading * c.sizes.write_units * SECONDS_PER_MONTH
        return p.monthly(month) + r.monthly(c.requests * reads * SECONDS_PER_MONTH)

    monthly, idle = _monthly(ctx, cost)
    quotas: tuple[Quota, ...] = (
        Quota(
            "warm write throughput of a new on-demand table",
            4_000,
            "write units/s",
            "parameter WarmWriteUnits",
            units,
            "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html",
        ),
        Quota(
            "table-level write throughput",
            40_000,
            "write units/s",
            "L-AB614373",
            units,
            "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode-max-throughput.html",
        ),
    )
    latency = LATENCIES["dynamodb_write"].ms
    return Hop(
        "DynamoDB on-demand",
        quotas,
        little(ctx.rps * ctx.writes_per_reading, latency / 1000),
        latency,
        f"{units:,.0f} write units/s ({ctx.writes_per_reading} x {ctx.sizes.write_units} per reading, "
        f"item {ctx.sizes.item_bytes} B), {ctx.requests * reads:,.0f} read units/s (the cache setting)",
        monthly,
        idle,
        (p, r),
    )


def shards(records_per_s: float, bytes_per_record: int) -> int:
    """Provisioned-mode shards for the write rate: 1 MB/s or 1,000 records/s each."""
    return math.ceil(max(records_per_s / 1000, records_per_s * bytes_per_record / 1024**2))


def kinesis(ctx: Ctx) -> Hop:
    p = ctx.prices
    record = ctx.sizes.record_bytes

    def cost(c: Ctx) -> float:
        gb_month = c.rps * SECONDS_PER_MONTH / GB
        return (
            p.kinesis_stream_hour.usd * HOURS_PER_MONTH
            + gb_month * (c.sizes.kinesis_billed_bytes * p.kinesis_gb_in.usd + record * p.kinesis_gb_out.usd)
            + c.rps * SECONDS_PER_MONTH * c.sizes.write_units * p.dynamodb_cdc_unit.usd
        )

    monthly, idle = _monthly(ctx, cost)
    mb_s = ctx.rps * record / 1024**2
    quotas: tuple[Quota, ...] = (
        Quota(
            "on-demand write throughput at creation (doubles with the peak)",
            4.0,
            "MB/s",
            "",
            mb_s,
            KINESIS_ON_DEMAND,
        ),
        Quota(
            "on-demand write records at creation",
            4_000,
            "records/s",
            "",
            ctx.rps,
            KINESIS_ON_DEMAND,
        ),
        Quota("on-demand write throughput per stream", 200.0, "MB/s", "", mb_s, KINESIS_ON_DEMAND),
    )
    return Hop(
        "Kinesis Data Streams on-demand",
        quotas,
        None,
        None,
        f"{ctx.rps:,.0f} records/s, {mb_s:,.2f} MB/s ({record} B each); provisioned: {shards(ctx.rps, record)} shards",
        monthly,
        idle,
        (p.kinesis_stream_hour, p.kinesis_gb_in, p.kinesis_gb_out, p.dynamodb_cdc_unit),
    )


def transform_invocations(ctx: Ctx) -> float:
    """Firehose calls the transform per buffer: its size or its interval, whichever comes first."""
    if ctx.rps == 0:
        return 0.0
    mb_s = ctx.rps * ctx.sizes.record_bytes / 1024**2
    return max(mb_s / ctx.facts.transform_buffer_mb, 1 / ctx.facts.transform_buffer_seconds)


def firehose(ctx: Ctx) -> Hop:
    p = ctx.prices
    seconds_each = LATENCIES["transform"].ms / 1000

    def cost(c: Ctx) -> float:
        billed_gb = c.rps * SECONDS_PER_MONTH * c.sizes.firehose_billed_bytes / GB
        calls = transform_invocations(c) * SECONDS_PER_MONTH
        lam = calls * (p.lambda_request.usd + c.facts.lambda_memory_mb / 1024 * seconds_each * p.lambda_gb_second.usd)
        return billed_gb * (p.firehose_gb.usd + p.firehose_conversion_gb.usd) + lam

    monthly, idle = _monthly(ctx, cost)
    return Hop(
        "Firehose to Parquet (+ transform)",
        (),
        little(transform_invocations(ctx), seconds_each),
        seconds_each * 1000,
        f"{ctx.rps:,.0f} records/s billed as {ctx.sizes.firehose_billed_bytes // 1024} KB each; "
        f"{transform_invocations(ctx):,.2f} transform calls/s",
        monthly,
        idle,
        (p.firehose_gb, p.firehose_conversion_gb),
    )


def s3(ctx: Ctx) -> Hop:
    p = ctx.prices

    def cost(c: Ctx) -> float:
        if c.rps == 0:
            return 0.0
        mb_s = c.rps * c.sizes.record_bytes / 1024**2
        objects = max(mb_s / c.facts.lake_buffer_mb, 1 / c.facts.lake_buffer_seconds) * SECONDS_PER_MONTH
        return objects * p.s3_put.usd + c.rps * SECONDS_PER_MONTH * c.sizes.item_bytes / GB * p.s3_gb_month.usd

    monthly, idle = _monthly(ctx, cost)
    gb_month = ctx.rps * SECONDS_PER_MONTH * ctx.sizes.item_bytes / GB
    return Hop(
        "S3 lake",
        (),
        None,
        None,
        f"{gb_month:,.0f} GB a month at most (Parquet is smaller)",
        monthly,
        idle,
        (p.s3_put, p.s3_gb_month),
    )


def cloudwatch(ctx: Ctx) -> Hop:
    p = ctx.prices
    fixed = ctx.facts.alarms * p.alarm_month.usd + ctx.facts.dashboards * p.dashboard_month.usd

    def cost(c: Ctx) -> float:
        return fixed + c.requests * SECONDS_PER_MONTH * c.sizes.access_log_bytes / GB * p.logs_gb.usd

    monthly, idle = _monthly(ctx, cost)
    logged = "" if not ctx.facts.express_logs_each_execution else " and each execution"
    return Hop(
        "CloudWatch (access logs, alarms)",
        (),
        None,
        None,
        f"{ctx.requests * ctx.sizes.access_log_bytes / 1024**2:,.2f} MB/s of access log{logged}; "
        f"{ctx.facts.alarms} alarms",
        monthly,
        idle,
        (p.logs_gb, p.alarm_month, p.dashboard_month),
    )


def xray_traces(requests: float) -> float:
    """Traces a second under X-Ray's default sampling rule."""
    return min(requests, XRAY_RESERVOIR) + XRAY_RATE * max(0.0, requests - XRAY_RESERVOIR)


def xray(ctx: Ctx) -> Hop:
    p = ctx.prices.xray_trace
    monthly, idle = _monthly(
        ctx, lambda c: xray_traces(c.requests) * SECONDS_PER_MONTH * p.usd if c.facts.api_tracing else 0.0
    )
    return Hop(
        "X-Ray (default sampling)",
        (),
        None,
        None,
        f"{xray_traces(ctx.requests):,.1f} traces/s",
        monthly,
        idle,
        (p,),
    )


def athena(ctx: Ctx) -> Hop:
    p = ctx.prices.athena_tb
    per_query = ctx.facts.athena_cutoff_bytes / 1024**4 * p.usd
    return Hop(
        "Athena / Glue (per query)",
        (),
        None,
        None,
        f"at most ${per_query:.4f} a query (AthenaBytesScannedCutoff)",
        0.0,
        0.0,
        (p,),
    )


MODEL_HOPS: dict[str, Callable[[Ctx], Hop]] = {
    "serverless": serverless,
    "provisioned": provisioned,
    "instance": instance,
    "lambda": lambda_model,
}


def hops(ctx: Ctx) -> list[Hop]:
    """Every hop of the path a reading takes on the chosen tier (the Lambda tier has no workflow)."""
    front = [api_gateway(ctx)] + ([] if ctx.tier == "lambda" else [step_functions(ctx)])
    return [
        *front,
        MODEL_HOPS[ctx.tier](ctx),
        dynamodb(ctx),
        kinesis(ctx),
        firehose(ctx),
        s3(ctx),
        cloudwatch(ctx),
        xray(ctx),
        athena(ctx),
    ]
