"""nrt/lake/parquet.py: the local lake has the Glue table's schema and Firehose's layout."""

from __future__ import annotations

import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nrt.lake.parquet import arrow_type, read_rows, table_spec, write_rows
from nrt.template import load_template, resources

ARRIVAL = datetime.datetime(2026, 11, 22, 7, 5, 9, tzinfo=datetime.UTC)


def row(sensor: str = "s-1", **extra):
    base = {c: None for c in table_spec().column_names}
    return {**base, "sensor": sensor, "timestamp": 1, "features": [1.0, 2.0], "dedup_key": sensor, **extra}


def test_the_parquet_schema_is_the_glue_tables_columns_in_order():
    glue = resources(load_template())["PredictionsGlueTable"]["Properties"]["TableInput"]
    columns = glue["StorageDescriptor"]["Columns"]

    schema = table_spec().schema

    assert schema.names == [c["Name"] for c in columns]
    assert [str(t) for t in schema.types] == [
        "string",
        "string",
        "int64",
        "string",
        "string",
        "string",
        "string",
        "double",
        "double",
        "map<string, double>",
        "string",
        "string",
        "bool",
        "string",
        "int64",
        "int64",
        "string",
        "int32",
        "list<item: double>",
    ]


def test_every_column_name_is_snake_case():
    for name in table_spec().column_names + table_spec().partition_keys:
        assert name == name.lower() and "-" not in name, name


def test_the_partition_path_expands_the_firehose_prefix_with_the_arrival_time():
    spec = table_spec()

    assert spec.prefix == "predictions/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
    assert spec.partition_path(ARRIVAL) == "predictions/dt=2026-11-22/hour=07/"
    assert spec.partition_keys == ["dt", "hour"]


def test_the_glue_partition_projection_matches_the_firehose_prefix():
    params = resources(load_template())["PredictionsGlueTable"]["Properties"]["TableInput"]["Parameters"]

    assert params["projection.dt.format"] == "yyyy-MM-dd"
    assert (params["projection.hour.range"], params["projection.hour.digits"]) == ("0,23", "2")
    assert params["storage.location.template"].value.endswith("/predictions/dt=${!dt}/hour=${!hour}/")


def test_written_rows_land_under_the_partition_with_the_glue_schema(tmp_path):
    spec = table_spec()

    path = write_rows(tmp_path, spec, [row("a"), row("b", prediction=1, probability=0.5)], ARRIVAL, "part-1.parquet")

    assert path == tmp_path / "predictions/dt=2026-11-22/hour=07/part-1.parquet"
    assert pq.read_schema(path).remove_metadata() == spec.schema
    assert [(r["sensor"], r["prediction"]) for r in read_rows(tmp_path, spec)] == [("a", None), ("b", 1)]
    assert not list(path.parent.glob(".*"))


def test_a_row_with_a_wrong_type_is_refused_rather_than_written(tmp_path):
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        write_rows(tmp_path, table_spec(), [row(timestamp="soon")], ARRIVAL, "bad.parquet")
    assert read_rows(tmp_path, table_spec()) == []


def test_a_glue_type_without_a_local_mapping_is_named():
    assert arrow_type("array<bigint>") == pa.list_(pa.int64())
    with pytest.raises(ValueError, match="decimal"):
        arrow_type("decimal(10,2)")
