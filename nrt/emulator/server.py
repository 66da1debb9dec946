"""The embedded AWS: a moto server in this process, provisioned from template.yaml."""

from __future__ import annotations

import errno
import json
import logging
import socket
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from nrt import emulator
from nrt.clients import TypedClients
from nrt.emulator.lake_resources import provision_lake
from nrt.statedir import AWS_PORT, HOST
from nrt.template import LocalContext, load_template, resolve, resources, state_machine_definition

LOCAL_ROLE = "arn:aws:iam::{account}:role/{stack}-local"
PROVISIONED_TABLES = ("PredictionsTable", "EventIdsTable", "FailuresTable", "CacheTable")
MODEL_BUCKET = "ModelArtifactsBucket"
SAGEMAKER_ROLE = "SageMakerExecutionRole"
PREPARATION_ROLE = "PreparationRole"  # the retraining workflow's processing job's role
STATE_MACHINE = "InferenceStateMachine"  # /predictions
EVENTS_STATE_MACHINE = "EventsStateMachine"  # /events: the same definition, a longer model budget
RETRAIN_STATE_MACHINE = "RetrainStateMachine"
STATE_MACHINES = (STATE_MACHINE, EVENTS_STATE_MACHINE, RETRAIN_STATE_MACHINE)
NOTIFICATIONS = "RetrainNotifications"
SFN_EXECUTION: Any = {"stepfunctions": {"execute_state_machine": True}}


def local_client(service: str, url: str, region: str) -> Any:
    """A boto3 client for the embedded AWS at url (fake credentials: moto checks none)."""
    factory: Any = boto3.client  # one typed overload per service; here the name is data
    return factory(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(inject_host_prefix=False, retries={"mode": "standard", "max_attempts": 3}),
    )


@dataclass
class EmbeddedAws(TypedClients):
    """A running moto server and the names of what was provisioned in it."""

    host: str
    port: int
    ctx: LocalContext
    server: Any = None
    in_process: Any = None
    # What the local runtime plugs into this embedded AWS (handed to the emulator at start).
    wiring: emulator.Wiring = field(default_factory=emulator.Wiring)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def make_client(self, service: str) -> Any:
        """The service's client on this embedded AWS (`client()` types it)."""
        return local_client(service, self.url, self.ctx.region)

    @property
    def state_machine_arn(self) -> str:
        return self.ctx.refs[STATE_MACHINE]

    @property
    def events_state_machine_arn(self) -> str:
        return self.ctx.refs[EVENTS_STATE_MACHINE]

    @property
    def prefix(self) -> str:
        return self.ctx.parameter_values(load_template())["EndpointPrefix"]

    def stop(self) -> None:
        emulator.unwire(self.wiring)
        if self.in_process is not None:
            self.in_process.stop(remove_data=False)
            self.in_process = None
        if self.server is not None:
            self.server.stop()
            self.server = None


def ensure_port_free(host: str, port: int) -> None:
    """Fail now, with the port's number, rather than in a server thread nobody watches."""
    if port == 0:
        return
    with socket.socket() as probe:
        # As the servers do: a port still in TIME_WAIT after a restart is free to take.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise OSError(errno.EADDRINUSE, f"port {port} on {host} is already in use") from None


