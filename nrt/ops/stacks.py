"""The one seam between "the local stack" and "a deployed stack": clients, names, URLs and the
stack's outputs, resolved once, with one error path. The commands that work on either take a
`Stack` and never ask which one it is."""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nrt.children import process_alive
from nrt.clients import TypedClients
from nrt.ops.target import image_uri, local_target
from nrt.statedir import API_URL, AWS_PORT, StackRecord, StateDir, aws_url, read_stack_record
from nrt.template import LocalContext, load_template

if TYPE_CHECKING:
    from botocore.client import BaseClient

# The outputs a command may ask for, as template.yaml names them.
OUTPUTS = (
    "ApiUrl",
    "FailuresTableName",
    "CacheTableName",
    "RetrainStateMachineArn",
    "ModelArtifactsBucketName",
    "SageMakerExecutionRoleArn",
    "EndpointPrefix",
    "SklearnImageUri",
)


class StackError(RuntimeError):
    """The stack cannot be reached or lacks what a command needs; the message says which."""


@dataclass(frozen=True)
class Stack(TypedClients):
    name: str
    region: str
    outputs: dict[str, str]
    clients: Callable[[str], BaseClient]  # a boto3 client for a service name, this stack's
    local: bool

    def make_client(self, service: str) -> BaseClient:
        """The service's client for this stack (`client()` types it)."""
        return self.clients(service)

    def output(self, key: str) -> str:
        if key not in self.outputs:
            where = "the local stack" if self.local else f"stack {self.name!r}"
            raise StackError(f"{where} has no output {key}; deploy this template first")
        return self.outputs[key]

    @property
    def api_url(self) -> str:
        return self.output("ApiUrl")


def answers(url: str, timeout: float = 1.0) -> bool:
    """Something accepts connections at the URL's host and port."""
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=timeout):
            return True
    except OSError:
        return False


def local_prefix() -> str:
    """The endpoint prefix of the stack `nrt up` runs (the template's default)."""
    return LocalContext().parameter_values(load_template())["EndpointPrefix"]


def local(
    state_dir: Path,
    aws_port: int | None = None,
    api_url: str | None = None,
    probe: Literal["aws", "api"] = "aws",
) -> Stack:
    """The stack `nrt up --state-dir STATE_DIR` runs: the template's names, as it provisions them,
    at the addresses it recorded (<state-dir>/stack.json), else the default ones; an explicit
    --aws-port or --url wins. StackError, naming the state dir and the address tried, when
    nothing answers at the address the command uses (`probe`)."""
    state = StateDir(state_dir)
    record = read_stack_record(state)
    aws, api = _addresses(record, aws_port, api_url)
    tried = aws if probe == "aws" else api
    recorded = record is not None and tried in (record.aws_url, record.api_url)
    if record is not None and recorded and not process_alive(record.pid):
        raise StackError(
            f"`nrt up` is not running for state dir {state_dir}: {state.stack} names pid {record.pid}, which "
            f"has ended (killed?), and {tried} with it; start it again with `nrt up --state-dir {state_dir}`"
        )
    if not answers(tried):
        raise StackError(_nothing_answers(state, tried, recorded, probe))
    return _local_stack(aws, api)


def _addresses(record: StackRecord | None, aws_port: int | None, api_url: str | None) -> tuple[str, str]:
    """The embedded AWS's and the API's URLs: the flags', else the recorded ones, else the defaults."""
    recorded_aws, recorded_api = (record.aws_url, record.api_url) if record else (aws_url(AWS_PORT), API_URL)
    return aws_url(aws_port) if aws_port is not None else recorded_aws, api_url or recorded_api


def _nothing_answers(state: StateDir, tried: str, recorded: bool, probe: Literal["aws", "api"]) -> str:
    why = f"as {state.stack} records" if recorded else f"{state.stack} records no running stack"
    return (
        f"nothing answers at {tried} ({why}): is `nrt up --state-dir {state.root}` running? "
        f"A stack elsewhere: --state-dir of that stack, or {'--aws-port' if probe == 'aws' else '--url'}"
    )


def _local_stack(aws: str, api: str) -> Stack:
    from nrt.emulator.server import RETRAIN_STATE_MACHINE, local_client, local_name

    ctx = LocalContext()
    prefix = ctx.parameter_values(load_template())["EndpointPrefix"]
    target = local_target(ctx, prefix)
    retrain = f"arn:aws:states:{ctx.region}:{ctx.account}:stateMachine:{local_name(RETRAIN_STATE_MACHINE, ctx)}"
    outputs = {
        "ApiUrl": api,
        "FailuresTableName": local_name("FailuresTable", ctx),
        "CacheTableName": local_name("CacheTable", ctx),
        "RetrainStateMachineArn": retrain,
        "ModelArtifactsBucketName": target.bucket,
        "SageMakerExecutionRoleArn": target.role_arn,
        "EndpointPrefix": prefix,
        "SklearnImageUri": image_uri(ctx.region),
    }
    return Stack(ctx.stack_name, ctx.region, outputs, lambda service: local_client(service, aws, ctx.region), True)


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
