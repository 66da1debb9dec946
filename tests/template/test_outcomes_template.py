"""template.yaml, POST /outcomes: the route, its workflow, the outcomes table and its streaming
leg to the lake's outcomes/ (the Glue table other parts join on), each scoped to its own resources."""

from __future__ import annotations

import json
import re
from typing import Any

from nrt.lake.parquet import table_spec
from nrt.template import ROOT, Tag, resources

BODY = resources()["Api"]["Properties"]["DefinitionBody"]


def props(logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = resources()[logical_id]["Properties"]
    return found


def statements(logical_id: str) -> list[dict[str, Any]]:
    if logical_id.endswith("StateMachine"):
        return [s for p in props(logical_id)["Policies"] for s in p["Statement"]]
    return [s for p in props(logical_id)["Policies"] for s in p["PolicyDocument"]["Statement"]]


def asl() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / props("OutcomesStateMachine")["DefinitionUri"]).read_text())
    return loaded


def test_the_outcomes_table_keeps_one_item_per_reading_and_model_encrypted_backed_up_and_streamed_to_its_own_stream():
    table = props("OutcomesTable")

    assert table["KeySchema"] == [
        {"AttributeName": "event_id", "KeyType": "HASH"},
        {"AttributeName": "model", "KeyType": "RANGE"},
    ]
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "TimeToLiveSpecification" not in table  # kept: what tells a resend from a correction
    assert table["KinesisStreamSpecification"]["StreamArn"] == Tag("GetAtt", "OutcomesStream.Arn")
    assert props("OutcomesStream")["StreamEncryption"]["EncryptionType"] == "KMS"


def test_the_outcomes_delivery_writes_parquet_of_the_outcomes_glue_table_where_its_location_says():
    delivery = props("OutcomesDelivery")
    destination = delivery["ExtendedS3DestinationConfiguration"]
    conversion = destination["DataFormatConversionConfiguration"]
    glue = props("OutcomesGlueTable")["TableInput"]["Parameters"]["storage.location.template"]

    assert delivery["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == Tag("GetAtt", "OutcomesStream.Arn")
    assert destination["Prefix"] == "outcomes/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
    assert destination["ErrorOutputPrefix"].startswith("errors/outcomes/")
    assert glue.value.endswith("/outcomes/dt=${!dt}/hour=${!hour}/")
    assert conversion["SchemaConfiguration"]["TableName"] == Tag("Ref", "OutcomesGlueTable")
    assert conversion["InputFormatConfiguration"]["Deserializer"]["OpenXJsonSerDe"]["ColumnToJsonKeyMappings"] == {
        "ts": "timestamp"
    }
    [processor] = destination["ProcessingConfiguration"]["Processors"]
    arn = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}["LambdaArn"]
    assert arn == Tag("GetAtt", "FirehoseTransformFunction.Arn")  # the one transform, both record shapes
    spec = table_spec(glue_table="OutcomesGlueTable")
    assert spec.prefix == destination["Prefix"] and spec.json_keys == {"ts": "timestamp"}


def test_the_outcomes_delivery_role_reaches_its_stream_its_glue_table_and_the_lakes_outcomes_prefixes_only():
    by_sid = {s["Sid"]: s for s in statements("OutcomesDeliveryRole")}

    assert by_sid["ReadTheStream"]["Resource"] == Tag("GetAtt", "OutcomesStream.Arn")
    assert by_sid["ReadTheSchema"]["Resource"][-1].value.endswith("table/${LakeDatabase}/${OutcomesGlueTable}")
    assert [r.value for r in by_sid["WriteTheLake"]["Resource"]] == [
        "${LakeBucket.Arn}/outcomes/*",
        "${LakeBucket.Arn}/errors/outcomes/*",
    ]
    assert "s3:PutObject" not in by_sid["FindTheLake"]["Action"]
    assert by_sid["DeliveryLogs"]["Resource"] == Tag("GetAtt", "OutcomesDeliveryLogGroup.Arn")


def test_the_outcomes_workflow_reads_signatures_and_writes_the_outcomes_and_failure_tables_only():
    by_sid = {s["Sid"]: s for s in statements("OutcomesStateMachine")}

    assert (by_sid["ReadSignatures"]["Action"], by_sid["ReadSignatures"]["Resource"].value) == (
        "s3:GetObject",
        "${ModelArtifactsBucket.Arn}/signatures/*",
    )
    listing = by_sid["TellMissingSignatures"]  # so a missing signature is NoSuchKey (404), not AccessDenied
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", Tag("GetAtt", "ModelArtifactsBucket.Arn"))
    assert (by_sid["StoreOutcomes"]["Action"], by_sid["StoreOutcomes"]["Resource"]) == (
        "dynamodb:PutItem",
        Tag("GetAtt", "OutcomesTable.Arn"),
    )
    assert by_sid["RecordFailures"]["Resource"] == Tag("GetAtt", "FailuresTable.Arn")
    assert props("OutcomesStateMachine")["Type"] == "EXPRESS"


def test_every_placeholder_of_the_outcomes_asl_is_substituted_and_every_substitution_used():
    text = (ROOT / props("OutcomesStateMachine")["DefinitionUri"]).read_text()
    used = set(re.findall(r"\$\{(\w+)\}", text))

    assert used == set(props("OutcomesStateMachine")["DefinitionSubstitutions"])


def test_an_outcome_sent_by_sensor_and_timestamp_is_named_as_the_inference_workflow_names_its_reading():
    inference = json.loads((ROOT / "statemachine/inference.asl.json").read_text())
    derive = inference["States"]["StorePredictions"]["ItemSelector"]["event_id.$"]
    ours = asl()["States"]["StoreOutcomes"]["ItemProcessor"]["States"]["DeriveEventId"]

    theirs = derive.replace("$$.Map.Item.Value.", "$.")
    assert ours["Parameters"]["id.$"].replace("$.item.", "$.") == theirs


def test_the_outcomes_route_starts_its_workflow_synchronously_with_the_predictions_routes_templates():
    outcomes, predictions = BODY["paths"]["/outcomes"]["post"], BODY["paths"]["/predictions"]["post"]
    integration = outcomes["x-amazon-apigateway-integration"]

    assert outcomes["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OutcomeRequest"
    }
    assert outcomes["security"] == [{"api_key": []}] and outcomes["x-amazon-apigateway-request-validator"] == "body"
    assert integration["uri"].value.endswith(":states:action/StartSyncExecution")
    request = integration["requestTemplates"]["application/json"].value
    same = predictions["x-amazon-apigateway-integration"]["requestTemplates"]["application/json"].value
    assert request == same.replace("${InferenceStateMachine}", "${OutcomesStateMachine}")  # the body limit too
    theirs = predictions["x-amazon-apigateway-integration"]["responses"]
    assert integration["responses"]["4\\d{2}"] == theirs["4\\d{2}"]
    assert integration["responses"]["5\\d{2}"] == theirs["5\\d{2}"]


def test_the_outcome_request_refuses_unknown_fields_and_takes_a_label_or_a_number_only():
    schemas = BODY["components"]["schemas"]

    assert schemas["OutcomeRequest"]["additionalProperties"] is False
    assert schemas["BatchOutcome"]["additionalProperties"] is False
    assert set(schemas["OutcomeRequest"]["properties"]) == {
        "model",
        "sensor",
        "timestamp",
        "event_id",
        "outcome",
        "outcomes",
    }
    assert {t["type"] for t in schemas["Outcome"]["not"]["oneOf"]} == {"object", "array", "boolean"}
