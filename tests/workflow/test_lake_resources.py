"""The streaming leg's resources in the embedded AWS (nrt/emulator/lake_resources.py): the
AWS CLI lines docs/operations.md shows list what the template declares, each made from its
resolved definition, consistent with one another and with the Parquet the local lake writes."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from nrt.emulator.lake_resources import lake_resources, provision_lake
from nrt.emulator.server import EmbeddedAws
from nrt.lake.parquet import arrow_type, parquet_files, table_spec
from nrt.template import LocalContext, physical_name, resolve, resources
from tests.helpers import ROOT
from tests.helpers.aws_cli import AWS, cli_env

GUIDE = (ROOT / "docs" / "operations.md").read_text()


def shown(command: str) -> str:
    """The guide's line for an aws command, its comment cut."""
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE, flags=re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    found = [line for line in lines if line.startswith(f"aws {command}")]
    assert found, f"docs/operations.md shows no `aws {command}`"
    return found[0]


def run(aws: EmbeddedAws, line: str, tmp_path: Path) -> Any:
    """One aws line, in the guide's environment, against this embedded AWS; its JSON answer."""
    env = cli_env(tmp_path, AWS_DEFAULT_REGION=aws.ctx.region, AWS_ENDPOINT_URL=aws.url)
    argv = [AWS if a == "aws" else a for a in shlex.split(line)]
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def name(logical_id: str, aws: EmbeddedAws) -> str:
    """The name the template gives a resource in this stack (nrt.template, not aws.ctx.refs)."""
    return physical_name(logical_id, LocalContext(stack_name=aws.ctx.stack_name))


def declared(logical_id: str, aws: EmbeddedAws) -> Any:
    """A resource's properties as CloudFormation resolves them in this stack."""
    ctx = LocalContext(stack_name=aws.ctx.stack_name, refs=dict(aws.ctx.refs))
    return resolve(resources()[logical_id]["Properties"], ctx)


def glue_table(aws: EmbeddedAws) -> dict[str, Any]:
    table: dict[str, Any] = aws.client("glue").get_table(
        DatabaseName=name("LakeDatabase", aws), Name=name("PredictionsGlueTable", aws)
    )["Table"]
    return table


def test_list_streams_as_the_guide_shows_it_lists_the_template_s_stream(aws, tmp_path):
    answer = run(aws, shown("kinesis list-streams"), tmp_path)

    assert name("PredictionsStream", aws) in answer["StreamNames"]


def test_list_delivery_streams_as_the_guide_shows_it_lists_the_template_s_delivery_stream(aws, tmp_path):
    answer = run(aws, shown("firehose list-delivery-streams"), tmp_path)

    assert name("PredictionsDelivery", aws) in answer["DeliveryStreamNames"]
    assert name("OutcomesDelivery", aws) in answer["DeliveryStreamNames"]


def test_get_tables_as_the_guide_shows_it_lists_the_template_s_glue_table_in_its_database(aws, tmp_path):
    line = shown("glue get-tables")
    assert f"--database-name {name('LakeDatabase', aws)}" in line

    answer = run(aws, line, tmp_path)

    glue = [name("PredictionsGlueTable", aws), name("OutcomesGlueTable", aws)]
    assert sorted(t["Name"] for t in answer["TableList"]) == sorted(glue)


def test_list_work_groups_as_the_guide_shows_it_lists_the_template_s_work_group(aws, tmp_path):
    answer = run(aws, shown("athena list-work-groups"), tmp_path)

    assert name("AthenaWorkGroup", aws) in {w["Name"] for w in answer["WorkGroups"]}


