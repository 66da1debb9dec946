"""The request models API Gateway keeps when it imports the template's OpenAPI 3.0 body.

API Gateway turns each OpenAPI 3.0 schema into a JSON Schema draft-4 model and validates
request bodies with that model, not with the OpenAPI text. What it keeps is documented only as
exceptions ("important notes for REST APIs", docs/aws.md#the-request-models-what-api-gateway-keeps),
so the local API keeps exactly the same: the keywords below, resolved against the components.

- `KEPT`: OpenAPI 3.0 schema keywords the notes do not except, and that draft 4 applies the
  same way (so the local draft-4 validator refuses what API Gateway refuses).
- `DROPPED`: keywords the import does not apply (the notes' exceptions, and `nullable`, which
  an imported model is seen without), plus annotations: left out here too.
- Anything else (`patternProperties`, a list as `type`, `format`, ...) is not OpenAPI 3.0 or
  not known to be kept: the local API refuses to start on it, naming it, rather than validate
  differently from AWS.
"""

from __future__ import annotations

from typing import Any

KEPT = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "maxProperties",
        "oneOf",
        "not",
    }
)
# Not applied by API Gateway's validator after an import (its notes for REST APIs; `nullable`:
# an imported model has no null in its type), or annotations with no effect on validation.
NOT_APPLIED = frozenset(
    {"minItems", "maxItems", "exclusiveMinimum", "default", "discriminator", "readOnly", "nullable"}
)
ANNOTATIONS = frozenset({"description", "title", "example", "deprecated", "externalDocs"})
DROPPED = NOT_APPLIED | ANNOTATIONS
# The OpenAPI 3.0 types (OpenAPI 3.0.3, "Data Types"); "null" is not one of them.
TYPES = frozenset({"integer", "number", "string", "boolean", "object", "array"})
SCHEMAS_REF = "#/components/schemas/"


class UnsupportedSchema(ValueError):
    """A schema keyword the local API cannot apply as API Gateway applies it."""


def request_model(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The draft-4 model API Gateway validates a request body with, for an OpenAPI 3.0 schema
    (references resolved: API Gateway refers to each component as a model of its own)."""
    model = _model(schema, components, where="schema", seen=())
    if not isinstance(model, dict):
        raise UnsupportedSchema(f"a request body's schema must be an object, not {model!r}")
    return model


def _model(schema: Any, components: dict[str, Any], where: str, seen: tuple[str, ...]) -> Any:
    if isinstance(schema, bool):
        return schema  # additionalProperties: false / true
    if not isinstance(schema, dict):
        raise UnsupportedSchema(f"{where}: a schema must be an object, not {schema!r}")
    if "$ref" in schema:
        return _resolve(str(schema["$ref"]), components, where, seen)
    model: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED or key.startswith("x-"):
            continue
        if key not in KEPT:
            raise UnsupportedSchema(f"{where}: {key!r} is not a keyword API Gateway is known to keep on import")
        model[key] = _keyword(key, value, components, f"{where}.{key}", seen)
    return model


def _keyword(key: str, value: Any, components: dict[str, Any], where: str, seen: tuple[str, ...]) -> Any:
    if key == "type" and (not isinstance(value, str) or value not in TYPES):
        raise UnsupportedSchema(f"{where}: OpenAPI 3.0 takes one type of {sorted(TYPES)}, not {value!r}")
    if key == "properties":
        return {name: _model(sub, components, f"{where}.{name}", seen) for name, sub in value.items()}
    if key in ("items", "additionalProperties", "not"):
        return _model(value, components, where, seen)
    if key == "oneOf":
        return [_model(sub, components, f"{where}[{i}]", seen) for i, sub in enumerate(value)]
    return value


def _resolve(ref: str, components: dict[str, Any], where: str, seen: tuple[str, ...]) -> Any:
    if not ref.startswith(SCHEMAS_REF) or ref[len(SCHEMAS_REF) :] not in components:
        raise UnsupportedSchema(f"{where}: {ref} is not one of the components' schemas")
    name = ref[len(SCHEMAS_REF) :]
    if name in seen:
        raise UnsupportedSchema(f"{where}: {ref} refers to itself")
    return _model(components[name], components, name, (*seen, name))
