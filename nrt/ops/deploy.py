"""`nrt deploy-model NAME`: make a trained model usable as the endpoint <prefix>NAME.

Upload model.tar.gz, create a SageMaker model with the scikit-learn serving image for the
region, a serverless endpoint config (or an instance-backed one), then create the endpoint
or switch the existing one to the new config in place, and wait until it is InService. Each
deploy is a new model and config version, named <prefix>NAME-<UTC stamp>, so an update
never edits what is serving. The same code deploys to AWS or to the embedded AWS.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from botocore.exceptions import ClientError

from functions.list_models.models import (  # GET /models reads these
    FEATURE_COUNT_TAG,
    FEATURES_TAG,
    KIND_TAG,
    TIER_TAG,
    UNKNOWN_CATEGORIES_TAG,
)
from functions.predict.adapters import TIER_SECONDS, lambda_key
from nrt.names import NameRuleError, check_model_name
from nrt.ops.cache import CACHE_TAG, CacheSetting, enable, pause
from nrt.ops.stacks import Stack

# Where a model goes lives below this command and the stack seam; the `as` names are the ones
# nrt/cli.py and nrt/runtime.py still import from here.
from nrt.ops.target import DeployError, Target
from training.inference import SIGNATURE, Signature, load_signature
from training.inference import outcome_contract as labels_contract
from training.package import ENTRY_POINT, package, package_training_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.literals import ProductionVariantInstanceTypeType
    from mypy_boto3_sagemaker.type_defs import (
        ProductionVariantServerlessConfigTypeDef,
        ProductionVariantTypeDef,
        TagTypeDef,
    )

TRAINING_CODE_KEY = "code/training.tar.gz"  # the retraining job's sagemaker_submit_directory

SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
# The endpoint's tags: what GET /models shows (KIND_TAG, FEATURES_TAG), and what the retraining
# workflow reads.
METRIC_TAG = "nrt:metric"  # the model's gate metric (training/gate.py): pr_auc, roc_auc, macro_f1, accuracy, rmse, mae
METRIC_GOAL_TAG = "nrt:metric_goal"  # max (pr_auc, roc_auc, macro_f1, accuracy) or min (rmse, mae)
METRIC_VALUE_TAG = "nrt:metric_value"
# Live quality (statemachine/monitor.asl.json): the kind's headline metric (nrt/lake/quality.py:
# f1, macro_f1 or mae) and its held-out value, which the monitor publishes as TrainingQuality.
QUALITY_METRIC_TAG = "nrt:quality_metric"
QUALITY_VALUE_TAG = "nrt:quality_value"
RECIPE_TAG = "nrt:recipe"  # s3://<bucket>/data/<name>/: signature.json and the CSV files to retrain on
TAG_VALUE_MAX = 256
# What the outcomes workflow checks an outcome against (statemachine/outcomes.asl.json's
# ReadSignature): the model's kind and labels, beside its artifacts. A tag cannot hold them
# (256 characters, and SageMaker's tag values take no quotes, brackets or commas).
SIGNATURES_PREFIX = "signatures/"

Log = Callable[[str], None]
# Where POST /predictions scores a model: its SageMaker endpoint through the workflow, or the
# PredictFunction holding it in memory (the stack's LatencyTier Enabled; docs/aws.md).
Tier = Literal["endpoint", "lambda"]
TIERS: tuple[Tier, ...] = ("endpoint", "lambda")


@dataclass(frozen=True)
class Serverless:
    memory_mb: int = 2048
    max_concurrency: int = 20
    provisioned_concurrency: int = 0

    def check(self) -> None:
        if self.memory_mb not in SERVERLESS_MEMORY_MB:
            raise DeployError(f"--memory must be one of {', '.join(map(str, SERVERLESS_MEMORY_MB))} MB")
        if not 1 <= self.max_concurrency <= 200:
            raise DeployError("--max-concurrency must be 1-200")
        if not 0 <= self.provisioned_concurrency <= self.max_concurrency:
            raise DeployError("--provisioned-concurrency must be 0 to --max-concurrency")

    def variant(self, model_name: str) -> ProductionVariantTypeDef:
        config: ProductionVariantServerlessConfigTypeDef = {
            "MemorySizeInMB": self.memory_mb,
            "MaxConcurrency": self.max_concurrency,
        }
        if self.provisioned_concurrency:
            config["ProvisionedConcurrency"] = self.provisioned_concurrency
        return {"VariantName": "AllTraffic", "ModelName": model_name, "ServerlessConfig": config}


@dataclass(frozen=True)
class Instances:
    """Instance-backed: for the latency tier serverless cannot reach (no cold starts)."""

    instance_type: str
    count: int = 1

    def check(self) -> None:
        if not self.instance_type.startswith("ml."):
            raise DeployError(
                f"--instance-type must be a SageMaker instance type (ml.m5.large), not {self.instance_type!r}"
            )
        if self.count < 1:
            raise DeployError("--instance-count must be at least 1")

    def variant(self, model_name: str) -> ProductionVariantTypeDef:
        return {
            "VariantName": "AllTraffic",
            "ModelName": model_name,
            # Checked for its ml. prefix only: SageMaker says whether the type exists.
            "InstanceType": cast("ProductionVariantInstanceTypeType", self.instance_type),
            "InitialInstanceCount": self.count,
            "InitialVariantWeight": 1.0,
        }


@dataclass(frozen=True)
class Deployment:
    endpoint: str
    version: str
    model_data_url: str
    image: str
    created: bool  # False: an existing endpoint was updated in place
    status: str


def endpoint_name(prefix: str, name: str) -> str:
    try:
        return f"{prefix}{check_model_name(name, prefix)}"
    except NameRuleError as error:
        raise DeployError(str(error)) from None


def held_out_metric(model_dir: Path) -> tuple[str, str, float] | None:
    """The gate metric's name, goal (max or min) and held-out value, from nrt train's evaluation.json."""
    evaluation = model_dir / "evaluation.json"
    if not evaluation.is_file():
        return None
    report = json.loads(evaluation.read_text())
    if "metric" not in report:
        return None
    return str(report["metric"]), "max" if report["higher_is_better"] else "min", float(report["value"])


def features_tag(names: list[str]) -> str:
    """The first feature names for a tag (at most 256 characters), separated by spaces: a SageMaker
    tag value takes letters, digits, spaces and `_.:/=+-@` only (no comma), and a feature name
    has no space (the API's name rule). nrt:feature_count says how many in all."""
    text = " ".join(names)
    return text if len(text) <= TAG_VALUE_MAX else text[: TAG_VALUE_MAX + 1].rsplit(" ", 1)[0]


def check_model(model_dir: Path, from_file: Path | None = None, flags: list[str] | None = None) -> Signature:
    """Load and score the model in a process of its own, as the container will; DeployError says why not."""
    command = [sys.executable, "-m", "training.check", str(model_dir), *(flags or [])]
    if from_file is not None:
        command += ["--from-file", str(from_file)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    lines = done.stdout.strip().splitlines()
    try:
        verdict = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise DeployError(
            f"the model check crashed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}"
        ) from None
    if not verdict["ok"]:
        raise DeployError(f"{verdict['reason']}. Nothing was deployed")
    return load_signature(model_dir, None)


def endpoint_exists(sm: SageMakerClient, endpoint: str) -> bool:
    """Whether `endpoint` is there (DescribeEndpoint: one call, whatever the account holds)."""
    try:
        sm.describe_endpoint(EndpointName=endpoint)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationException":
            return False
        raise
    return True


def wait_in_service(
    sm: SageMakerClient, endpoint: str, log: Log, poll: float = 10.0, timeout: float = 1800.0, config: str | None = None
) -> str:
    """Poll until InService serving `config` (any config when None), or Failed with SageMaker's
    reason, showing progress. An update whose model could not load is rolled back by SageMaker:
    InService on the old config with a FailureReason, which is this deployment's failure."""
    started = time.monotonic()
    said = ("", 0.0)  # the status last shown, and when: a line on each change, else every 10 s
    while True:
        described = sm.describe_endpoint(EndpointName=endpoint)
        status = str(described["EndpointStatus"])
        elapsed = time.monotonic() - started
        if status != said[0] or elapsed - said[1] >= 10:
            log(f"  {endpoint}: {status} ({elapsed:.0f} s)")
            said = (status, elapsed)
        reason = described.get("FailureReason") or "no reason given"
        if status == "InService" and config not in (None, described["EndpointConfigName"]):
            raise DeployError(
                f"{endpoint} could not switch to {config}: {reason}; it still serves {described['EndpointConfigName']}"
            )
        if status == "InService":
            return status
        if status in ("Failed", "OutOfService"):
            raise DeployError(f"{endpoint} is {status}: {reason}")
        if elapsed > timeout:
            raise DeployError(f"{endpoint} is still {status} after {timeout:.0f} s")
        time.sleep(poll)


def deploy_model(
    sm: SageMakerClient,
    s3: S3Client,
    name: str,
    model_dir: Path,
    target: Target,
    capacity: Serverless | Instances,
    image: str,
    log: Log = print,
    wait: bool = True,
    poll: float = 10.0,
    tier: Tier = "endpoint",
    cache: CacheSetting | None = None,
) -> Deployment:
    """Package, upload, create model and config versions, create or update the endpoint; then
    put the archive on the Lambda tier, or take it off (set_tier)."""
    capacity.check()
    if cache is not None:
        cache.check(wait)
    endpoint = endpoint_name(target.prefix, name)
    log(f"checking {model_dir}: loading it and scoring a sample in a separate process")
    signature = check_model(model_dir)
    log(f"  {signature.kind}, {len(signature.features)} features, scikit-learn {signature.sklearn_version}")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    version = f"{endpoint}-{stamp}"
    key = f"models/{name}/{stamp}/model.tar.gz"
    with tempfile.TemporaryDirectory() as scratch:
        archive = package(model_dir, Path(scratch) / "model.tar.gz")
        log(f"uploading {archive.stat().st_size} bytes to s3://{target.bucket}/{key}")
        s3.upload_file(str(archive), target.bucket, key)
        # The training code goes along, so the retraining workflow trains what this deploys.
        code = package_training_code(Path(scratch) / "training.tar.gz")
        s3.upload_file(str(code), target.bucket, TRAINING_CODE_KEY)
        model_data_url = f"s3://{target.bucket}/{key}"
        tags = [*model_tags(name, signature, held_out_metric(model_dir)), {"Key": TIER_TAG, "Value": tier}]
        tags += quality_tags(signature, model_dir)
        if signature.recipe:
            tags.append({"Key": RECIPE_TAG, "Value": upload_recipe(s3, target.bucket, name, model_dir, signature, log)})
        upload_drift_query(s3, target.bucket, name, endpoint, model_dir, log)
        if cache is not None:
            tags.append({"Key": CACHE_TAG, "Value": str(cache.seconds)})
        record_signature(s3, target.bucket, endpoint, signature)
        deployment = publish(
            sm, endpoint, version, model_data_url, target, capacity, image, tags, log, wait, poll, cache
        )
        set_tier(s3, target.bucket, endpoint, tier, archive, log)
    return deployment


def set_tier(s3: S3Client, bucket: str, endpoint: str, tier: Tier, archive: Path | None, log: Log = print) -> None:
    """The Lambda tier holds an endpoint's model while its archive is at lambda_key(endpoint):
    put there (tier lambda) or removed (tier endpoint). The endpoint stays either way, so the
    workflow can answer for the model at once, and moving back needs no new endpoint. A warm
    PredictFunction sees the change within TIER_SECONDS."""
    key = lambda_key(endpoint)
    if tier == "lambda":
        if archive is None:
            raise DeployError("the Lambda tier needs the model's archive")
        log(f"tier lambda: s3://{bucket}/{key} (the PredictFunction holds it within {TIER_SECONDS:g} s)")
        s3.upload_file(str(archive), bucket, key)
    else:
        s3.delete_object(Bucket=bucket, Key=key)
        log(f"tier endpoint: s3://{bucket}/{key} removed (the workflow scores it within {TIER_SECONDS:g} s)")


def publish(
    sm: SageMakerClient,
    endpoint: str,
    version: str,
    model_data_url: str,
    target: Target,
    capacity: Serverless | Instances,
    image: str,
    tags: list[dict[str, str]],
    log: Log = print,
    wait: bool = True,
    poll: float = 10.0,
    cache: CacheSetting | None = None,
) -> Deployment:
    """Model and endpoint config named `version` for the artifact at model_data_url, then the
    endpoint made with it, or switched to it in place. Every deployment goes this way: nrt
    deploy-model's (an uploaded archive) and the local stack's own (a folder on this machine)."""
    sagemaker_tags = _tag_list(tags)
    log(f"creating model {version} ({image})")
    sm.create_model(
        ModelName=version,
        ExecutionRoleArn=target.role_arn,
        PrimaryContainer={
            "Image": image,
            "ModelDataUrl": model_data_url,
            "Environment": {
                "SAGEMAKER_PROGRAM": ENTRY_POINT,
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                "SAGEMAKER_REGION": target.region,
            },
        },
        Tags=sagemaker_tags,
    )
    log(f"creating endpoint config {version}")
    sm.create_endpoint_config(
        EndpointConfigName=version, ProductionVariants=[capacity.variant(version)], Tags=sagemaker_tags
    )
    created = not endpoint_exists(sm, endpoint)
    if cache is not None:
        # The old version's setting must not name the new model's answers, nor the old answers
        # be served by the new model: no caching while the endpoint switches.
        pause(cache.ddb, cache.table, endpoint)
    if created:
        log(f"creating endpoint {endpoint}")
        arn = sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=version, Tags=sagemaker_tags)["EndpointArn"]
    else:
        log(f"updating endpoint {endpoint} in place (it keeps serving the old version until the new one is ready)")
        arn = sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=version)["EndpointArn"]
        sm.add_tags(ResourceArn=arn, Tags=sagemaker_tags)
    status = (
        wait_in_service(sm, endpoint, log, poll=poll, config=version) if wait else "Creating" if created else "Updating"
    )
    if cache is not None and wait:
        enable(cache.ddb, cache.table, endpoint, version, cache.seconds)
        log(f"prediction cache: {f'{cache.seconds} s' if cache.seconds else 'off'} for {version}")
    return Deployment(endpoint, version, model_data_url, image, created, status)


