"""template.yaml, streaming leg: table -> Kinesis -> Firehose (transform, Parquet) -> S3 -> Athena."""

from __future__ import annotations

from typing import Any

import pytest

from nrt.template import ROOT, Tag, resources

BUCKETS = ["LakeBucket", "AthenaResultsBucket"]


def props(logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = resources()[logical_id]["Properties"]
    return found


def delivery() -> dict[str, Any]:
    destination: dict[str, Any] = props("PredictionsDelivery")["ExtendedS3DestinationConfiguration"]
    return destination


def names(value: Any) -> set[str]:
    """The logical ids an intrinsic (or a list of them) refers to."""
    if isinstance(value, list):
        return set().union(*(names(v) for v in value))
    assert isinstance(value, Tag), value
    if value.name in ("Ref", "GetAtt"):
        target = value.value if isinstance(value.value, str) else value.value[0]
        return {target.split(".")[0]}
    text = value.value if isinstance(value.value, str) else value.value[0]
    return {part.split("}")[0].split(".")[0] for part in text.split("${")[1:] if not part.startswith("AWS::")}


def test_the_table_streams_every_change_to_the_kinesis_stream():
    spec = props("PredictionsTable")["KinesisStreamSpecification"]

    assert spec["StreamArn"] == Tag("GetAtt", "PredictionsStream.Arn")
    assert spec["ApproximateCreationDateTimePrecision"] == "MILLISECOND"


def test_the_stream_is_on_demand_and_encrypted():
    stream = props("PredictionsStream")

    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert stream["StreamEncryption"]["EncryptionType"] == "KMS"


def test_firehose_reads_the_stream_and_writes_the_dt_hour_prefix_with_an_error_prefix():
    source = props("PredictionsDelivery")

    assert source["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert source["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == Tag("GetAtt", "PredictionsStream.Arn")
    assert delivery()["Prefix"] == "predictions/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
    assert delivery()["ErrorOutputPrefix"].startswith("errors/!{firehose:error-output-type}/")
    assert delivery()["CloudWatchLoggingOptions"]["Enabled"] is True


def test_firehose_converts_to_parquet_against_the_glue_table_with_the_minimum_buffer():
    conversion = delivery()["DataFormatConversionConfiguration"]

    assert conversion["Enabled"] is True
    assert "ParquetSerDe" in conversion["OutputFormatConfiguration"]["Serializer"]
    assert "OpenXJsonSerDe" in conversion["InputFormatConfiguration"]["Deserializer"]
    assert conversion["SchemaConfiguration"]["TableName"] == Tag("Ref", "PredictionsGlueTable")
    assert delivery()["BufferingHints"]["SizeInMBs"] == 64
    assert delivery()["BufferingHints"]["IntervalInSeconds"] == Tag("Ref", "LakeBufferSeconds")


def test_the_transform_is_the_firehose_transform_function():
    [processor] = delivery()["ProcessingConfiguration"]["Processors"]
    parameters = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}

    assert processor["Type"] == "Lambda"
    assert parameters["LambdaArn"] == Tag("GetAtt", "FirehoseTransformFunction.Arn")
    assert props("FirehoseTransformFunction")["CodeUri"] == "functions/firehose_transform/"


def test_every_delivery_role_statement_names_its_actions_and_one_resource_of_this_stack():
    [policy] = props("DeliveryRole")["Policies"]
    expected = {
        "ReadTheStream": {"PredictionsStream"},
        "Transform": {"FirehoseTransformFunction"},
        "ReadTheSchema": {"LakeDatabase", "PredictionsGlueTable"},
        "WriteTheLake": {"LakeBucket"},
        "DeliveryLogs": {"DeliveryLogGroup"},
    }

    statements = policy["PolicyDocument"]["Statement"]

    assert {s["Sid"] for s in statements} == set(expected)
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any("*" in a for a in actions), statement
        assert statement["Resource"] != "*"
        assert names(statement["Resource"]) == expected[statement["Sid"]], statement["Sid"]


def test_firehose_may_assume_the_role_only_for_this_account():
    [statement] = props("DeliveryRole")["AssumeRolePolicyDocument"]["Statement"]

    assert statement["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"] == Tag("Ref", "AWS::AccountId")


@pytest.mark.parametrize("bucket", BUCKETS)
def test_buckets_are_encrypted_and_never_public(bucket):
    found = props(bucket)

    assert found["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert set(found["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(found["PublicAccessBlockConfiguration"]) == 4


@pytest.mark.parametrize("bucket", BUCKETS)
def test_buckets_refuse_requests_without_tls(bucket):
    policy = next(
        r["Properties"]
        for r in resources().values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == Tag("Ref", bucket)
    )
    [statement] = policy["PolicyDocument"]["Statement"]

    assert (statement["Effect"], statement["Action"]) == ("Deny", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_athena_workgroup_enforces_encrypted_results_and_a_scan_cutoff():
    config = props("AthenaWorkGroup")["WorkGroupConfiguration"]

    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == Tag("Ref", "AthenaBytesScannedCutoff")
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"
    assert names(config["ResultConfiguration"]["OutputLocation"]) == {"AthenaResultsBucket"}


def test_log_groups_have_retention():
    for logical_id, resource in resources().items():
        if resource["Type"] == "AWS::Logs::LogGroup":
            assert resource["Properties"]["RetentionInDays"] == Tag("Ref", "LogRetentionDays"), logical_id


QUICKSIGHT_DATA_SETS = {
    "QuickSightPositiveShareDataSet": "positive_share_per_minute.sql",
    "QuickSightConfidenceDataSet": "probability_distribution.sql",
    "QuickSightValueDistributionDataSet": "value_distribution.sql",
}


def test_quicksight_is_deployed_only_when_a_principal_is_given():
    template_resources = resources()
    quicksight = [k for k, r in template_resources.items() if r["Type"].startswith("AWS::QuickSight::")]

    assert sorted(quicksight) == sorted(
        [
            "QuickSightDashboard",
            "QuickSightDataSet",
            "QuickSightDataSource",
            "QuickSightQualityDataSet",
            *QUICKSIGHT_DATA_SETS,
        ]
    )
    assert all(template_resources[k]["Condition"] == "WithQuickSight" for k in quicksight)
    table = props("QuickSightDataSet")["PhysicalTableMap"]["events"]["RelationalTable"]
    assert table["Name"] == "prediction_events"  # the view athena/prediction_events.sql creates
    assert {"kind", "label", "positive_label", "value", "probability"} <= {c["Name"] for c in table["InputColumns"]}


def test_quicksights_quality_data_set_is_the_model_quality_view_per_day_with_the_views_columns():
    from nrt.lake.athena import LocalAthena

    quality = props("QuickSightQualityDataSet")
    table = quality["PhysicalTableMap"]["quality"]["RelationalTable"]
    columns = LocalAthena(ROOT / "no-lake").execute("SELECT * FROM model_quality").columns

    assert table["Name"] == "model_quality"  # the view athena/model_quality.sql creates
    assert {c["Name"] for c in table["InputColumns"]} <= set(columns)
    assert quality["LogicalTableMap"]["days"]["DataTransforms"] == [
        {"FilterOperation": {"ConditionExpression": "isNotNull({day})"}}
    ]
    visuals = {
        next(iter(v.values()))["VisualId"] for v in props("QuickSightDashboard")["Definition"]["Sheets"][0]["Visuals"]
    }
    assert {"live-quality", "live-error"} <= visuals


@pytest.mark.parametrize("data_set", list(QUICKSIGHT_DATA_SETS))
def test_quicksights_per_kind_data_sets_run_the_athena_files_word_for_word(data_set):
    from nrt.lake.athena import ATHENA_DIR, LocalAthena

    custom = props(data_set)["PhysicalTableMap"]["rows"]["CustomSql"]
    query = ATHENA_DIR / QUICKSIGHT_DATA_SETS[data_set]

    assert custom["SqlQuery"].strip() == query.read_text().strip()
    columns = LocalAthena(ROOT / "no-lake").run_file(query).columns
    assert [c["Name"] for c in custom["Columns"]] == columns


def test_the_quicksight_dashboard_draws_each_kind_per_model_with_counts_on_a_log_scale():
    definition = props("QuickSightDashboard")["Definition"]
    visuals = {next(iter(v.values()))["VisualId"]: next(iter(v.values())) for v in definition["Sheets"][0]["Visuals"]}
    scoped = {
        group["Filters"][0]["CategoryFilter"]["Configuration"]["FilterListConfiguration"]["CategoryValues"][0]: group[
            "ScopeConfiguration"
        ]["SelectedSheets"]["SheetVisualScopingConfigurations"][0]["VisualIds"]
        for group in definition["FilterGroups"]
    }

    assert scoped == {"multiclass": ["labels"], "regression": ["value"]}
    for visual in ("positive-share", "labels", "confidence", "value", "value-distribution"):
        wells = next(iter(visuals[visual]["ChartConfiguration"]["FieldWells"].values()))
        assert wells["SmallMultiples"][0]["CategoricalDimensionField"]["Column"]["ColumnName"] == "model", visual
    for visual in ("confidence", "value-distribution"):
        axis = visuals[visual]["ChartConfiguration"]["ValueAxis"]["DataOptions"]["NumericAxisOptions"]
        assert axis["Scale"] == {"Logarithmic": {"Base": 10}}
