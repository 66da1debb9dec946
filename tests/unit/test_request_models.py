"""nrt/apigateway/models.py: the draft-4 models API Gateway keeps of the OpenAPI 3.0 schemas, and
the local API refusing to start on a keyword it cannot apply as API Gateway does."""

from __future__ import annotations

import pytest
from jsonschema import Draft4Validator

from nrt.apigateway.models import UnsupportedSchema, request_model
from nrt.template import load_template


def schemas() -> dict[str, object]:
    found: dict[str, object] = load_template()["Resources"]["Api"]["Properties"]["DefinitionBody"]["components"][
        "schemas"
    ]
    return found


def test_the_templates_request_model_keeps_every_rule_and_resolves_every_reference():
    model = request_model({"$ref": "#/components/schemas/PredictionRequest"}, schemas())

    assert model["additionalProperties"] is False
    assert model["properties"]["readings"]["items"]["additionalProperties"] is False
    assert "$ref" not in str(model)
    assert "description" not in model  # an annotation
    Draft4Validator.check_schema(model)


def test_nullable_and_the_bounds_api_gateway_does_not_apply_are_left_out_as_on_import():
    model = request_model({"type": "string", "nullable": True, "minLength": 1, "default": "x"}, {})
    assert model == {"type": "string", "minLength": 1}
    assert request_model({"type": "array", "maxItems": 2, "items": {"type": "number"}}, {}) == {
        "type": "array",
        "items": {"type": "number"},
    }


@pytest.mark.parametrize(
    ("schema", "named"),
    [
        ({"type": "object", "patternProperties": {"^a$": {"type": "number"}}}, "patternProperties"),
        ({"type": ["number", "string", "null"]}, "one type"),
        ({"type": "null"}, "one type"),
        ({"type": "string", "format": "date-time"}, "format"),
        ({"anyOf": [{"type": "number"}]}, "anyOf"),
        ({"properties": {"a": {"propertyNames": {"maxLength": 3}}}}, "propertyNames"),
        ({"$ref": "#/components/schemas/Missing"}, "Missing"),
        ({"$ref": "other.yaml#/Thing"}, "other.yaml"),
    ],
)
def test_a_keyword_not_known_to_be_kept_stops_the_local_api_naming_it(schema, named):
    with pytest.raises(UnsupportedSchema, match=named):
        request_model(schema, {})


def test_a_schema_that_refers_to_itself_is_refused():
    with pytest.raises(UnsupportedSchema, match="itself"):
        request_model({"$ref": "#/components/schemas/Loop"}, {"Loop": {"items": {"$ref": "#/components/schemas/Loop"}}})
