"""The one seam between "the local stack" and "a deployed stack": clients, names, URLs and the
stack's outputs, resolved once, with one error path. The commands that work on either take a
`Stack` and never ask which one it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nrt.local import API_URL, AWS_PORT, aws_url

# The outputs a command may ask for, as template.yaml names them.
OUTPUTS = (
    "ApiUrl",
    "FailuresTableName",
    "RetrainStateMachineArn",
    "ModelArtifactsBucketName",
    "SageMakerExecutionRoleArn",
    "EndpointPrefix",
    "SklearnImageUri",
)


class StackError(RuntimeError):
    """The stack cannot be reached or lacks what a command needs; the message says which."""


@dataclass(frozen=True)
class Stack:
    name: str
    region: str
    outputs: dict[str, str]
    client: Callable[[str], Any]
    local: bool

    def output(self, key: str) -> str:
        if key not in self.outputs:
            where = "the local stack" if self.local else f"stack {self.name!r}"
            raise StackError(f"{where} has no output {key}; deploy this template first")
        return self.outputs[key]

    @property
    def api_url(self) -> str:
        return self.output("ApiUrl")


def local(aws_port: int = AWS_PORT, api_url: str = API_URL) -> Stack:
    """The stack `nrt up` runs: the template's names, as it provisions them."""
    from nrt.deploy import image_uri, local_target
    from nrt.embedded import RETRAIN_STATE_MACHINE, local_client, local_name
    from nrt.template import LocalContext, load_template

    ctx = LocalContext()
    prefix = ctx.parameter_values(load_template())["EndpointPrefix"]
    target = local_target(ctx, prefix)
    retrain = f"arn:aws:states:{ctx.region}:{ctx.account}:stateMachine:{local_name(RETRAIN_STATE_MACHINE, ctx)}"
    outputs = {
        "ApiUrl": api_url,
        "FailuresTableName": local_name("FailuresTable", ctx),
        "RetrainStateMachineArn": retrain,
        "ModelArtifactsBucketName": target.bucket,
        "SageMakerExecutionRoleArn": target.role_arn,
        "EndpointPrefix": prefix,
        "SklearnImageUri": image_uri(ctx.region),
    }
    url = aws_url(aws_port)
    return Stack(ctx.stack_name, ctx.region, outputs, lambda service: local_client(service, url, ctx.region), True)


def deployed(name: str, region: str | None) -> Stack:
    """A stack deployed with `sam deploy`: its outputs, read once."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session(region_name=region)
    if not session.region_name:
        raise StackError("no AWS region: pass --region or set AWS_REGION")
    try:
        described = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    except (ClientError, BotoCoreError) as error:
        raise StackError(f"cannot read stack {name!r}: {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    clients: Any = session.client  # one typed overload per service; here the name is data
    return Stack(name, session.region_name, outputs, clients, False)
