"""The local runtime's side of durability: load the last run's tables, S3 objects and endpoints
back into a fresh embedded AWS, then keep every change in the store (nrt/state/store.py) as it
happens."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from nrt import emulator
from nrt.emulator.server import PROVISIONED_TABLES, EmbeddedAws, streamed_tables
from nrt.state.store import EndpointSpec, GroupCommit, Store

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

# What an endpoint is made of, as CreateModel and CreateEndpointConfig take it back.
MODEL_FIELDS = ("ModelName", "PrimaryContainer", "Containers", "ExecutionRoleArn", "InferenceExecutionConfig")
CONFIG_FIELDS = ("EndpointConfigName", "ProductionVariants", "DataCaptureConfig")


def restore_tables(aws: EmbeddedAws, store: Store) -> dict[str, int]:
    """Each provisioned table's items as the store kept them; table name -> how many. The items
    stay in the store, read by key when asked for (nothing is loaded: the start does not grow
    with the tables); with the speed-ups off they are loaded into memory, as moto holds them."""
    return {name: _restore_table(aws, store, name) for name in (aws.ctx.refs[t] for t in PROVISIONED_TABLES)}


def _restore_table(aws: EmbeddedAws, store: Store, name: str) -> int:
    ctx = aws.ctx
    if emulator.write_through.keep_items(ctx.account, ctx.region, name, store):
        return store.count(name)
    return emulator.write_through.load_items(ctx.account, ctx.region, name, store.items(name))


def keep_changes(aws: EmbeddedAws, store: Store) -> GroupCommit:
    """From now on every change to a provisioned table is kept in the store (and the streamed
    table's records in its change log); answers wait for it (GroupCommit.sync). The tables'
    items are read from the store once it has them. Close what it returns to commit the last
    changes."""
    ctx = aws.ctx
    for table in PROVISIONED_TABLES:
        emulator.write_through.keep_items(ctx.account, ctx.region, ctx.refs[table], store)
    committer = GroupCommit(
        store,
        tables={ctx.refs[t] for t in PROVISIONED_TABLES},
        streamed={ctx.refs[t] for t in streamed_tables()},
        convert=emulator.write_through.wire_record,
        committed=emulator.write_through.committed(ctx.account, ctx.region, store),
    )
    aws.wiring.table_changes = committer
    return committer


def endpoint_specs(
    sm: SageMakerClient, prefix: str, known: Mapping[str, EndpointSpec] | None = None
) -> dict[str, EndpointSpec]:
    """Every `<prefix>*` endpoint: its config, the models it serves, its tags, and why it failed
    (a model that cannot load stays Failed across a restart). A model deleted while its endpoint
    serves (AWS allows it) is taken from `known`, the last save, and marked gone."""
    known = known or {}
    return {name: endpoint_spec(sm, name, known.get(name)) for name in _prefixed(sm, prefix)}


def _prefixed(sm: SageMakerClient, prefix: str) -> Iterator[str]:
    for page in sm.get_paginator("list_endpoints").paginate(NameContains=prefix):
        yield from (e["EndpointName"] for e in page["Endpoints"] if e["EndpointName"].startswith(prefix))


def endpoint_spec(sm: SageMakerClient, name: str, known: EndpointSpec | None = None) -> EndpointSpec:
    """One endpoint as the store keeps it; `known` is how it was last kept."""
    endpoint = sm.describe_endpoint(EndpointName=name)
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    earlier = {m["ModelName"]: m for m in known["models"]} if known else {}
    models, gone = [], []
    for variant in config["ProductionVariants"]:
        model = variant["ModelName"]
        if _missing(sm.describe_model, ModelName=model):
            gone.append(model)
            if model in earlier:
                models.append(earlier[model])
        else:
            models.append(_fields(sm.describe_model(ModelName=model), MODEL_FIELDS))
    spec: EndpointSpec = {
        "config": _fields(config, CONFIG_FIELDS),
        "models": models,
        "tags": sm.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"],
    }
    if gone:
        spec["gone"] = gone
    if endpoint["EndpointStatus"] == "Failed":
        spec["failed"] = endpoint.get("FailureReason", "")
    return spec


def _fields(described: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: described[k] for k in names if k in described}


def _missing(describe: Callable[..., object], **name: str) -> bool:
    try:
        describe(**name)
    except ClientError:
        return True
    return False


def restore_endpoints(sm: SageMakerClient, specs: dict[str, EndpointSpec]) -> list[str]:
    """Create each saved endpoint that is not there (its models and config first); the names made."""
    return [
        name
        for name, spec in specs.items()
        if _missing(sm.describe_endpoint, EndpointName=name) and _make(sm, name, spec)
    ]


def _make(sm: SageMakerClient, name: str, spec: EndpointSpec) -> bool:
    gone = spec.get("gone", [])
    if not set(gone) <= {m["ModelName"] for m in spec["models"]}:
        return False  # its model was deleted before it was ever kept: it cannot be made again
    for model in spec["models"]:
        if _missing(sm.describe_model, ModelName=model["ModelName"]):
            sm.create_model(**model)
    config = spec["config"]
    if _missing(sm.describe_endpoint_config, EndpointConfigName=config["EndpointConfigName"]):
        sm.create_endpoint_config(**config)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config["EndpointConfigName"], Tags=spec["tags"])
    for deleted in gone:  # deleted while the endpoint served: deleted again
        sm.delete_model(ModelName=deleted)
    return True


def keep_endpoints(aws: EmbeddedAws, store: Store) -> None:
    """From now on the endpoints are saved after every change, before the change's answer."""
    sm: SageMakerClient = aws.client("sagemaker")

    def save() -> None:
        store.save_endpoints(endpoint_specs(sm, aws.prefix, store.endpoints()))

    aws.wiring.endpoints_changed = save


def restore_objects(aws: EmbeddedAws, store: Store) -> int:
    """The embedded S3's objects as the store kept them; how many."""
    return emulator.write_through.load_objects(aws.ctx.account, aws.ctx.region, store.objects())


def keep_objects(aws: EmbeddedAws, store: Store) -> None:
    """From now on every S3 object written or deleted is kept before the call's answer."""
    aws.wiring.objects_changed = store.save_object