def _tag_list(tags: list[dict[str, str]]) -> list[TagTypeDef]:
    """The tags as SageMaker's client types them (its callers build plain dicts of Key and Value)."""
    return [{"Key": tag["Key"], "Value": tag["Value"]} for tag in tags]


def model_tags(name: str, signature: Signature, metric: tuple[str, str, float] | None) -> list[dict[str, str]]:
    """What the endpoint says of its model: name, kind, features and held-out metric."""
    tags = [
        {"Key": "nrt:model", "Value": name},
        {"Key": KIND_TAG, "Value": signature.kind},
        {"Key": FEATURES_TAG, "Value": features_tag(signature.feature_names)},
        {"Key": FEATURE_COUNT_TAG, "Value": str(len(signature.features))},
        {"Key": UNKNOWN_CATEGORIES_TAG, "Value": signature.unknown_categories},
    ]
    if metric is not None:
        tags += [
            {"Key": METRIC_TAG, "Value": metric[0]},
            {"Key": METRIC_GOAL_TAG, "Value": metric[1]},
            {"Key": METRIC_VALUE_TAG, "Value": f"{metric[2]:g}"},
        ]
    return tags


def outcome_contract(signature: Signature) -> dict[str, Any]:
    """The model's kind and its labels as text (training/inference.py outcome_contract, which the
    retraining workflow's preparation writes for a candidate too)."""
    return labels_contract(signature.kind, signature.labels)


