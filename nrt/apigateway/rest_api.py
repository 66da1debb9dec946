"""The local API Gateway: runs the REST API that template.yaml defines, as API Gateway runs it
(its VTL context in vtl.py, strict JSON and validation messages in validation.py).

Nothing here knows this project's routes. The template's OpenAPI body gives the routes, the
per-operation security, the request validator and models, the integrations with their request
and response mapping templates and method responses; the Api resource gives the gateway
responses. Mapping templates run on a Velocity engine made for AWS's dialect (airspeed-ext)
with `$input`, `$util` and `$context` as API Gateway defines them; gateway responses get only
the simple substitutions API Gateway applies (they are not VTL). What API Gateway would refuse
at run time is refused here the same way: an integration response that selects a status with no
method response, or no integration response at all, is an API_CONFIGURATION_ERROR (500).

The AWS services behind the integrations are reached through `Services`, which the local
runtime provides (Step Functions on the embedded AWS, Lambda handlers in process).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import airspeed
from jsonschema import Draft4Validator

from nrt.apigateway.models import request_model
from nrt.apigateway.validation import (
    NotStrictJson,
    cut_message,
    strict_json,
    validation_error_string,
)
from nrt.apigateway.vtl import render
from nrt.template import LocalContext, load_template, resolve

LOG = logging.getLogger("nrt.apigateway.rest_api")

# API Gateway's payload quota for REST APIs (not adjustable); REQUEST_TOO_LARGE above it.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024

# Each gateway response type: its default status and message (API Gateway's own).
DEFAULT_RESPONSES: dict[str, tuple[int, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "INVALID_API_KEY": (403, "Forbidden"),
    "BAD_REQUEST_BODY": (400, "Invalid request body"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "Unsupported Media Type"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "THROTTLED": (429, "Too Many Requests"),
    "API_CONFIGURATION_ERROR": (500, "Internal server error"),
    "INTEGRATION_FAILURE": (504, "Internal server error"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out"),
}
# Gateway response types API Gateway does not let a REST API customise.
NOT_CUSTOMISABLE = {"REQUEST_TOO_LARGE"}


@dataclass(frozen=True)
class Reply:
    """What the gateway sends back: status, JSON-ish body bytes, headers; and, not sent, the
    validator's detail of a refused body (what API Gateway writes to its execution log)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    detail: str = ""

    def json(self) -> Any:
        return json.loads(self.body)


class Services(Protocol):
    """The AWS services integrations call: (HTTP status, response body) as AWS would answer."""

    def call(self, service: str, action: str, request: dict[str, Any]) -> tuple[int, bytes]: ...

    def invoke(self, function_arn: str, event: dict[str, Any]) -> dict[str, Any]: ...


class GatewayError(Exception):
    """API Gateway answers with one of its gateway responses instead of the integration's."""

    def __init__(self, response_type: str, message: str | None = None, validation: str = "") -> None:
        super().__init__(message or DEFAULT_RESPONSES.get(response_type, (500, "Internal server error"))[1])
        self.response_type = response_type
        self.message = str(self)
        self.validation = validation


# --- $input, $util, $context ------------------------------------------------------------------


# --- the request contract ----------------------------------------------------------------------


# --- the API ---------------------------------------------------------------------------------


@dataclass
class Operation:
    method: str
    path: str
    spec: dict[str, Any]
    needs_key: bool
    validator: Draft4Validator | None
    request_templates: dict[str, airspeed.Template]
    response_templates: dict[str, airspeed.Template]

    @property
    def integration(self) -> dict[str, Any]:
        found: dict[str, Any] = self.spec["x-amazon-apigateway-integration"]
        return found

    @property
    def declared(self) -> set[int]:
        return {int(code) for code in self.spec.get("responses", {}) if code.isdigit()}


def _api_key_schemes(definition: dict[str, Any]) -> set[str]:
    schemes = definition.get("components", {}).get("securitySchemes", {})
    return {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header" and scheme.get("name") == "x-api-key"
    }