def start(host: str = HOST, port: int = AWS_PORT, stack_name: str | None = None) -> EmbeddedAws:
    """Start moto with state-machine execution on and the compat fixes in place, wired to a
    Wiring of its own (aws.wiring) whose training jobs run the project's training entry point;
    the runtime plugs the rest into it."""
    from moto import mock_aws
    from moto.server import ThreadedMotoServer

    # The request log of every internal call and moto's interpreter traces are noise here:
    # failures reach the caller as answers and the failure store.
    for noisy in ("werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    ensure_port_free(host, port)
    emulator.install(port)
    from nrt.emulator.processing_jobs import run_local as run_processing
    from nrt.emulator.training_jobs import run_local

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    aws = EmbeddedAws(
        host, port, LocalContext(stack_name=stack_name or LocalContext().stack_name), server,
        wiring=emulator.Wiring(training_runner=run_local, processing_runner=run_processing),
    )  # fmt: skip
    emulator.wire(aws.wiring)
    request = urllib.request.Request(
        f"{aws.url}/moto-api/config",
        data=json.dumps(SFN_EXECUTION).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass
    # The workflow's own calls (InvokeEndpoint, PutItem, ...) stay in this process: moto's
    # interpreter dispatches to the same backends without a socket when its botocore stubber
    # is on, ~1.3 ms a call instead of ~8 ms over HTTP. The server still serves everyone else.
    aws.in_process = mock_aws(config=SFN_EXECUTION)
    aws.in_process.start(reset=False)
    return aws


def table_spec(logical_id: str, ctx: LocalContext) -> dict[str, Any]:
    """CreateTable arguments for a table declared in the template."""
    declared = resources()[logical_id]["Properties"]
    keep = ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode")
    spec: dict[str, Any] = resolve({k: declared[k] for k in keep if k in declared}, ctx)
    if "SSESpecification" in declared:
        spec["SSESpecification"] = {"Enabled": bool(declared["SSESpecification"].get("SSEEnabled"))}
    # moto has no Kinesis streaming destination and keeps tables in memory. Every provisioned
    # table gets a change stream with both images (as Kinesis Data Streams for DynamoDB
    # carries): each change is kept in the local stack's store as it happens (nrt/state/store.py),
    # which reloads the tables at the next start, and the streamed table's records are the
    # stream worker's Kinesis stream (nrt/lake/stream.py).
    spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    return spec


def streamed_tables() -> tuple[str, ...]:
    """The provisioned tables whose changes stream to the lake (KinesisStreamSpecification)."""
    return tuple(t for t in PROVISIONED_TABLES if "KinesisStreamSpecification" in resources()[t]["Properties"])


def local_model_bucket(ctx: LocalContext) -> str:
    """The template leaves the artifacts bucket's name to CloudFormation; locally it is named after the stack."""
    return f"{ctx.stack_name}-model-artifacts"


def local_sagemaker_role(ctx: LocalContext) -> str:
    return f"arn:aws:iam::{ctx.account}:role/{ctx.stack_name}-sagemaker"


def local_name(logical_id: str, ctx: LocalContext) -> str:
    """The name the template gives a table or state machine, in the local stack."""
    declared = resources()[logical_id]["Properties"]
    return str(resolve(declared.get("TableName") or declared["Name"], ctx))


def provision(aws: EmbeddedAws) -> None:
    """Create the template's tables, buckets, topic and state machines under their template
    names, and the streaming leg's resources (lake_resources: for inspection, the local lake
    does their work)."""
    ctx = aws.ctx
    ddb = aws.client("dynamodb")
    existing = set(ddb.list_tables()["TableNames"])
    for logical_id in PROVISIONED_TABLES:
        spec = table_spec(logical_id, ctx)
        ctx.refs[logical_id] = spec["TableName"]
        if spec["TableName"] not in existing:
            ddb.create_table(**spec)
    bucket = local_model_bucket(ctx)
    ctx.refs[MODEL_BUCKET] = bucket
    ctx.refs[SAGEMAKER_ROLE] = local_sagemaker_role(ctx)
    ctx.refs[PREPARATION_ROLE] = f"arn:aws:iam::{ctx.account}:role/{ctx.stack_name}-preparation"
    s3 = aws.client("s3")
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)
    topic = aws.client("sns").create_topic(Name=f"{ctx.stack_name}-retrain-notifications")["TopicArn"]
    ctx.refs[NOTIFICATIONS] = topic
    sfn = aws.client("stepfunctions")
    existing_machines = {m["name"] for m in sfn.list_state_machines()["stateMachines"]}
    for logical_id in STATE_MACHINES:
        declared = resources()[logical_id]["Properties"]
        name = local_name(logical_id, ctx)
        arn = f"arn:aws:states:{ctx.region}:{ctx.account}:stateMachine:{name}"
        ctx.refs[logical_id] = arn
        definition = state_machine_definition(logical_id, ctx)
        if name in existing_machines:
            sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        else:
            sfn.create_state_machine(
                name=name,
                definition=definition,
                roleArn=LOCAL_ROLE.format(account=ctx.account, stack=ctx.stack_name),
                type=declared["Type"],
            )
    provision_lake(aws)