def signature_key(endpoint: str) -> str:
    return f"{SIGNATURES_PREFIX}{endpoint}.json"


def record_signature(s3: S3Client, bucket: str, endpoint: str, signature: Signature) -> None:
    """What POST /outcomes checks against, written before the endpoint is made or switched (an
    outcome may be sent as soon as the model answers)."""
    body = json.dumps(outcome_contract(signature), separators=(",", ":")).encode()
    s3.put_object(Bucket=bucket, Key=signature_key(endpoint), Body=body, ContentType="application/json")


def quality_tags(signature: Signature, model_dir: Path) -> list[dict[str, str]]:
    """The kind's headline metric and its held-out value (nrt train's evaluation.json), if measured."""
    from nrt.lake.quality import HEADLINE, training_metrics

    metric = HEADLINE[signature.kind]
    value = training_metrics(model_dir).get(metric)
    if value is None:
        return []
    return [{"Key": QUALITY_METRIC_TAG, "Value": metric}, {"Key": QUALITY_VALUE_TAG, "Value": f"{value:g}"}]


def serving_quality(sm: SageMakerClient, endpoint: str) -> dict[str, float]:
    """The serving model's training value as the monitor reads it (its endpoint's nrt:quality_metric
    and nrt:quality_value tags, which a promotion rewrites); {} for no endpoint or no such tag."""
    try:
        arn = sm.describe_endpoint(EndpointName=endpoint)["EndpointArn"]
        tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    except ClientError:
        return {}
    metric, value = tags.get(QUALITY_METRIC_TAG), tags.get(QUALITY_VALUE_TAG)
    if metric is None or value is None:
        return {}
    try:
        return {metric: float(value)}
    except ValueError:
        return {}


