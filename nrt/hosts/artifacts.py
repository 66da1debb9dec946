"""What a model host serves: the model directory behind an endpoint's ModelDataUrl."""

from __future__ import annotations

import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from nrt.emulator.server import EmbeddedAws
from training.inference import ARTIFACT
from training.package import unpack


def model_source(sm: Any, endpoint: str) -> tuple[str, str]:
    """(model version, ModelDataUrl) that the endpoint's current config serves."""
    config_name = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    variant = sm.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"][0]
    model = sm.describe_model(ModelName=variant["ModelName"])
    return str(variant["ModelName"]), str(model["PrimaryContainer"]["ModelDataUrl"])


def materialise(aws: EmbeddedAws, url: str, target: Path) -> Path | None:
    """The model directory behind a ModelDataUrl: a local folder, or model.tar.gz in the
    embedded S3 unpacked into target (as SageMaker unpacks it into /opt/ml/model)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        directory = Path(urllib.parse.unquote(parsed.path))
        return directory if (directory / ARTIFACT).exists() else None
    if parsed.scheme != "s3":
        return None
    if (target / ARTIFACT).exists():
        return target
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "model.tar.gz"
        aws.client("s3").download_file(parsed.netloc, parsed.path.lstrip("/"), str(archive))
        return unpack(archive, target)