def test_the_glue_table_s_columns_and_partition_keys_are_the_template_s(aws):
    table_input = declared("PredictionsGlueTable", aws)["TableInput"]

    table = glue_table(aws)

    assert table["StorageDescriptor"]["Columns"] == table_input["StorageDescriptor"]["Columns"]
    assert table["PartitionKeys"] == table_input["PartitionKeys"]
    assert table["Parameters"] == table_input["Parameters"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{name('LakeBucket', aws)}/predictions/"


def test_the_glue_table_is_the_schema_of_the_parquet_the_local_lake_writes(aws, lake):
    """GIVEN a lake written by nrt/lake/parquet.py, WHEN its files' schema is read, THEN it is the
    embedded Glue table's columns, in order, each of the Arrow type its Glue type converts to."""
    table = glue_table(aws)
    files = parquet_files(lake, table_spec())
    assert files

    expected = [(c["Name"], arrow_type(c["Type"])) for c in table["StorageDescriptor"]["Columns"]]

    for path in files:
        schema = pq.read_schema(path)
        assert [(f.name, f.type) for f in schema] == expected, path
        partitions = [part.split("=", 1)[0] for part in path.relative_to(lake).parts if "=" in part]
        assert partitions == [k["Name"] for k in table["PartitionKeys"]]


def test_the_stream_is_on_demand_and_encrypted_as_declared(aws):
    stream = declared("PredictionsStream", aws)

    summary = aws.client("kinesis").describe_stream_summary(StreamName=name("PredictionsStream", aws))

    described = summary["StreamDescriptionSummary"]
    assert described["StreamModeDetails"] == stream["StreamModeDetails"]
    assert described["RetentionPeriodHours"] == stream["RetentionPeriodHours"]
    assert (described["EncryptionType"], described["KeyId"]) == (
        stream["StreamEncryption"]["EncryptionType"],
        stream["StreamEncryption"]["KeyId"],
    )


def test_the_delivery_stream_reads_the_stream_and_writes_parquet_by_the_glue_table_to_the_lake_bucket(aws):
    firehose = aws.client("firehose")
    description = firehose.describe_delivery_stream(DeliveryStreamName=name("PredictionsDelivery", aws))

    delivery = description["DeliveryStreamDescription"]
    stream = aws.client("kinesis").describe_stream_summary(StreamName=name("PredictionsStream", aws))
    assert (
        delivery["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"]
        == (stream["StreamDescriptionSummary"]["StreamARN"])
    )
    s3 = delivery["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert s3["BucketARN"] == f"arn:aws:s3:::{name('LakeBucket', aws)}"
    aws.client("s3").head_bucket(Bucket=name("LakeBucket", aws))
    assert s3["Prefix"] == table_spec().prefix
    # !Ref LakeBufferSeconds resolves to the parameter's text; the API takes the number.
    hints = declared("PredictionsDelivery", aws)["ExtendedS3DestinationConfiguration"]["BufferingHints"]
    assert s3["BufferingHints"] == {k: int(v) for k, v in hints.items()}
    conversion = s3["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert "ParquetSerDe" in conversion["OutputFormatConfiguration"]["Serializer"]
    schema = conversion["SchemaConfiguration"]
    assert (schema["DatabaseName"], schema["TableName"]) == (name("LakeDatabase", aws), glue_table(aws)["Name"])
    assert (
        conversion
        == declared("PredictionsDelivery", aws)["ExtendedS3DestinationConfiguration"][
            "DataFormatConversionConfiguration"
        ]
    )


def test_the_work_group_keeps_encrypted_results_in_the_results_bucket(aws):
    configuration = declared("AthenaWorkGroup", aws)["WorkGroupConfiguration"]

    group = aws.client("athena").get_work_group(WorkGroup=name("AthenaWorkGroup", aws))["WorkGroup"]

    results = group["Configuration"]["ResultConfiguration"]
    assert results == configuration["ResultConfiguration"]
    assert results["OutputLocation"] == f"s3://{name('AthenaResultsBucket', aws)}/results/"
    aws.client("s3").head_bucket(Bucket=name("AthenaResultsBucket", aws))
    assert group["Configuration"]["BytesScannedCutoffPerQuery"] == int(configuration["BytesScannedCutoffPerQuery"])


def test_the_work_group_holds_every_named_query_the_template_declares(aws):
    athena = aws.client("athena")
    ids = athena.list_named_queries(WorkGroup=name("AthenaWorkGroup", aws))["NamedQueryIds"]

    queries = [athena.get_named_query(NamedQueryId=i)["NamedQuery"] for i in ids]

    declared_names = [r["Properties"]["Name"] for r in resources().values() if r["Type"] == "AWS::Athena::NamedQuery"]
    assert sorted(q["Name"] for q in queries) == sorted(declared_names)
    assert {q["Database"] for q in queries} == {name("LakeDatabase", aws)}


def test_every_streaming_resource_type_in_the_template_is_made():
    made = {resources()[logical_id]["Type"] for logical_id in lake_resources()}

    assert made == {
        "AWS::S3::Bucket",
        "AWS::Kinesis::Stream",
        "AWS::KinesisFirehose::DeliveryStream",
        "AWS::Glue::Database",
        "AWS::Glue::Table",
        "AWS::Athena::WorkGroup",
        "AWS::Athena::NamedQuery",
    }
    assert "ModelArtifactsBucket" not in lake_resources()


@pytest.mark.parametrize("times", [1, 2])
def test_provisioning_again_makes_nothing_twice(aws, times):
    for _ in range(times):
        assert provision_lake(aws) == []

    assert aws.client("kinesis").list_streams()["StreamNames"].count(name("PredictionsStream", aws)) == 1
