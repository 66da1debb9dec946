"""The local lake: Parquet files with the Glue table's columns, under Firehose's dt=/hour= layout.

The schema and the partition layout are read from template.yaml (the Glue table and the
delivery stream's prefix), so the local lake cannot drift from what Firehose writes on AWS.
"""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from nrt.template import load_template, resources

GLUE_TABLE = "PredictionsGlueTable"
DELIVERY_STREAM = "PredictionsDelivery"

_SCALARS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "float": pa.float32(),
    "boolean": pa.bool_(),
}


def arrow_type(glue_type: str) -> pa.DataType:
    """A Glue (Hive) column type as the Arrow type Firehose's Parquet conversion writes."""
    match = re.fullmatch(r"array<(.+)>", glue_type)
    if match:
        return pa.list_(arrow_type(match.group(1)))
    match = re.fullmatch(r"map<(\w+),\s*(.+)>", glue_type)
    if match:
        return pa.map_(arrow_type(match.group(1)), arrow_type(match.group(2)))
    if glue_type not in _SCALARS:
        raise ValueError(f"Glue type {glue_type!r} has no local mapping")
    return _SCALARS[glue_type]


@dataclass(frozen=True)
class TableSpec:
    """What the local lake needs to know about the Glue table and the delivery stream."""

    name: str
    columns: list[tuple[str, str]]
    partition_keys: list[str]
    prefix: str  # Firehose's S3 prefix, with its !{timestamp:...} expressions
    # column -> the record's JSON key, where they differ (the deserializer's ColumnToJsonKeyMappings)
    json_keys: dict[str, str] = field(default_factory=dict)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(name, arrow_type(kind)) for name, kind in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def partition_path(self, arrival: datetime.datetime) -> str:
        """The prefix Firehose gives an object whose oldest record arrived at `arrival` (UTC)."""

        def expand(match: re.Match[str]) -> str:
            java = match.group(1)
            python = java.replace("yyyy", "%Y").replace("MM", "%m").replace("dd", "%d").replace("HH", "%H")
            return arrival.strftime(python)

        return re.sub(r"!\{timestamp:([^}]+)\}", expand, self.prefix)


def table_spec(template: dict[str, Any] | None = None, glue_table: str = GLUE_TABLE) -> TableSpec:
    """A Glue table's columns and partition keys, and the prefix its delivery stream writes under
    (a Glue table no delivery stream writes yet: the prefix Firehose would use for its location
    and partition keys, dt as yyyy-MM-dd and hour as HH)."""
    found = resources(template or load_template())
    table_input = found[glue_table]["Properties"]["TableInput"]
    keys = [k["Name"] for k in table_input["PartitionKeys"]]
    delivery = _delivery_of(found, glue_table)
    if delivery is None:
        top = str(table_input["Name"])
        formats = {"dt": "yyyy-MM-dd", "hour": "HH"}
        prefix = top + "/" + "".join(f"{k}=!{{timestamp:{formats[k]}}}/" for k in keys)
        serde: dict[str, Any] = {}
    else:
        prefix = str(delivery["Prefix"])
        conversion = delivery.get("DataFormatConversionConfiguration", {})
        serde = conversion.get("InputFormatConfiguration", {}).get("Deserializer", {}).get("OpenXJsonSerDe") or {}
    return TableSpec(
        name=str(table_input["Name"]),
        columns=[(c["Name"], c["Type"]) for c in table_input["StorageDescriptor"]["Columns"]],
        partition_keys=keys,
        prefix=prefix,
        json_keys={str(k): str(v) for k, v in (serde.get("ColumnToJsonKeyMappings") or {}).items()},
    )


def _delivery_of(found: dict[str, Any], glue_table: str) -> dict[str, Any] | None:
    """The S3 destination of the delivery stream that converts records with `glue_table`'s schema."""
    for resource in found.values():
        if resource.get("Type") != "AWS::KinesisFirehose::DeliveryStream":
            continue
        destination = resource["Properties"].get("ExtendedS3DestinationConfiguration", {})
        schema = destination.get("DataFormatConversionConfiguration", {}).get("SchemaConfiguration", {})
        name = schema.get("TableName")
        if getattr(name, "value", name) == glue_table:
            return dict(destination)
    return None


def table_specs(template: dict[str, Any] | None = None) -> list[TableSpec]:
    """Every Glue table of the lake, as the local lake reads it."""
    template = template or load_template()
    glue = [logical for logical, r in resources(template).items() if r.get("Type") == "AWS::Glue::Table"]
    return [table_spec(template, logical) for logical in glue]


def write_rows(lake: Path, spec: TableSpec, rows: list[dict[str, Any]], arrival: datetime.datetime, name: str) -> Path:
    """Write one Parquet object atomically (a reader never sees half a file) under a name not
    yet taken (FileExistsError otherwise: an object in the lake is never replaced)."""
    keys = {c: spec.json_keys.get(c, c) for c in spec.column_names}
    table = pa.Table.from_pylist([{c: row.get(k) for c, k in keys.items()} for row in rows], schema=spec.schema)
    folder = lake / spec.partition_path(arrival)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    partial = folder / f".{name}.partial"
    try:
        pq.write_table(table, partial, compression="snappy")
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.link(partial, final)  # atomic, and fails where rename would replace
    finally:
        partial.unlink(missing_ok=True)  # half a file left by a full disk would hold its space
    return final


def parquet_files(lake: Path, spec: TableSpec) -> list[Path]:
    """Every complete object of the table (partial writes are hidden dot files)."""
    root = lake / spec.prefix.split("/", 1)[0]
    return sorted(p for p in root.rglob("*.parquet") if not p.name.startswith("."))


def read_rows(lake: Path, spec: TableSpec) -> list[dict[str, Any]]:
    """All rows in the lake (for tests and the demo's completeness check)."""
    rows: list[dict[str, Any]] = []
    for path in parquet_files(lake, spec):
        rows.extend(pq.read_table(path, schema=spec.schema).to_pylist())
    return rows


def column_values(lake: Path, spec: TableSpec, column: str) -> set[str]:
    """The distinct non-empty values of one column across the lake (reads that column only)."""
    values: set[str] = set()
    for path in parquet_files(lake, spec):
        values.update(str(v) for v in pq.read_table(path, columns=[column]).column(column).to_pylist() if v)
    return values