class RestApi:
    """One REST API definition, ready to answer requests. Templates compile once, here."""

    def __init__(
        self,
        definition: dict[str, Any],
        gateway_responses: dict[str, Any],
        services: Services,
        api_key: str | None = None,
    ) -> None:
        self.services = services
        self.api_key = api_key
        self.gateway_responses = gateway_responses
        self.operations: dict[tuple[str, str], Operation] = {}
        key_schemes = _api_key_schemes(definition)
        validators = definition.get("x-amazon-apigateway-request-validators", {})
        default_validator = definition.get("x-amazon-apigateway-request-validator")
        schemas = definition.get("components", {}).get("schemas", {})
        for path, item in definition.get("paths", {}).items():
            for method, spec in item.items():
                # API Gateway reads security per operation only; the root's is ignored.
                needs_key = any(set(req) & key_schemes for req in spec.get("security", []))
                chosen = validators.get(spec.get("x-amazon-apigateway-request-validator", default_validator), {})
                validator = None
                if chosen.get("validateRequestBody"):
                    content = spec.get("requestBody", {}).get("content", {}).get("application/json", {})
                    if "schema" in content:
                        # The draft-4 model the import keeps, not the OpenAPI text (models.py).
                        validator = Draft4Validator(request_model(content["schema"], schemas))
                integration = spec.get("x-amazon-apigateway-integration", {})
                requests = {
                    media: airspeed.Template(text) for media, text in integration.get("requestTemplates", {}).items()
                }
                responses = {
                    pattern: airspeed.Template(r["responseTemplates"]["application/json"])
                    for pattern, r in integration.get("responses", {}).items()
                    if "application/json" in r.get("responseTemplates", {})
                }
                for template in [*requests.values(), *responses.values()]:
                    template.ensure_compiled()
                self.operations[(method.upper(), path)] = Operation(
                    method.upper(), path, spec, needs_key, validator, requests, responses
                )

    @classmethod
    def from_template(
        cls, ctx: LocalContext, services: Services, api_key: str | None = None, logical_id: str = "Api"
    ) -> RestApi:
        props = load_template()["Resources"][logical_id]["Properties"]
        definition = resolve(props["DefinitionBody"], ctx)
        return cls(definition, props.get("GatewayResponses", {}), services, api_key)

    # -- one request -------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        context = request_context(method, path)
        try:
            return self._handle(method, path, {k.lower(): v for k, v in headers.items()}, body, context)
        except GatewayError as failure:
            return self.gateway_response(failure, context)

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes, context: dict[str, Any]) -> Reply:
        operation = self._authorised(method, path, headers, body)
        integration = operation.integration
        if integration.get("type") == "aws_proxy":
            return self._proxy(operation, method, path, headers, body, context)
        request = self._integration_request(operation, headers, body, context)
        function_arn = _lambda_function(integration["uri"])
        if function_arn is not None:
            return self._lambda(operation, function_arn, request, headers, context)
        service, action = _service_action(integration["uri"])
        status, answer = self.services.call(service, action, request)
        return self._respond(operation, status, answer, headers, context)

    def _lambda(
        self,
        operation: Operation,
        function_arn: str,
        event: dict[str, Any],
        headers: dict[str, str],
        context: dict[str, Any],
    ) -> Reply:
        """A Lambda function behind an `aws` (non-proxy) integration: the mapped request is its
        event; its result takes the `default` integration response, and a function error the
        one whose pattern matches its errorMessage (else `default`), as API Gateway selects them."""
        try:
            result = self.services.invoke(function_arn, event)
        except Exception as exc:
            LOG.exception("function %s failed", function_arn)
            error = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            chosen = _error_response(operation.integration.get("responses", {}), str(exc))
            return self._respond(operation, 200, json.dumps(error).encode(), headers, context, chosen)
        chosen = _default_response(operation.integration.get("responses", {}))
        return self._respond(operation, 200, json.dumps(result).encode(), headers, context, chosen)

    def _authorised(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Operation:
        """The operation, once the payload quota, the route and the API key let the request in."""
        if len(body) > MAX_PAYLOAD_BYTES:
            raise GatewayError("REQUEST_TOO_LARGE")
        operation = self.operations.get((method, path))
        if operation is None:
            # API Gateway says the same for an unknown path and an undeclared method.
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
        if operation.needs_key and self.api_key is not None and not same_key(headers.get("x-api-key"), self.api_key):
            raise GatewayError("INVALID_API_KEY")
        return operation

    def _integration_request(
        self, operation: Operation, headers: dict[str, str], body: bytes, context: dict[str, Any]
    ) -> Any:
        """The body validated, then mapped by the request template of its media type."""
        media = headers.get("content-type", "application/json").split(";", 1)[0].strip().lower()
        template = operation.request_templates.get(media)
        if template is None and operation.integration.get("passthroughBehavior") == "never":
            raise GatewayError("UNSUPPORTED_MEDIA_TYPE")
        text = _decode(body)
        if operation.validator is not None and media == "application/json":
            self._validate(operation.validator, text)
        request_text = render(template, text, headers, context) if template is not None else text
        try:
            return json.loads(request_text)
        except ValueError as exc:
            raise GatewayError("API_CONFIGURATION_ERROR", "Internal server error") from exc

    def _validate(self, validator: Draft4Validator, text: str) -> None:
        try:
            instance = strict_json(text)
        except NotStrictJson as exc:
            raise GatewayError("BAD_REQUEST_BODY", validation=f"[{exc}]") from None
        except (ValueError, RecursionError) as exc:
            raise GatewayError("BAD_REQUEST_BODY", validation=cut_message(f"[the body is not JSON: {exc}]")) from None
        errors = sorted(validator.iter_errors(instance), key=lambda e: (list(e.absolute_path), e.message))
        if errors:
            raise GatewayError("BAD_REQUEST_BODY", validation=validation_error_string(errors))

    def _respond(
        self,
        operation: Operation,
        status: int,
        answer: bytes,
        headers: dict[str, str],
        context: dict[str, Any],
        chosen: str | None = None,
    ) -> Reply:
        if chosen is None:
            chosen = _integration_response(operation.integration.get("responses", {}), status)
        status_code = int(operation.integration["responses"][chosen]["statusCode"])
        template = operation.response_templates.get(chosen)
        text = _decode(answer)
        out = render(template, text, headers, context) if template is not None else text
        override = context["responseOverride"]["status"]
        if isinstance(override, int) and 100 <= override < 600:
            status_code = override
        if status_code not in operation.declared:
            # "Execution failed due to configuration error: Output mapping refers to an invalid
            # method response": API Gateway answers 500 instead.
            raise GatewayError("API_CONFIGURATION_ERROR")
        headers = {"Content-Type": "application/json"}
        headers.update({str(k): str(v) for k, v in context["responseOverride"]["header"].items()})
        return Reply(status_code, out.strip().encode("utf-8"), headers)

    def _proxy(
        self,
        operation: Operation,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        context: dict[str, Any],
    ) -> Reply:
        event = {
            "resource": path,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "queryStringParameters": None,
            "body": _decode(body) or None,
            "isBase64Encoded": False,
            "requestContext": {"requestId": context["requestId"], "resourcePath": path, "httpMethod": method},
        }
        function_arn = operation.integration["uri"].split("/functions/", 1)[1].rsplit("/invocations", 1)[0]
        try:
            result = self.services.invoke(function_arn, event)
            return Reply(
                int(result["statusCode"]),
                str(result.get("body", "")).encode("utf-8"),
                {str(k): str(v) for k, v in (result.get("headers") or {}).items()},
            )
        except Exception as exc:
            # A function error or a malformed proxy answer: API Gateway's 502.
            return Reply(502, json.dumps({"message": f"Internal server error ({type(exc).__name__})"}).encode())

    # -- gateway responses --------------------------------------------------------------------

    def gateway_response(self, failure: GatewayError, context: dict[str, Any]) -> Reply:
        default_status, _ = DEFAULT_RESPONSES.get(failure.response_type, (500, ""))
        family = "DEFAULT_4XX" if default_status < 500 else "DEFAULT_5XX"
        if failure.response_type in NOT_CUSTOMISABLE:
            spec: dict[str, Any] = {}
        else:
            spec = self.gateway_responses.get(failure.response_type) or self.gateway_responses.get(family) or {}
        status = int(spec.get("StatusCode") or default_status)
        template = spec.get("ResponseTemplates", {}).get("application/json")
        if template is None:
            body = json.dumps({"message": failure.message})
        else:
            values = {
                "$context.error.messageString": json.dumps(failure.message),
                "$context.error.message": failure.message,
                "$context.error.responseType": failure.response_type,
                # As AWS documents it: the validator's text, not quoted and not escaped (only
                # messageString is), so a template that quotes it may not be JSON.
                "$context.error.validationErrorString": failure.validation,
                "$context.requestId": context["requestId"],
                "$context.resourcePath": context["resourcePath"],
                "$context.httpMethod": context["httpMethod"],
            }
            # Simple substitution, longest name first; anything else stays as written.
            pattern = re.compile("|".join(re.escape(k) for k in sorted(values, key=len, reverse=True)))
            body = pattern.sub(lambda m: values[m.group(0)], template)
        headers = {"Content-Type": "application/json", **static_headers(spec)}
        return Reply(status, body.encode("utf-8"), headers, detail=failure.validation)


def static_headers(spec: dict[str, Any]) -> dict[str, str]:
    """A gateway response's headers with static values ('1', quoted as API Gateway wants them);
    values taken from the request are not mapped locally."""
    headers = spec.get("ResponseParameters", {}).get("Headers", {})
    return {
        str(name): str(value)[1:-1]
        for name, value in headers.items()
        if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "'"
    }


def request_context(method: str, path: str) -> dict[str, Any]:
    """$context for one request: its id, method and resource, and the response overrides."""
    return {
        "requestId": str(uuid.uuid4()),
        "httpMethod": method,
        "resourcePath": path,
        "responseOverride": {"status": None, "header": {}},
    }


def same_key(given: str | None, expected: str) -> bool:
    """The API key, compared in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _integration_response(responses: dict[str, Any], status: int) -> str:
    """The integration response whose selection pattern matches the status, else `default`."""
    chosen = next(
        (p for p in responses if p != "default" and re.fullmatch(p, str(status))),
        "default" if "default" in responses else None,
    )
    if chosen is None:
        raise GatewayError("API_CONFIGURATION_ERROR")
    return chosen


def _default_response(responses: dict[str, Any]) -> str:
    """A Lambda function's result: the default integration response (API Gateway: "No match for
    output mapping and no default output mapping configured" without one, a 500)."""
    if "default" not in responses:
        raise GatewayError("API_CONFIGURATION_ERROR")
    return "default"


def _error_response(responses: dict[str, Any], message: str) -> str:
    """A Lambda function's error: the response whose pattern matches its errorMessage, else default."""
    chosen = next((p for p in responses if p != "default" and re.fullmatch(p, message, re.DOTALL)), None)
    return chosen or _default_response(responses)


def _lambda_function(uri: str) -> str | None:
    """arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations ->
    the function's ARN; None for any other integration URI."""
    match = re.fullmatch(r"arn:[^:]+:apigateway:[^:]+:lambda:path/[^/]+/functions/(.+)/invocations", uri)
    return None if match is None else match.group(1)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _service_action(uri: str) -> tuple[str, str]:
    """arn:aws:apigateway:<region>:<service>:action/<Action> -> (service, Action)."""
    match = re.fullmatch(r"arn:[^:]+:apigateway:[^:]+:([^:]+):action/(\w+)", uri)
    if match is None:
        raise GatewayError("API_CONFIGURATION_ERROR")
    return match.group(1), match.group(2)
