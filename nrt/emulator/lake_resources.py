"""The streaming leg's resources in the embedded AWS, made from the template's own definitions:
the Kinesis stream, the Firehose delivery stream, the buckets they and Athena write to, the Glue
database and table, the Athena work group and its named queries.

They are there to be seen, as a deployed stack shows them (`aws kinesis list-streams`, `aws
glue get-tables`, ...); the local lake does their work (nrt/lake/: the store's change log is
the stream, the stream worker is Firehose, DuckDB is Athena). Each is made from its resolved
properties as CloudFormation makes it: its name as CloudFormation names it (nrt.template's
physical_name), each property the API takes passed on, typed as the API's input shape says.
moto keeps them in memory; every start makes them again from the template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nrt.template import load_template, name_resources, references, resolve, resources

if TYPE_CHECKING:
    from botocore.model import Shape

    from nrt.emulator.server import EmbeddedAws

BUCKET = "AWS::S3::Bucket"
NAMED_QUERY = "AWS::Athena::NamedQuery"


@dataclass
class _Session:
    """The embedded AWS's clients, one per service, and what is known to be there already."""

    make_client: Callable[[str], Any]
    clients: dict[str, Any] = field(default_factory=dict)
    queries: dict[str, set[str]] = field(default_factory=dict)  # work group -> its named queries

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = self.make_client(service)
        return self.clients[service]

    def named_queries(self, work_group: str) -> set[str]:
        """The names of the work group's named queries (their !Ref is an id)."""
        if work_group not in self.queries:
            athena = self.client("athena")
            ids = athena.list_named_queries(WorkGroup=work_group)["NamedQueryIds"]
            self.queries[work_group] = {athena.get_named_query(NamedQueryId=i)["NamedQuery"]["Name"] for i in ids}
        return self.queries[work_group]


# Makes one resource from its name and resolved properties; False if it was there already.
Maker = Callable[[_Session, str, dict[str, Any]], bool]


def lake_resources(template: dict[str, Any] | None = None) -> list[str]:
    """The logical ids made here, in an order their references allow: the buckets the others
    write to, then every resource of the streaming leg's types, type by type."""
    declared = resources(template or load_template())
    leg = [lid for kind in _MAKERS if kind != BUCKET for lid, res in declared.items() if res["Type"] == kind]
    referred: set[str] = set().union(*(references(declared[lid].get("Properties", {})) for lid in leg))
    buckets = sorted(name for name in referred if declared.get(name, {}).get("Type") == BUCKET)
    return buckets + leg


def provision_lake(aws: EmbeddedAws) -> list[str]:
    """Make each of the streaming leg's resources the embedded AWS lacks, named as CloudFormation
    names them (their !Ref in aws.ctx.refs); the logical ids made."""
    template = load_template()
    declared = resources(template)
    session = _Session(aws.make_client)
    made = []
    for logical_id in lake_resources(template):
        properties = declared[logical_id].get("Properties", {})
        name_resources({logical_id} | references(properties), aws.ctx, template)
        resolved = resolve(properties, aws.ctx, template)
        # A named query's !Ref is its id, so it is found by the name it declares.
        query = declared[logical_id]["Type"] == NAMED_QUERY
        name = str(resolved["Name"]) if query else aws.ctx.refs.get(logical_id) or str(resolved["Name"])
        if _MAKERS[declared[logical_id]["Type"]](session, name, resolved):
            made.append(logical_id)
        if query:  # its !Ref, as a workflow's DefinitionSubstitutions take it (the retraining's TrainingSetQuery)
            aws.ctx.refs[logical_id] = _named_query_id(session, str(resolved["WorkGroup"]), name)
    return made


def _named_query_id(session: _Session, work_group: str, name: str) -> str:
    athena = session.client("athena")
    for query_id in athena.list_named_queries(WorkGroup=work_group)["NamedQueryIds"]:
        if athena.get_named_query(NamedQueryId=query_id)["NamedQuery"]["Name"] == name:
            return str(query_id)
    raise KeyError(f"no named query {name!r} in work group {work_group}")