def serving_quality_of(sm: SageMakerClient, prefix: str) -> Callable[[str], dict[str, float]]:
    """serving_quality by model name (its endpoint `<prefix><name>`): nrt/lake/quality.py's Tags."""
    return lambda name: serving_quality(sm, f"{prefix}{name}")


def drift_key(endpoint: str) -> str:
    """Where the monitor (statemachine/monitor.asl.json) finds the drift query of an endpoint's model."""
    return f"monitor/{endpoint}/drift.sql"


def upload_drift_query(s3: S3Client, bucket: str, name: str, endpoint: str, model_dir: Path, log: Log) -> None:
    """The model's worst-feature PSI as one Athena query built from its training profile (none
    without a profile: the monitor then measures no drift for it)."""
    from nrt.lake.drift import trained as trained_profile
    from nrt.lake.drift import worst_sql

    found = trained_profile(model_dir)
    if found is None:
        return
    key = drift_key(endpoint)
    log(f"drift query (PSI per feature against its training profile): s3://{bucket}/{key}")
    s3.put_object(Bucket=bucket, Key=key, Body=worst_sql(name, *found, hours=24.0).encode())


def upload_recipe(s3: S3Client, bucket: str, name: str, model_dir: Path, signature: Signature, log: Log) -> str:
    """The retraining channel: the signature (its recipe), your serving code if any, and the CSV it was
    trained on; returns its URI."""
    prefix = f"data/{name}/"
    s3.upload_file(str(model_dir / SIGNATURE), bucket, prefix + SIGNATURE)
    code = model_dir / "code"
    for path in sorted(p for p in code.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        # your own serving code (--code DIR) goes along, so a retrained model is served by it too
        s3.upload_file(str(path), bucket, f"{prefix}code/{path.relative_to(code).as_posix()}")
    source = str((signature.recipe or {}).get("source", "synthetic"))
    if source != "synthetic" and Path(source).is_file():
        source_file = Path(source)
        log(f"uploading the training data {source} to s3://{bucket}/{prefix} (add fresh CSV files there to retrain)")
        s3.upload_file(source, bucket, prefix + source_file.name)
    elif source != "synthetic":
        log(f"note: the training data {source} is not on this machine; to retrain, put it in s3://{bucket}/{prefix}")
    return f"s3://{bucket}/{prefix}"


def stack_target(stack: Stack) -> Target:
    """Where a model goes on a stack, local or deployed: its bucket, SageMaker role and prefix."""
    return Target(
        bucket=stack.output("ModelArtifactsBucketName"),
        role_arn=stack.output("SageMakerExecutionRoleArn"),
        region=stack.region,
        prefix=stack.output("EndpointPrefix"),
    )
