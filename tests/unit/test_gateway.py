"""nrt/apigateway/rest_api.py runs the template's REST API as API Gateway would: routes, per-operation API
keys, the request validator with the template's schemas, the mapping templates (VTL), the
integration responses and their method responses, and the gateway responses."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nrt.apigateway.rest_api import MAX_PAYLOAD_BYTES, GatewayError, RestApi, request_context
from nrt.apigateway.vtl import escape_javascript
from nrt.template import load_template, resolve
from tests.helpers import load_event
from tests.helpers.gateway import HEADERS, KEY, StandIn, context, make, post


def named(**features: Any) -> dict[str, Any]:
    body = {k: v for k, v in load_event("reading.json").items() if k != "data"}
    return {**body, "features": features}


REFUSED = {"status": 400, "error": "ValidationError", "message": "Invalid request body"}


def refused(body: Any, path: str = "/predictions") -> str:
    """The validator's detail of a refused body (logged; the answer is API Gateway's message)."""
    api, services = make()
    reply = post(api, path, body)
    assert reply.status == 400, reply.body
    assert reply.json() == REFUSED  # JSON whatever the input held: messageString is quoted by AWS
    assert services.calls == []  # refused before the workflow
    return reply.detail


# --- the request validator, with the template's schemas ----------------------------------------


def test_a_reading_a_batch_and_named_features_reach_the_workflow_unchanged():
    api, services = make()
    for body in [load_event("reading.json"), load_event("batch.json"), named(carat=0.31, cut="Ideal", depth=None)]:
        reply = post(api, "/predictions", body)
        assert reply.status == 200
        assert json.loads(services.calls[-1][1]["input"]) == body


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"sensor": ""}, "/sensor"),
        ({"sensor": "a" * 129}, "/sensor"),
        ({"sensor": "../etc/passwd"}, "/sensor"),
        ({"sensor": 'x"y'}, "/sensor"),
        ({"model": "has space"}, "/model"),
        ({"model": "diamonds_nb"}, "/model"),  # no endpoint can have '_' or '.'
        ({"model": "pen.guins"}, "/model"),
        ({"model": "-lead"}, "/model"),
        ({"model": "trail-"}, "/model"),
        ({"model": "a" * 64}, "/model"),  # SageMaker's 63
        ({"model": "../x"}, "/model"),
        ({"timestamp": 1.5}, "/timestamp"),
        ({"timestamp": "1700000000000"}, "/timestamp"),
        ({"timestamp": 946_684_799_999}, "/timestamp"),
        ({"timestamp": 4_102_444_800_000}, "/timestamp"),
        ({"data": [1, "2", 3]}, "/data/1"),
        ({"data": [True, 2, 3]}, "/data/0"),
        ({"data": [1, None]}, "/data/1"),
        ({"event_id": ""}, "/event_id"),
        ({"features": {"a": True}}, "/features/a"),
        ({"features": {"a": ""}}, "/features/a"),
        ({"features": {"a": [1]}}, "/features/a"),
        ({"features": {"a": {"b": 1}}}, "/features/a"),
        ({"features": {"a": "x" * 257}}, "/features/a"),
        ({"features": {f"f{i}": i for i in range(1001)}}, "/features"),  # training's MAX_FEATURES
        ({"note": "x"}, "/"),
        ({"data": [1], "Sensor": "s"}, "/"),  # names match exactly
    ],
)
def test_each_schema_rule_is_enforced_and_the_detail_says_where(change, where):
    assert f"{where}:" in refused({**load_event("reading.json"), **change})


def test_the_timestamp_bounds_are_inclusive_below_and_exclusive_above():
    api, _ = make()
    body = load_event("reading.json")
    assert post(api, "/predictions", {**body, "timestamp": 946_684_800_000}).status == 200
    assert post(api, "/predictions", {**body, "timestamp": 4_102_444_799_999}).status == 200


def test_a_missing_model_is_named_and_a_batch_reading_needs_sensor_and_timestamp():
    assert "model" in refused({k: v for k, v in load_event("reading.json").items() if k != "model"})
    one = {k: v for k, v in load_event("batch.json")["readings"][0].items() if k != "sensor"}
    assert "/readings/0" in refused({"model": "m", "readings": [one]})


@pytest.mark.parametrize("raw", [b"NaN", b'{"data": [Infinity]}', b"{", b"[1, 2", b"\xff\xfe"])
def test_what_is_not_strict_json_is_a_400_with_a_json_body(raw):
    assert refused(raw)


@pytest.mark.parametrize("field", ["sensor", "model", "event_id"])
def test_a_name_matches_in_full_a_final_newline_is_refused(field):
    assert f"/{field}:" in refused({**load_event("reading.json"), field: "name\n"})
    assert f"/{field}:" in refused({**load_event("reading.json"), field: "name\r\n"})


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"sensor": "s", "model": "m", "timestamp": 1700000000000, "data": [1e309]}', "1e309 is beyond a double"),
        (b'{"sensor": "s", "model": "m", "timestamp": 1700000000000, "data": [-1e400]}', "beyond a double"),
        (
            b'{"sensor": "s", "model": "m", "timestamp": 1700000000000, "data": [' + b"9" * 400 + b"]}",
            "999999999999999999999... is beyond a double",
        ),
        (
            b'{"sensor": "s", "sensor": "t", "model": "m", "timestamp": 1700000000000, "data": [1]}',
            '"sensor" appears twice',
        ),
        (b'{"model": "m", "readings": [{"sensor": "s", "timestamp": 1, "timestamp": 2}]}', '"timestamp" appears twice'),
    ],
)
def test_numbers_no_double_holds_and_keys_given_twice_are_refused_by_name(raw, problem):
    assert problem in refused(raw)


def test_an_error_message_names_the_problem_and_stays_short_whatever_the_input():
    huge = {**load_event("reading.json"), "sensor": "x" * 197_000}
    message = refused(huge)
    assert "/sensor" in message
    assert len(message) < 500


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_a_body_that_is_not_an_object_is_refused(body):
    assert "object" in refused(body)


def test_the_400_is_json_whatever_the_input_holds():
    detail = refused({**load_event("reading.json"), "sensor": 'a"b\\c\nd'})
    assert "/sensor" in detail


@pytest.mark.parametrize("path", ["/predictions", "/events"])
def test_unknown_fields_are_refused_in_a_reading_a_batch_and_beside_the_batch(path):
    batch = load_event("batch.json")
    one = {**batch["readings"][0], "comment": "\U0001f600" * 35_000}
    assert "'comment' was unexpected" in refused({**load_event("reading.json"), "comment": "x"}, path)
    assert "/readings/1:" in refused({**batch, "readings": [batch["readings"][0], one]}, path)
    assert "'source' was unexpected" in refused({**batch, "source": "gateway-7"}, path)


def test_feature_values_are_numbers_text_or_null_never_containers():
    api, _ = make()
    assert post(api, "/predictions", named(a=1, b=-2.5e10, c="x" * 256, d=None)).status == 200
    for value in ([], {}, [[1]], True):
        assert "/features/v:" in refused(named(v=value))


def test_validation_error_string_is_substituted_as_it_is_neither_quoted_nor_escaped():
    props = load_template()["Resources"]["Api"]["Properties"]
    responses = copy.deepcopy(props["GatewayResponses"])
    responses["BAD_REQUEST_BODY"]["ResponseTemplates"]["application/json"] = (
        '{"message": "$context.error.validationErrorString"}'
    )
    api = RestApi(resolve(props["DefinitionBody"], context()), responses, StandIn(), KEY)

    reply = post(api, "/predictions", {**load_event("reading.json"), 'a"b': 1})

    with pytest.raises(ValueError):  # AWS documents no escaping: why the template uses messageString
        reply.json()
    assert reply.body == b'{"message": "' + reply.detail.encode() + b'"}'


# --- what API Gateway checks before the integration ---------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("POST", "/predictions"), ("POST", "/events"), ("GET", "/models")])
def test_every_operation_needs_the_api_key(method, path):
    api, services = make()
    body = json.dumps(load_event("reading.json")).encode() if method == "POST" else b""
    for headers in [{"Content-Type": "application/json"}, {"x-api-key": "wrong", "Content-Type": "application/json"}]:
        reply = api.handle(method, path, headers, body)
        assert reply.status == 403
        assert reply.json()["error"] == "Forbidden"
    assert services.calls == []
    assert api.handle(method, path, HEADERS, body).status in {200, 202}


def test_security_declared_only_at_the_root_is_not_enforced_as_on_aws():
    props = load_template()["Resources"]["Api"]["Properties"]
    definition = copy.deepcopy(resolve(props["DefinitionBody"], context()))
    definition["security"] = [{"api_key": []}]
    for item in definition["paths"].values():
        for operation in item.values():
            operation.pop("security")

    api = RestApi(definition, props["GatewayResponses"], StandIn(), KEY)

    assert api.handle("GET", "/models", {}, b"").status == 200


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/predictions"), ("GET", "/events")])
def test_an_unknown_route_or_method_is_api_gateways_403(method, path):
    api, _ = make()
    reply = api.handle(method, path, HEADERS, b"")
    assert reply.status == 403
    assert reply.json()["error"] == "Forbidden"


def test_a_body_that_is_not_json_by_content_type_is_a_415():
    api, services = make()
    reply = post(api, "/predictions", load_event("reading.json"), {**HEADERS, "Content-Type": "text/plain"})
    assert reply.status == 415
    assert services.calls == []


def test_a_body_over_api_gateways_payload_quota_is_a_413():
    api, _ = make()
    assert post(api, "/predictions", b" " * (MAX_PAYLOAD_BYTES + 1)).status == 413


# --- the mapping templates -------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=40), number=st.floats(allow_nan=False, allow_infinity=False))
def test_the_request_template_hands_the_workflow_exactly_the_body(text, number):
    api, services = make()
    body = {**named(a=text or None, b=number)}

    post(api, "/events", body)

    sent = services.calls[-1][1]
    assert json.loads(sent["input"]) == body
    assert sent["stateMachineArn"].endswith(":stateMachine:nrt-local-events")


def test_escape_javascript_escapes_as_java_does():
    assert escape_javascript("a'b\"c/\\\né\U0001f600") == "a\\'b\\\"c\\/\\\\\\n\\u00E9\\uD83D\\uDE00"


@pytest.mark.parametrize("path", ["/predictions", "/events"])
def test_a_body_over_64000_characters_is_a_413_before_any_execution_starts(path):
    api, services = make()
    body = {**load_event("reading.json"), "data": [0.123456789] * 6000}
    assert len(json.dumps(body)) > 64_000

    reply = post(api, path, body)

    assert reply.status == 413
    assert reply.json()["error"] == "PayloadTooLarge"
    assert services.calls[-1][1]["input"] == "{}"  # Step Functions refused the name: nothing ran


@pytest.mark.parametrize("path", ["/predictions", "/events"])
def test_the_body_limit_counts_utf16_units_as_vtls_java_strings_do(path):
    api, services = make()
    name = "\U0001f600" * 32_000  # 32,000 characters, 64,000 UTF-16 units, 128,000 UTF-8 bytes
    raw = json.dumps(named(**{name: 1}), ensure_ascii=False).encode()

    reply = post(api, path, raw)

    assert reply.status == 413
    assert services.calls[-1][1]["input"] == "{}"


def aws_error(status: int, type_: str) -> Any:
    def answer(action: str, request: dict[str, Any]) -> tuple[int, bytes]:
        return status, json.dumps({"__type": type_, "message": "m"}).encode()

    return answer


@pytest.mark.parametrize("path", ["/predictions", "/events"])
@pytest.mark.parametrize(
    ("status", "type_", "expected"),
    [
        (400, "com.amazonaws.swf.service.v2.model#ThrottlingException", 429),
        (400, "ThrottlingException", 429),
        (400, "AccessDeniedException", 500),
        (400, "StateMachineDoesNotExist", 500),
        (500, "InternalFailure", 503),
    ],
)
def test_step_functions_errors_are_told_apart_by_type(path, status, type_, expected):
    api, _ = make(aws_error(status, type_))

    reply = post(api, path, load_event("reading.json"))

    assert reply.status == expected
    assert reply.json()["status"] == expected
    # A throttled caller is told when to come back; nobody else is.
    assert reply.headers.get("Retry-After") == ("1" if expected == 429 else None)


@pytest.mark.parametrize("status", [400, 404, 409, 429, 503])
def test_a_failed_execution_answers_with_the_status_its_cause_carries(status):
    cause = json.dumps({"status": status, "error": "E", "message": "m"}, separators=(",", ":"))
    api, _ = make(lambda action, request: (200, json.dumps({"status": "FAILED", "cause": cause}).encode()))

    reply = post(api, "/predictions", load_event("reading.json"))

    assert (reply.status, reply.json()) == (status, {"status": status, "error": "E", "message": "m"})
    assert reply.headers.get("Retry-After") == ("1" if status == 429 else None)


def test_a_prediction_answers_without_retry_after():
    output = json.dumps({"prediction": 1})
    api, _ = make(lambda action, request: (200, json.dumps({"status": "SUCCEEDED", "output": output}).encode()))

    reply = post(api, "/predictions", load_event("reading.json"))

    assert reply.status == 200
    assert "Retry-After" not in reply.headers


def test_the_usage_plans_throttle_answer_carries_its_static_retry_after():
    api, _ = make()
    context = request_context("POST", "/predictions")

    throttled = api.gateway_response(GatewayError("THROTTLED"), context)
    quota = api.gateway_response(GatewayError("QUOTA_EXCEEDED"), context)

    assert (throttled.status, throttled.headers.get("Retry-After")) == (429, "1")
    assert (quota.status, quota.headers.get("Retry-After")) == (429, None)  # a day's quota: no second will do


@pytest.mark.parametrize("status", [400, 404, 409])
def test_a_client_error_the_execution_answered_as_its_output_keeps_its_status(status):
    output = json.dumps({"status": status, "error": "E", "message": "m"}, separators=(",", ":"))
    api, _ = make(lambda action, request: (200, json.dumps({"status": "SUCCEEDED", "output": output}).encode()))

    reply = post(api, "/predictions", load_event("reading.json"))

    assert (reply.status, reply.json()) == (status, {"status": status, "error": "E", "message": "m"})


def test_an_execution_that_failed_without_an_answer_is_a_503():
    api, _ = make(lambda action, request: (200, b'{"status": "FAILED", "error": "States.DataLimitExceeded"}'))
    reply = post(api, "/predictions", load_event("reading.json"))
    assert reply.status == 503


def test_events_answers_202_with_the_request_id_as_the_execution_name():
    api, services = make()
    reply = post(api, "/events", load_event("reading.json"))
    assert reply.status == 202
    assert reply.json()["id"] == services.calls[-1][1]["name"]


def test_a_status_without_a_method_response_is_a_500_as_on_aws():
    props = load_template()["Resources"]["Api"]["Properties"]
    definition = copy.deepcopy(resolve(props["DefinitionBody"], context()))
    definition["paths"]["/events"]["post"]["responses"] = {"202": {"description": "accepted"}}
    api = RestApi(definition, props["GatewayResponses"], StandIn(aws_error(400, "ThrottlingException")), KEY)

    reply = post(api, "/events", load_event("reading.json"))

    assert reply.status == 500
    assert reply.json()["error"] == "InternalError"


def test_gateway_responses_get_simple_substitution_not_vtl():
    props = load_template()["Resources"]["Api"]["Properties"]
    responses = copy.deepcopy(props["GatewayResponses"])
    responses["BAD_REQUEST_BODY"]["ResponseTemplates"]["application/json"] = (
        '{"message": "$util.escapeJavaScript($context.error.validationErrorString)"}'
    )
    api = RestApi(resolve(props["DefinitionBody"], context()), responses, StandIn(), KEY)

    reply = post(api, "/predictions", {"sensor": "s"})

    assert reply.body.startswith(b'{"message": "$util.escapeJavaScript([')  # left as written, as on AWS


def test_the_models_route_is_the_lambda_proxy_answer():
    api, _ = make()
    reply = api.handle("GET", "/models", HEADERS, b"")
    assert (reply.status, reply.json()) == (200, {"models": []})


def test_mapping_templates_compile_once_when_the_api_is_made():
    api, _ = make()
    templates = [
        t for op in api.operations.values() for t in [*op.request_templates.values(), *op.response_templates.values()]
    ]
    assert templates and all(t.root_element is not None for t in templates)
