"""The REST API definition against what API Gateway documents it does with one (each test names
its source), so that a definition that would misbehave only on AWS fails here."""

from __future__ import annotations

import json
import re
from typing import Any

from nrt.apigateway.models import NOT_APPLIED, request_model
from nrt.template import ROOT, Tag, resources
from training.inference import MAX_FEATURES

API = resources()["Api"]["Properties"]
BODY = API["DefinitionBody"]
OPERATIONS = [(path, method, op) for path, item in BODY["paths"].items() for method, op in item.items()]


def walk(schema: Any) -> list[dict[str, Any]]:
    """Every schema object inside a schema."""
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        found.append(schema)
        for value in schema.values():
            found.extend(walk(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(walk(value))
    return found


def text(value: Any) -> str:
    return str(value.value if isinstance(value, Tag) else value)


# "Amazon API Gateway important notes for REST APIs": "API Gateway doesn't use root level
# security defined in the OpenAPI specification. Hence security needs to be defined at an
# operation level to be appropriately applied."
def test_every_operation_declares_the_api_key_itself():
    assert OPERATIONS
    for path, method, op in OPERATIONS:
        assert op.get("security") == [{"api_key": []}], f"{method} {path}"
    assert "security" not in BODY  # it would do nothing, and read as if it did


# The same notes (2023 onwards; docs/aws.md#the-request-models-what-api-gateway-keeps): models are
# JSON Schema draft 4; minItems/maxItems are not in simple validation; exclusiveMinimum, default,
# discriminator and readOnly are not supported; and an imported model is seen without `nullable`.
# The contract must not look enforced by keywords that are not, and must use only keywords the
# import keeps (nrt/apigateway/models.py, which the local API validates with).
def test_the_request_schemas_use_only_keywords_api_gateway_keeps_on_import():
    components = BODY["components"]["schemas"]
    for name, schema in components.items():
        request_model(schema, components)  # raises on a keyword not known to be kept
        for node in walk(schema):
            used = NOT_APPLIED & set(node)
            assert not used, f"{name}: {sorted(used)}"


# Fields the workflow does not read are refused by the validator, before anything is accepted:
# nothing is carried through an execution or kept in an item that no one asked for.
def test_a_reading_and_a_batch_reading_allow_only_the_fields_the_workflow_reads():
    schemas = BODY["components"]["schemas"]
    single = schemas["PredictionRequest"]
    batch = schemas["BatchReading"]
    assert single["additionalProperties"] is False and batch["additionalProperties"] is False
    assert set(single["properties"]) == {"model", "sensor", "timestamp", "data", "features", "event_id", "readings"}
    assert set(batch["properties"]) == {"sensor", "timestamp", "data", "features", "event_id"}


def test_named_features_are_bounded_scalars_at_most_as_many_as_a_model_can_take():
    named = BODY["components"]["schemas"]["NamedFeatures"]
    value = named["additionalProperties"]
    assert named["maxProperties"] == MAX_FEATURES
    assert value["maxLength"] == 256 and value["minLength"] == 1
    assert {branch["type"] for branch in value["not"]["oneOf"]} == {"object", "array", "boolean"}


# "Set up method responses": an integration response may only map to a declared method
# response; otherwise "Execution failed due to configuration error: Output mapping refers to an
# invalid method response" and the client gets a 500.
def test_every_status_an_integration_response_can_answer_is_a_declared_method_response():
    for path, method, op in OPERATIONS:
        integration = op["x-amazon-apigateway-integration"]
        declared = set(op["responses"])
        for response in integration.get("responses", {}).values():
            statuses = {response["statusCode"]}
            for template in response.get("responseTemplates", {}).values():
                statuses |= set(re.findall(r"responseOverride\.status = (\d{3})", template))
                if "responseOverride.status = $answer.status" in template:
                    statuses |= {str(s) for s in workflow_answers(op)}  # the workflow's answers
            assert statuses <= declared, f"{method} {path}: {sorted(statuses - declared)} not declared"


def workflow_answers(op: dict[str, Any]) -> set[int]:
    """Every status the workflow a route starts can answer with (its ASL's `status` parameters)."""
    request = text(op["x-amazon-apigateway-integration"]["requestTemplates"]["application/json"])
    machine = re.search(r"\$\{(\w+StateMachine)\}", request)
    assert machine, request
    asl = json.loads((ROOT / resources()[machine.group(1)]["Properties"]["DefinitionUri"]).read_text())
    statuses: set[int] = set()
    for node in walk(asl["States"]):
        params = node.get("Parameters")
        if isinstance(params, dict) and isinstance(params.get("status"), int):
            statuses.add(params["status"])
    return statuses


def test_the_workflows_fail_answers_are_the_statuses_the_sync_route_declares():
    for path in ("/predictions", "/outcomes"):
        op = BODY["paths"][path]["post"]
        statuses = workflow_answers(op)
        declared = {int(s) for s in op["responses"]}
        assert statuses and statuses <= declared, path
    assert workflow_answers(BODY["paths"]["/outcomes"]["post"]) == {400, 404, 503}


# OpenAPI 3.0.x, "Response Object": its fixed fields are description (required, a string),
# headers, content and links; it may be extended with x- fields. In a YAML flow mapping an
# unquoted comma ends the value: `{ description: a, or b }` is description "a" plus a key
# "or b", which the import does not know.
RESPONSE_FIELDS = {"description", "headers", "content", "links"}


def test_every_response_object_has_only_the_fields_openapi_defines():
    responses = [
        (f"{method} {path} {status}", response)
        for path, method, op in OPERATIONS
        for status, response in op["responses"].items()
    ]
    responses += [(f"components {name}", r) for name, r in BODY["components"].get("responses", {}).items()]
    assert len(responses) > 10
    for where, response in responses:
        unknown = {key for key in response if not key.startswith("x-")} - RESPONSE_FIELDS
        assert not unknown, f"{where}: {sorted(unknown)}"
        assert isinstance(response["description"], str) and response["description"], where


# "x-amazon-apigateway-gateway-responses.responseTemplates": "A GatewayResponse mapping template
# isn't processed by the Velocity Template Language (VTL) engine" (simple substitution only).
def test_gateway_responses_use_only_simple_substitutions():
    for kind, response in API["GatewayResponses"].items():
        for template in response.get("ResponseTemplates", {}).values():
            references = re.findall(r"\$[!{]?([A-Za-z_]+)", template)
            assert set(references) <= {"context", "stageVariables", "method"}, kind
            assert "#set" not in template and "#if" not in template, kind


# "Variables for data transformations": $context.error.messageString is "the quoted value of
# $context.error.message"; $context.error.validationErrorString is "a string containing a detailed
# validation error message", neither quoted nor escaped, and the validator's messages hold quotes
# (`[object has missing required properties (["model"])]`). So no body uses it, and messageString
# stands bare, as in API Gateway's own default templates ({"message":$context.error.messageString}).
def test_gateway_responses_are_json_whatever_the_error_message_holds():
    for kind, response in API["GatewayResponses"].items():
        for template in response.get("ResponseTemplates", {}).values():
            assert "validationErrorString" not in template, kind
            assert '"$context.error.messageString' not in template, kind
            message = 'a "quoted" \\ message'
            body = template.replace("$context.error.messageString", json.dumps(message))
            body = body.replace("$context.error.responseType", "BAD_REQUEST_BODY")
            json.loads(body)


# OpenAPI 3.0 in YAML: a plain scalar that holds `: `, ` #`, a comma or brackets means something
# else in a flow mapping ({ description: a, b } is two keys). Every description is quoted.
def test_every_openapi_description_in_the_template_text_is_quoted():
    text = (ROOT / "template.yaml").read_text()
    body = text[text.index("      DefinitionBody:") : text.index("\n  ListModelsPermission:")]
    values = re.findall(r"description: ([^\n}]*)", body)
    assert len(values) > 15
    for value in values:
        assert value.strip()[0] == '"' and value.strip()[-1] == '"', value


# "Amazon API Gateway important notes for REST APIs": REQUEST_TOO_LARGE cannot be customised.
def test_no_gateway_response_the_api_cannot_customise():
    assert "REQUEST_TOO_LARGE" not in API["GatewayResponses"]


# Step Functions answers HTTP 400 for throttling (ThrottlingException) and every other client
# error (API reference, "Common Errors"): a 4xx is not one thing.
def test_the_4xx_integration_responses_tell_throttling_and_oversize_apart_from_other_errors():
    for path in ("/predictions", "/events"):
        responses = BODY["paths"][path]["post"]["x-amazon-apigateway-integration"]["responses"]
        template = responses["4\\d{2}"]["responseTemplates"]["application/json"]
        assert "Throttling" in template and "InvalidName" in template
        assert responses["4\\d{2}"]["statusCode"] == "500"


def test_both_request_templates_refuse_the_same_body_size():
    limits = {
        re.search(
            r"length\(\) > (\d+)",
            text(BODY["paths"][p]["post"]["x-amazon-apigateway-integration"]["requestTemplates"]["application/json"]),
        ).group(1)  # type: ignore[union-attr]
        for p in ("/predictions", "/events")
    }
    assert limits == {"64000"}


# SAM: without OpenApiVersion, AWS::Serverless::Api also deploys a stage named "Stage".
def test_sam_deploys_only_the_named_stage():
    assert API["OpenApiVersion"] == BODY["openapi"]
