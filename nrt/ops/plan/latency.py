"""The latencies the plan's Little's law uses, each with where it comes from.

`quoted` marks a figure taken as issue 26 quotes its source: the source was found, but its
number could not be re-read here. Replace a figure with a measurement of your own stack
(CloudWatch: API Gateway `IntegrationLatency`, Step Functions `ExecutionTime`, SageMaker
`OverheadLatency` and `ModelLatency`) as soon as you have one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LATENCIES", "Latency"]


@dataclass(frozen=True)
class Latency:
    ms: float
    what: str
    source: str
    quoted: bool = False


LATENCIES = {
    "rest_api": Latency(
        30.0,
        "API Gateway REST API overhead (upper end of 10-30 ms)",
        "third-party reports quoted in issue 26; AWS publishes <10 ms p99 only for HTTP APIs",
        quoted=True,
    ),
    "express_sync": Latency(
        123.0,
        "synchronous Express workflow behind a REST API with two DynamoDB steps, p50 at the client (p99 249 ms)",
        "https://www.readysetcloud.io/blog/allen.helton/serverless-integration-speed-test/",
        quoted=True,
    ),
    "serverless_overhead": Latency(
        63.5,
        "SageMaker serverless endpoint overhead per warm call (61-63.5 ms averages)",
        "https://aws.amazon.com/blogs/machine-learning/introducing-the-amazon-sagemaker-serverless-inference-benchmarking-toolkit/",
        quoted=True,
    ),
    "model": Latency(
        2.9,
        "a scikit-learn model's handler time in Lambda",
        "https://github.com/aws-samples/aws-lambda-docker-serverless-inference",
        quoted=True,
    ),
    "dynamodb_write": Latency(
        10.0,
        "one DynamoDB write ('single-digit millisecond'), rounded up",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Introduction.html",
    ),
    # functions/firehose_transform's transform() over 602 change records of 30 features (1 MB):
    # 61.6 ms CPU, median of 7, on this project's 2-core x86_64 machine (2026-12-05); a Lambda
    # function of 256 MB has 256/1769 of a vCPU (a full one at 1,769 MB), so about 7 times that.
    "transform": Latency(
        430.0,
        "the Firehose transform over a 1 MB batch at 256 MB: 61.6 ms CPU here x 1769/256",
        "measured locally (nrt/ops/plan/latency.py); on AWS: the function's Duration metric",
    ),
    "instance_call": Latency(
        10.0,
        "CPU per call on an instance endpoint (model plus the container's HTTP and JSON), assumed",
        "assumption: not measured on AWS",
    ),
}
