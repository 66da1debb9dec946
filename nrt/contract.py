"""The request contract and the workflow-outcome-to-HTTP mapping, shared by every API.

The JSON Schemas are read from the REST API's definition in template.yaml, so the local API
refuses exactly what API Gateway's request validator refuses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError as SchemaError

from nrt.template import load_template

# StartSyncExecution's input quota is 256 KiB; a bigger body can never be scored.
MAX_BODY_BYTES = 256 * 1024


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status code and JSON body."""

    status: int
    body: dict[str, Any]


def error(status: int, name: str, message: str) -> Answer:
    return Answer(status, {"status": status, "error": name, "message": message})


class RequestRejected(Exception):
    """The caller sent something the contract refuses; carries the 4xx answer."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body["message"])
        self.answer = answer


@cache
def schemas() -> dict[str, Any]:
    api = load_template()["Resources"]["Api"]["Properties"]["DefinitionBody"]
    found: dict[str, Any] = api["components"]["schemas"]
    return found


@cache
def _validator(name: str) -> Draft4Validator:
    # Local "$ref: #/components/schemas/X" resolve against a root that holds them.
    root = {"components": {"schemas": schemas()}, **schemas()[name]}
    return Draft4Validator(root)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number in JSON")


def parse_body(raw: bytes) -> Any:
    """Bytes to JSON value; refuses oversize bodies, bad encodings, NaN and Infinity."""
    if len(raw) > MAX_BODY_BYTES:
        raise RequestRejected(
            error(
                413,
                "PayloadTooLarge",
                f"request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}",
            )
        )
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise RequestRejected(error(400, "ValidationError", "body must be UTF-8 encoded JSON")) from None
    except RecursionError:
        raise RequestRejected(error(400, "ValidationError", "body is nested too deeply")) from None
    except ValueError as exc:
        raise RequestRejected(error(400, "ValidationError", f"body is not valid JSON: {exc}")) from None


def _describe(err: SchemaError) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path).lstrip(".")
    return f"{where or 'body'}: {_explain_one_of(err) or err.message}"


def _explain_one_of(err: SchemaError) -> str | None:
    """jsonschema's "not valid under any of the given schemas", in the contract's words."""
    if err.validator != "oneOf":
        return None
    options: Any = err.validator_value
    if all(set(o) == {"required"} for o in options):  # data or features, exactly one
        names = [o["required"][0] for o in options]
        given = [n for n in names if isinstance(err.instance, dict) and n in err.instance]
        if given:
            return f"has {' and '.join(given)}; send one of them, not both"
        return f"needs {' or '.join(names)}"
    if all("type" in o for o in options):  # a named feature's value
        kinds = {"number": "a number", "string": "text (1-256 characters)", "null": "null (missing)"}
        return f"{json.dumps(err.instance)[:40]} is not {', '.join(kinds.get(o['type'], o['type']) for o in options)}"
    return None


def validate_request(body: Any) -> dict[str, Any]:
    """Check a reading or a batch against the template's schema; returns it unchanged."""
    if not isinstance(body, dict):
        raise RequestRejected(error(400, "ValidationError", "body must be a JSON object"))
    name = "Batch" if "readings" in body else "Reading"
    first = next(iter(sorted(_validator(name).iter_errors(body), key=lambda e: list(e.path))), None)
    if first is not None:
        raise RequestRejected(error(400, "ValidationError", _describe(first)))
    return body


def answer_from_execution(status: str, output: str | None, cause: str | None) -> Answer:
    """Map a workflow outcome to the HTTP answer (the deployed API's VTL does the same).

    The workflow ends every failure in one Fail state whose cause is the answer itself
    ({status, error, message}); anything else that did not succeed is a 503.
    """
    if status == "SUCCEEDED" and output is not None:
        return Answer(200, json.loads(output))
    if cause and cause.startswith('{"status"'):
        body = json.loads(cause)
        return Answer(int(body["status"]), body)
    return error(503, "ModelUnavailable", f"the workflow ended with {status}")
