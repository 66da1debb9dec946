"""The request validator's side of API Gateway: strict JSON (no NaN, no number beyond a double,
no key given twice) and the validation message API Gateway gives for a JSON Schema error."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from jsonschema.exceptions import ValidationError as SchemaError

MAX_ERROR_CHARS = 160  # each failure's description: the problem, never the caller's whole input


def _where(err: SchemaError) -> str:
    return "/" + "/".join(str(p) for p in err.absolute_path)


def cut_message(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validation_error_string(errors: list[SchemaError]) -> str:
    """$context.error.validationErrorString: each failure with where it is, in brackets as AWS
    lists them. AWS's wording comes from its own validator; these say the same in plain words,
    cut short (a value in a message is shown in part). Substituted as it is, as AWS documents
    it: neither quoted nor escaped (the template's 400 therefore uses messageString)."""
    parts = [cut_message(f"{_where(e)}: {e.message}") for e in errors[:10]]
    return "[" + "; ".join(parts) + "]"


class NotStrictJson(ValueError):
    """JSON that parses, but not to what a caller can mean: a number no double holds, a key twice."""


def _reject_constant(name: str) -> float:
    raise NotStrictJson(f"{name} is not a number in JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStrictJson(f"the number {cut_message(text, 24)} is beyond a double's range")
    return value


def _double_int(text: str) -> int:
    value = int(text)
    if abs(value) > sys.float_info.max:
        raise NotStrictJson(f"the number {cut_message(text, 24)} is beyond a double's range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise NotStrictJson(f"the key {cut_message(json.dumps(key), 40)} appears twice in one object")
        found[key] = value
    return found


def strict_json(text: str) -> Any:
    """A request body as a caller can mean it: every number a double can hold (1e309 and a
    400-digit integer are not), each key once in an object (else which one counts?)."""
    return json.loads(
        text,
        parse_constant=_reject_constant,
        parse_float=_finite_float,
        parse_int=_double_int,
        object_pairs_hook=_unique_keys,
    )
