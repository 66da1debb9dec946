"""Where a model is deployed: a stack's artifacts bucket, SageMaker role, region and endpoint
prefix (`Target`), and the scikit-learn serving image it runs in. Both the seam (`stacks`) and
the command (`deploy`) stand on this module; it imports neither."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nrt.template import LocalContext, load_template, resolve, resources
from training.check import SERVING_SKLEARN

# The scikit-learn serving container that matches the scikit-learn the project trains with.
FRAMEWORK_VERSION = f"{SERVING_SKLEARN}-0"

# Families whose processor is not the x86 CPU the scikit-learn serving image is built for:
# GPUs (p3, g5, ...), Inferentia and Trainium, and Graviton (c7g, m6gd, ...; AWS's image for
# those is an older scikit-learn, which cannot load what this project trains).
NOT_X86_CPU = re.compile(r"^(p\d|g\d|inf|trn|[a-z]+\d+g)")


class DeployError(Exception):
    """The deployment cannot go ahead, or SageMaker reported it failed; the message says why."""


@dataclass(frozen=True)
class Target:
    """Where models go: the artifacts bucket, the role SageMaker assumes, region and prefix."""

    bucket: str
    role_arn: str
    region: str
    prefix: str


def local_target(ctx: LocalContext, prefix: str) -> Target:
    """The embedded AWS's bucket and role, as `nrt up` provisions them."""
    from nrt.emulator.server import local_model_bucket, local_sagemaker_role  # moto: only for the local stack

    return Target(bucket=local_model_bucket(ctx), role_arn=local_sagemaker_role(ctx), region=ctx.region, prefix=prefix)


def image_uri(region: str, instance_type: str | None = None, configured: str | None = None) -> str:
    """The scikit-learn serving image: the one a stack was deployed with (its SklearnImageUri
    output, `configured`), else the region's, as the template spells it for the retraining
    workflow (its SklearnImageAccounts mapping: the sagemaker SDK's registry). Reading the
    template takes milliseconds; importing the SDK for it took seconds."""
    family = (instance_type or "ml.m5.large").removeprefix("ml.").split(".")[0]
    if NOT_X86_CPU.match(family):
        raise DeployError(
            f"the scikit-learn {SERVING_SKLEARN} serving image runs on x86 CPU instances, not {instance_type}"
            " (GPU, Inferentia, Trainium and Graviton instances are not served by it)"
        )
    if configured:
        return configured
    accounts = load_template()["Mappings"]["SklearnImageAccounts"]
    if region not in accounts:
        raise DeployError(f"no scikit-learn serving image in {region!r}; regions: {', '.join(sorted(accounts))}")
    image = resources()["RetrainStateMachine"]["Properties"]["DefinitionSubstitutions"]["SklearnImageUri"]
    uri: str = resolve(image, LocalContext(region=region))
    return uri
