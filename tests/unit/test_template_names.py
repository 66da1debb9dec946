"""nrt/template.py names resources as CloudFormation does: a declared name resolved, else one
generated from the stack's name; !GetAtt X.Arn per resource type; what an intrinsic refers to.
nrt/emulator/lake_resources.py types resolved properties as the API's input shapes say."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from nrt.emulator.lake_resources import arguments
from nrt.template import (
    LocalContext,
    Tag,
    load_template,
    name_resources,
    physical_name,
    references,
    resolve,
    resource_arn,
)


def test_a_declared_name_is_resolved_with_the_stack_s_name():
    ctx = LocalContext(stack_name="my-stack")

    assert physical_name("PredictionsDelivery", ctx) == "my-stack-predictions"
    assert physical_name("AthenaWorkGroup", ctx) == "my-stack-lake"


def test_the_lake_database_is_derived_from_the_stack_s_name_unless_the_parameter_names_it():
    assert physical_name("LakeDatabase", LocalContext(stack_name="my-stack")) == "my_stack_lake"
    named = LocalContext(stack_name="my-stack", parameters={"LakeDatabaseName": "sales"})
    assert physical_name("LakeDatabase", named) == "sales"


def test_an_undeclared_name_is_the_stack_and_logical_id_and_lower_case_for_a_bucket():
    ctx = LocalContext(stack_name="My-Stack")

    assert physical_name("PredictionsStream", ctx) == "My-Stack-PredictionsStream"
    assert physical_name("LakeBucket", ctx) == "my-stack-lakebucket"


def test_a_name_that_refers_to_another_resource_names_that_one_first():
    # A log group named after its function, as template.yaml's were before they were named apart.
    template = {
        "Resources": {
            "Transform": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "TransformLogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": Tag("Sub", "/aws/lambda/${Transform}")},
            },
        }
    }
    ctx = LocalContext()

    name = physical_name("TransformLogGroup", ctx, template)

    assert name == f"/aws/lambda/{ctx.refs['Transform']}" == f"/aws/lambda/{ctx.stack_name}-Transform"


def test_a_type_without_a_local_name_is_refused_by_name_and_skipped_when_naming_references():
    with pytest.raises(KeyError, match="AWS::Athena::NamedQuery"):
        physical_name("DuplicateCheckQuery", LocalContext())
    ctx = LocalContext()

    name_resources({"DuplicateCheckQuery", "LakeBufferSeconds", "AWS::Region"}, ctx)

    assert ctx.refs == {}


@pytest.mark.parametrize(
    ("resource_type", "ref", "arn"),
    [
        ("AWS::Kinesis::Stream", "s", "arn:aws:kinesis:us-east-1:123456789012:stream/s"),
        ("AWS::S3::Bucket", "b", "arn:aws:s3:::b"),
        ("AWS::IAM::Role", "r", "arn:aws:iam::123456789012:role/r"),
        ("AWS::Serverless::Function", "f", "arn:aws:lambda:us-east-1:123456789012:function:f"),
        ("AWS::IAM::Role", "arn:aws:iam::1:role/kept", "arn:aws:iam::1:role/kept"),
    ],
)
def test_get_att_arn_is_built_per_resource_type_from_the_ref(resource_type, ref, arn):
    assert resource_arn(resource_type, ref, LocalContext()) == arn


def test_get_att_arn_of_a_stream_in_another_partition_names_that_partition():
    arn = resource_arn("AWS::Kinesis::Stream", "s", LocalContext(region="cn-north-1"))

    assert arn.startswith("arn:aws-cn:kinesis:cn-north-1:")


def test_get_att_resolves_through_the_names_given():
    ctx = LocalContext()
    name_resources({"PredictionsStream"}, ctx)

    assert resolve(Tag("GetAtt", "PredictionsStream.Arn"), ctx).endswith(":stream/nrt-local-PredictionsStream")


def test_references_are_refs_get_atts_and_subs_but_not_sub_variables_or_escapes():
    value = {
        "a": Tag("Ref", "A"),
        "b": [Tag("GetAtt", "B.Arn"), Tag("GetAtt", ["C", "Arn"])],
        "c": Tag("Sub", "${D}/${E.Arn}/${!literal}/${AWS::Region}"),
        "d": Tag("Sub", ["${F}-${local}", {"local": Tag("Ref", "G")}]),
        "e": Tag("If", ["Cond", Tag("Ref", "H"), "x"]),
    }

    assert references(value) == {"A", "B", "C", "D", "E", "AWS::Region", "F", "G", "H"}  # not the condition


def test_every_reference_in_the_template_is_a_resource_a_parameter_a_pseudo_parameter_or_a_condition():
    template = load_template()
    known = {*template["Resources"], *template["Parameters"], *template.get("Conditions", {})}

    found = references(template["Resources"])

    assert {r for r in found if not r.startswith("AWS::")} <= known


def firehose() -> Any:
    return botocore.session.get_session().create_client(
        "firehose", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_arguments_keep_the_api_s_parameters_and_type_them_as_its_shape_says():
    properties = {
        "DeliveryStreamName": "d",
        "DeliveryStreamType": "DirectPut",
        "ExtendedS3DestinationConfiguration": {
            "BucketARN": "arn:aws:s3:::b",
            "RoleARN": "arn:aws:iam::1:role/r",
            "BufferingHints": {"SizeInMBs": "64", "IntervalInSeconds": "60"},
            "CloudWatchLoggingOptions": {"Enabled": "true"},
        },
        "OnlyInCloudFormation": "dropped",
    }

    given = arguments(firehose(), "CreateDeliveryStream", properties)

    assert "OnlyInCloudFormation" not in given
    destination = given["ExtendedS3DestinationConfiguration"]
    assert destination["BufferingHints"] == {"SizeInMBs": 64, "IntervalInSeconds": 60}
    assert destination["CloudWatchLoggingOptions"] == {"Enabled": True}
