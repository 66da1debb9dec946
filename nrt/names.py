"""The one rule for a model's name: `<prefix><name>` must be a SageMaker endpoint name that
`nrt deploy-model` can version. Every command that takes a model name, the state directory
and the API's request schema (template.yaml, components/schemas/ModelName) apply it, before
anything is read, written or deleted."""

from __future__ import annotations

import re

# SageMaker's EndpointName (and EndpointConfigName, ModelName) pattern, in full.
ENDPOINT_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
ENDPOINT_MAX = 63
# deploy names each version <endpoint>-YYYYmmdd-HHMMSS (its model and endpoint config), and
# those names have SageMaker's limit too.
VERSION_SUFFIX = len("-YYYYmmdd-HHMMSS")
DEPLOYABLE_MAX = ENDPOINT_MAX - VERSION_SUFFIX

_ENDPOINT = re.compile(ENDPOINT_PATTERN)
RULE = (
    "letters, digits and hyphens only, starting and ending with a letter or digit (a SageMaker "
    "endpoint name: no '_', '.', '/' or spaces)"
)


class NameRuleError(ValueError):
    """A model name no endpoint this project deploys can have; the message states the rule."""


def check_model_name(name: str, prefix: str) -> str:
    """The name, if `<prefix><name>` is an endpoint name deploy can version; else NameRuleError."""
    if not _ENDPOINT.fullmatch(name):
        raise NameRuleError(f"model name {name!r} is not usable: {RULE}")
    if len(prefix) + len(name) > DEPLOYABLE_MAX:
        raise NameRuleError(
            f"model name {name!r} is not usable: at most {DEPLOYABLE_MAX - len(prefix)} characters, so that "
            f"the endpoint {prefix}NAME and its versions ({prefix}NAME-YYYYmmdd-HHMMSS) fit SageMaker's "
            f"{ENDPOINT_MAX}"
        )
    return name
