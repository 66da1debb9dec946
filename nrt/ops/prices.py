"""AWS list prices the capacity plan uses: us-east-1, on-demand, USD, each with its source and
the date it was checked.

`source` is the AWS pricing page that sets the price. `seen_in` says where the figure itself was
read on `checked` (a copy of the AWS page, or a dated page that quotes it): the AWS pages render
their tables client-side, so no copy of most could be read here. A price with no `seen_in` is the
list price as last known to this project, not re-read: the plan prints it with a `*`. Free tiers
are not counted. Prices change: check the sources before a decision.

Only us-east-1 is here. AWS publishes per-region prices on each service's pricing page, but no
copy of the other regions' tables could be read for this project, so `prices_for` refuses any
other region rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRICED_REGIONS", "Price", "Prices", "Tier", "UnpricedRegion", "prices_for"]

CHECKED = "2026-12-05"

APIGW = "https://aws.amazon.com/api-gateway/pricing/"
SFN = "https://aws.amazon.com/step-functions/pricing/"
SAGEMAKER = "https://aws.amazon.com/sagemaker/pricing/"
LAMBDA = "https://aws.amazon.com/lambda/pricing/"
DYNAMODB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
KINESIS = "https://aws.amazon.com/kinesis/data-streams/pricing/"
FIREHOSE = "https://aws.amazon.com/firehose/pricing/"
S3 = "https://aws.amazon.com/s3/pricing/"
CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
XRAY = "https://aws.amazon.com/xray/pricing/"
ATHENA = "https://aws.amazon.com/athena/pricing/"

# Where a figure was read (seen_in).
SFN_COPY = "https://mdsite.deno.dev/https://aws.amazon.com/step-functions/pricing (a copy of the AWS page)"
SAGEMAKER_QUOTE = "https://www.wring.co/blog/aws-sagemaker-inference-guide (a third-party price list)"
INSTANCE_QUOTE = "https://randeepbhatia.com/courses/aws-serverless-ml/sagemaker-serverless (ml.m5.large $0.115/h)"
CLOUDWATCH_QUOTE = "https://www.factualminds.com/blog/amazon-cloudwatch-pricing-metrics-logs-alarms-dashboards/"
LAMBDA_QUOTE = "https://cloudchipr.com/blog/aws-lambda-pricing (2024)"
DYNAMODB_QUOTE = "https://airbyte.com/data-engineering-resources/dynamodb-pricing (2025-07-21)"
EARLIER = "docs/aws.md's cost section (read from the AWS page by an earlier change)"


@dataclass(frozen=True)
class Tier:
    """A price that applies to the units of a month up to `up_to` (None: all the rest)."""

    up_to: float | None
    usd: float


@dataclass(frozen=True)
class Price:
    """One list price: USD per `unit`, or tiered per month by volume."""

    usd: float
    unit: str
    source: str
    seen_in: str = ""
    tiers: tuple[Tier, ...] = ()
    checked: str = CHECKED

    @property
    def confirmed(self) -> bool:
        return bool(self.seen_in)

    def monthly(self, units: float) -> float:
        """The month's charge for `units` units, tier by tier when the price is tiered."""
        if not self.tiers:
            return units * self.usd
        total, below = 0.0, 0.0
        for tier in self.tiers:
            top = units if tier.up_to is None else min(units, tier.up_to)
            if top > below:
                total += (top - below) * tier.usd
            below = tier.up_to if tier.up_to is not None else units
            if below >= units:
                break
        return total

    @property
    def label(self) -> str:
        price = f"${self.usd * 1e6:g} per million x" if self.usd < 0.001 else f"${self.usd:g} per"
        return f"{price} {self.unit}" + ("" if self.confirmed else " *")


@dataclass(frozen=True)
class Prices:
    """The price table of one region."""

    region: str
    # API Gateway REST API requests, tiered per month (first 333 M, next 667 M, next 19 B, over).
    rest_api_request: Price
    # Step Functions Express: per request, and per GB-second of duration (100 ms rounding, 64 MB
    # chunks), tiered per month in GB-hours: 1,000 at $0.06, 4,000 at $0.03, the rest $0.01642.
    express_request: Price
    express_gb_hour: Price
    # SageMaker Serverless Inference: per GB-second of inference (memory x duration) and per GB in
    # and out; provisioned concurrency per GB-second provisioned, and its inference per GB-second.
    serverless_gb_second: Price
    serverless_data_gb: Price
    provisioned_gb_second: Price
    provisioned_inference_gb_second: Price
    # Real-time inference instances, per hour.
    instance_hour: dict[str, Price]
    # Lambda (arm64, as the template's Globals): per request and per GB-second.
    lambda_request: Price
    lambda_gb_second: Price
    # DynamoDB on-demand: per write request unit (1 KB), per read request unit (4 KB).
    dynamodb_write_unit: Price
    dynamodb_read_unit: Price
    # Kinesis Data Streams for DynamoDB: per change data capture unit (1 KB written).
    dynamodb_cdc_unit: Price
    # Kinesis Data Streams on-demand: per stream-hour, per GB written (1 KB rounding), per GB read.
    kinesis_stream_hour: Price
    kinesis_gb_in: Price
    kinesis_gb_out: Price
    # Firehose: ingestion per GB in 5 KB increments, format conversion per GB (same increments).
    firehose_gb: Price
    firehose_conversion_gb: Price
    # S3 Standard: PUT per request, storage per GB-month.
    s3_put: Price
    s3_gb_month: Price
    # CloudWatch: logs ingested per GB, alarms per alarm-month, dashboards per dashboard-month.
    logs_gb: Price
    alarm_month: Price
    dashboard_month: Price
    # X-Ray: per trace recorded.
    xray_trace: Price
    # Athena: per TB scanned (per query, not per reading).
    athena_tb: Price