def arguments(client: Any, operation: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The properties that are the operation's parameters, typed as its input shape says
    (CloudFormation passes a parameter's "60" on as the number the API takes)."""
    shape = client.meta.service_model.operation_model(operation).input_shape
    return {k: typed(v, shape.members[k]) for k, v in properties.items() if k in shape.members and v is not None}


def typed(value: Any, shape: Shape) -> Any:
    """A resolved property value as the API shape takes it."""
    container = _CONTAINERS.get(shape.type_name)
    if container is not None and isinstance(value, container[0]):
        return container[1](value, shape)
    return _SCALARS.get(shape.type_name, _as_is)(value)


def _structure(value: Any, shape: Any) -> Any:
    members: dict[str, Shape] = shape.members
    return {k: typed(v, members[k]) if k in members else v for k, v in value.items()}


def _list(value: Any, shape: Any) -> Any:
    return [typed(v, shape.member) for v in value]


def _map(value: Any, shape: Any) -> Any:
    return {k: typed(v, shape.value) for k, v in value.items()}


def _as_is(value: Any) -> Any:
    return value


def _boolean(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _string(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


# A container shape: the Python type its value has, and how its members are typed.
_CONTAINERS: dict[str, tuple[type, Callable[[Any, Any], Any]]] = {
    "structure": (dict, _structure),
    "list": (list, _list),
    "map": (dict, _map),
}
_SCALARS: dict[str, Callable[[Any], Any]] = {
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "boolean": _boolean,
    "string": _string,
}


def _bucket(session: _Session, name: str, properties: dict[str, Any]) -> bool:
    s3 = session.client("s3")
    if name in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        return False
    region = s3.meta.region_name
    located: Any = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=name, **located)
    rules = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    if rules:  # CloudFormation's list of rules is the API's Rules, each default under its API name
        api_rules: Any = [{"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]} for r in rules]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": api_rules})
    if "PublicAccessBlockConfiguration" in properties:
        s3.put_public_access_block(Bucket=name, **arguments(s3, "PutPublicAccessBlock", properties))
    return True


def _stream(session: _Session, name: str, properties: dict[str, Any]) -> bool:
    kinesis: Any = session.client("kinesis")
    if name in kinesis.list_streams()["StreamNames"]:
        return False
    kinesis.create_stream(**arguments(kinesis, "CreateStream", {**properties, "StreamName": name}))
    if "StreamEncryption" in properties:
        kinesis.start_stream_encryption(StreamName=name, **properties["StreamEncryption"])
    hours = int(properties.get("RetentionPeriodHours", 24))
    if hours > 24:  # 24 is every stream's retention at first
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=hours)
    return True


def _delivery_stream(session: _Session, name: str, properties: dict[str, Any]) -> bool:
    firehose: Any = session.client("firehose")
    if name in firehose.list_delivery_streams()["DeliveryStreamNames"]:
        return False
    firehose.create_delivery_stream(**arguments(firehose, "CreateDeliveryStream", properties))
    return True


def _database(session: _Session, name: str, properties: dict[str, Any]) -> bool:
    glue: Any = session.client("glue")
    if name in {d["Name"] for d in glue.get_databases()["DatabaseList"]}:
        return False
    glue.create_database(**arguments(glue, "CreateDatabase", properties))
    return True


def _table(session: _Session, name: str, properties: dict[str, Any]) -> bool:
    glue: Any = session.client("glue")
    tables = glue.get_tables(DatabaseName=properties["DatabaseName"])["TableList"]
    if name in {t["Name"] for t in tables}:
        return False
    glue.create_table(**arguments(glue, "CreateTable", properties))
    return True


def _work_group(session: _Session, name: str, properties: dict[str, Any]) -> bool:
    athena: Any = session.client("athena")
    if name in {w["Name"] for w in athena.list_work_groups()["WorkGroups"]}:
        return False
    # CloudFormation's WorkGroupConfiguration is the API's Configuration (State is ENABLED at first).
    api = {**properties, "Configuration": properties.get("WorkGroupConfiguration")}
    athena.create_work_group(**arguments(athena, "CreateWorkGroup", api))
    return True


def _named_query(session: _Session, name: str, properties: dict[str, Any]) -> bool:
    known = session.named_queries(properties["WorkGroup"])
    if name in known:
        return False
    athena = session.client("athena")
    athena.create_named_query(**arguments(athena, "CreateNamedQuery", properties))
    known.add(name)
    return True


# Each type made here, in the order CloudFormation's references need them.
_MAKERS: dict[str, Maker] = {
    BUCKET: _bucket,
    "AWS::Kinesis::Stream": _stream,
    "AWS::Glue::Database": _database,
    "AWS::Glue::Table": _table,
    "AWS::KinesisFirehose::DeliveryStream": _delivery_stream,
    "AWS::Athena::WorkGroup": _work_group,
    NAMED_QUERY: _named_query,
}
