"""The local stack's own model: `failure`, trained on first use and deployed as the endpoint
<prefix>failure, as every deployment is, so `nrt up` answers a reading from its first second."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from nrt.emulator.server import EmbeddedAws
from nrt.statedir import StateDir
from training.inference import ARTIFACT

DEFAULT_MODEL = "failure"


LOCAL_MODEL_IMAGE = "local/nrt-sklearn-serving:latest"


def model_dir(state_dir: Path, name: str) -> Path:
    return StateDir(state_dir).model(name)


def ensure_default_model(state_dir: Path, log: Callable[[str], None] = print) -> Path:
    """Train the demo's `failure` model on first use."""
    directory = model_dir(state_dir, DEFAULT_MODEL)
    if not (directory / ARTIFACT).exists():
        log(f"training the default model '{DEFAULT_MODEL}' (first use) ...")
        from training.train import train  # scikit-learn: a second to import, only to train

        evaluation = train(directory)
        log(f"  trained: {evaluation.summary()} on {evaluation.test_rows} held-out readings")
    return directory


def deploy_local_endpoint(aws: EmbeddedAws, name: str, directory: Path) -> str:
    """Endpoint `<prefix><name>` in the embedded AWS serving the model folder as it is (no
    archive, no upload: the local stack's own default model, and the tests' model hosts), made
    as every deployment is (nrt.ops.deploy.publish). An endpoint already there is left alone."""
    from nrt.ops.deploy import Serverless, endpoint_exists, publish
    from nrt.ops.target import local_target

    sm = aws.client("sagemaker")
    endpoint = f"{aws.prefix}{name}"
    if endpoint_exists(sm, endpoint):
        return endpoint
    target = local_target(aws.ctx, aws.prefix)
    url = directory.resolve().as_uri()
    tags = _tags_of(name, directory)
    _record_signature(aws, target.bucket, endpoint, directory)
    publish(sm, endpoint, endpoint, url, target, Serverless(), LOCAL_MODEL_IMAGE, tags, log=_quiet, wait=False)
    return endpoint


def _record_signature(aws: EmbeddedAws, bucket: str, endpoint: str, directory: Path) -> None:
    """What POST /outcomes checks an outcome against, as nrt deploy-model records it (none without a signature)."""
    from nrt.ops.deploy import record_signature
    from training.inference import SIGNATURE, Signature

    if (directory / SIGNATURE).is_file():
        signature = Signature.from_dict(json.loads((directory / SIGNATURE).read_text()))
        record_signature(aws.client("s3"), bucket, endpoint, signature)


def _quiet(line: str) -> None:
    """The local stack's own deployments say nothing: `nrt up` reports the model hosts."""


def _tags_of(name: str, directory: Path) -> list[dict[str, str]]:
    """What nrt deploy-model tags an endpoint with, for a model on this machine (none without one)."""
    from nrt.ops.deploy import held_out_metric, model_tags, quality_tags
    from training.inference import SIGNATURE, Signature

    if not (directory / SIGNATURE).is_file():
        return []
    signature = Signature.from_dict(json.loads((directory / SIGNATURE).read_text()))
    return model_tags(name, signature, held_out_metric(directory)) + quality_tags(signature, directory)