US_EAST_1 = Prices(
    region="us-east-1",
    # The first tier was seen in https://awsforengineers.com/blog/aws-api-gateway-pricing-explained
    # (2025-05-19); the lower tiers were not: the price stays starred.
    rest_api_request=Price(
        3.50e-6,
        "REST API request (first 333 M a month)",
        APIGW,
        tiers=(Tier(333e6, 3.50e-6), Tier(1e9, 2.80e-6), Tier(20e9, 2.38e-6), Tier(None, 1.51e-6)),
    ),
    express_request=Price(
        1.00e-6,
        "Express request",
        SFN,
        seen_in=SFN_COPY,
    ),
    express_gb_hour=Price(
        0.06,
        "Express GB-hour (first 1,000 a month)",
        SFN,
        tiers=(Tier(1_000, 0.06), Tier(5_000, 0.03), Tier(None, 0.01642)),
        seen_in=SFN_COPY,
    ),
    serverless_gb_second=Price(
        0.0000200,
        "serverless inference GB-second",
        SAGEMAKER,
        seen_in=SAGEMAKER_QUOTE,
    ),
    serverless_data_gb=Price(0.016, "GB in or out of a serverless endpoint", SAGEMAKER),
    provisioned_gb_second=Price(0.0000048, "provisioned concurrency GB-second", SAGEMAKER),
    # No copy of the provisioned-concurrency inference rate could be read: the on-demand rate is
    # used, an upper bound (AWS prices inference on provisioned capacity below on-demand).
    provisioned_inference_gb_second=Price(0.0000200, "inference GB-second on provisioned concurrency", SAGEMAKER),
    instance_hour={
        "ml.m5.large": Price(0.115, "ml.m5.large hour (real-time inference)", SAGEMAKER, seen_in=INSTANCE_QUOTE),
        "ml.c5.large": Price(0.102, "ml.c5.large hour (real-time inference)", SAGEMAKER),
        "ml.c5.xlarge": Price(0.204, "ml.c5.xlarge hour (real-time inference)", SAGEMAKER),
    },
    lambda_request=Price(0.20e-6, "Lambda request", LAMBDA, seen_in=LAMBDA_QUOTE),
    lambda_gb_second=Price(0.0000133334, "Lambda arm64 GB-second", LAMBDA, seen_in=LAMBDA_QUOTE),
    dynamodb_write_unit=Price(
        0.625e-6,
        "write request unit",
        DYNAMODB,
        seen_in=DYNAMODB_QUOTE,
    ),
    dynamodb_read_unit=Price(
        0.125e-6,
        "read request unit",
        DYNAMODB,
        seen_in=DYNAMODB_QUOTE,
    ),
    dynamodb_cdc_unit=Price(0.10e-6, "change data capture unit", DYNAMODB),
    kinesis_stream_hour=Price(
        0.04,
        "on-demand stream-hour",
        KINESIS,
        seen_in=EARLIER,
    ),
    kinesis_gb_in=Price(
        0.08,
        "GB written (1 KB per record at least)",
        KINESIS,
        seen_in=EARLIER,
    ),
    kinesis_gb_out=Price(0.04, "GB read", KINESIS, seen_in=EARLIER),
    firehose_gb=Price(
        0.029,
        "GB ingested (5 KB per record at least)",
        FIREHOSE,
        seen_in=EARLIER,
    ),
    firehose_conversion_gb=Price(
        0.018,
        "GB converted to Parquet (5 KB per record at least)",
        FIREHOSE,
        seen_in=EARLIER,
    ),
    s3_put=Price(0.005e-3, "S3 PUT", S3),
    s3_gb_month=Price(0.023, "S3 Standard GB-month", S3),
    logs_gb=Price(
        0.50,
        "CloudWatch Logs GB ingested",
        CLOUDWATCH,
        seen_in=CLOUDWATCH_QUOTE,
    ),
    alarm_month=Price(0.10, "standard alarm-month", CLOUDWATCH),
    dashboard_month=Price(
        3.00,
        "dashboard-month",
        CLOUDWATCH,
        seen_in=CLOUDWATCH_QUOTE,
    ),
    xray_trace=Price(5.00e-6, "X-Ray trace recorded", XRAY),
    athena_tb=Price(5.00, "TB scanned", ATHENA),
)

_TABLES = {US_EAST_1.region: US_EAST_1}
PRICED_REGIONS = tuple(_TABLES)


class UnpricedRegion(ValueError):
    """No price table for this region."""


def prices_for(region: str) -> Prices:
    """The price table of `region`; UnpricedRegion for any region without a sourced table."""
    try:
        return _TABLES[region]
    except KeyError:
        raise UnpricedRegion(
            f"no price table for {region}: only {', '.join(PRICED_REGIONS)} is sourced "
            f"(see nrt/ops/prices.py); plan in us-east-1 and check {region}'s pricing pages"
        ) from None
