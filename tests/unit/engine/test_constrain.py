"""Response formats → constraints: the MIME decisions, the OpenAPI → JSON Schema reduction, and
the keywords refused because the engine cannot enforce them (each error names its keyword)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sightd.engine.base import ChoiceOutput, JsonOutput
from sightd.engine.constrain import BOUNDED_CHAR, constraint_for, enum_choices, to_json_schema
from sightd.errors import InvalidArgument


def test_mime_decisions() -> None:
    assert constraint_for(None) is None
    assert constraint_for("text/plain") is None
    assert constraint_for("application/json") == JsonOutput(None)
    assert constraint_for("Application/JSON; charset=utf-8") == JsonOutput(None)
    schema = {"type": "STRING"}
    assert constraint_for(None, schema) == JsonOutput('{"type":"string"}')  # lenient
    enum = {"type": "STRING", "enum": ["cat", "dog", "cat"]}
    assert constraint_for("text/x.enum", enum) == ChoiceOutput(("cat", "dog"))
    assert constraint_for("text/x.enum", None, {"type": "string", "enum": ["a"]}) == ChoiceOutput(
        ("a",)
    )


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        (("text/html",), "generation_config.response_mime_type", "text/html"),
        (("text/x.enum",), "generation_config.response_schema", "enum"),
        (("text/plain", {"type": "STRING"}), "generation_config.response_mime_type", "text/plain"),
        (("application/json", {"type": "STRING"}, {"type": "string"}), None, "not both"),
        (("text/x.enum", {"type": "INTEGER", "enum": [1]}), None, "STRING"),
        (("text/x.enum", {"type": "STRING", "enum": ["a", ""]}), None, "non-empty"),
        (("text/x.enum", {"type": "STRING", "enum": ["a"], "pattern": "a"}), None, "pattern"),
    ],
)
def test_mime_errors(args: tuple[Any, ...], field: str | None, words: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        constraint_for(*args)
    assert words in err.value.message
    if field:
        assert err.value.field == field


def _openapi(schema: dict[str, Any]) -> dict[str, Any]:
    return to_json_schema(schema, dialect="openapi", where="s")


def test_openapi_recipe_schema_as_the_python_sdk_sends_it() -> None:
    # list[Recipe] from a pydantic model: properties alphabetical, property_ordering given.
    sent = {
        "type": "ARRAY",
        "title": "Placeholder",
        "items": {
            "type": "OBJECT",
            "title": "Recipe",
            "properties": {
                "ingredients": {"type": "ARRAY", "items": {"type": "STRING"}},
                "rating": {"type": "NUMBER", "nullable": True, "description": "0-5"},
                "recipe_name": {"type": "STRING", "max_length": 40, "min_length": 1},
                "servings": {"type": "INTEGER", "format": "int32", "minimum": 1},
                "spicy": {"type": "BOOLEAN"},
                "kind": {"type": "STRING", "format": "enum", "enum": ["soup", "cake"]},
            },
            "property_ordering": ["recipe_name", "ingredients", "servings"],
            "required": ["recipe_name", "ingredients"],
        },
        "min_items": 1,
        "max_items": 3,
    }
    assert _openapi(sent) == {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "recipe_name": {"type": "string", "pattern": f"^{BOUNDED_CHAR}{{1,40}}$"},
                "ingredients": {"type": "array", "items": {"type": "string"}},
                "servings": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                "kind": {"type": "string", "enum": ["soup", "cake"]},
                "rating": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                "spicy": {"type": "boolean"},
            },
            "required": ["recipe_name", "ingredients"],
        },
        "minItems": 1,
        "maxItems": 3,
    }


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "OBJECT"}, {"type": "object", "additionalProperties": True}),
        ({"type": "ARRAY"}, {"type": "array", "items": {}}),
        (
            {"type": "STRING", "nullable": True, "enum": ["a"]},
            {"type": "string", "enum": ["a", None]},
        ),
        (
            {"any_of": [{"type": "INTEGER"}, {"type": "STRING"}]},
            {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        ),
        (
            {"defs": {"X": {"type": "STRING"}}, "ref": "#/defs/X"},
            {"$ref": "#/$defs/X", "$defs": {"X": {"type": "string"}}},
        ),
        ({"type": "STRING", "format": "date-time"}, {"type": "string", "format": "date-time"}),
        ({"type": "NUMBER", "format": "double", "minimum": 0}, {"type": "number", "minimum": 0}),
        (
            {"properties": {"a": {"type": "INTEGER"}}},
            {"type": "object", "properties": {"a": {"type": "integer"}}},
        ),
    ],
)
def test_openapi_reductions(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert _openapi(schema) == expected


def test_json_schema_keeps_the_declared_order_and_pydantic_shapes() -> None:
    pydantic_like = {
        "$defs": {"Color": {"enum": ["red", "green"], "title": "Color", "type": "string"}},
        "properties": {
            "zeta": {"title": "Zeta", "type": "integer"},
            "alpha": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "color": {"$ref": "#/$defs/Color"},
            "pair": {"prefixItems": [{"type": "integer"}, {"type": "string"}], "type": "array"},
        },
        "required": ["zeta", "color"],
        "title": "Thing",
        "type": "object",
    }
    out = to_json_schema(pydantic_like)
    assert list(out["properties"]) == ["zeta", "alpha", "color", "pair"]
    assert out["$defs"] == {"Color": {"type": "string", "enum": ["red", "green"]}}
    assert out["properties"]["pair"] == {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
    }


@pytest.mark.parametrize(
    ("schema", "keyword"),
    [
        ({"type": "array", "uniqueItems": True}, "uniqueItems"),
        ({"oneOf": [{"type": "string"}]}, "oneOf"),
        ({"allOf": [{"type": "string"}]}, "allOf"),
        ({"not": {"type": "string"}}, "not"),
        ({"type": "number", "multipleOf": 0.5}, "multipleOf"),
        ({"type": "object", "maxProperties": 2}, "maxProperties"),
        ({"type": "object", "patternProperties": {"^x": {}}}, "patternProperties"),
        ({"if": {"type": "string"}, "then": {}}, "if"),
        ({"type": "string", "format": "hostname"}, "format"),
        ({"type": "string", "pattern": "a+", "maxLength": 3}, "maxLength"),
        ({"type": "string", "contentEncoding": "base64"}, "contentEncoding"),
        ({"minLength": 2}, "minLength"),  # no type: the bound could not be enforced
        ({"type": "array", "items": [{"type": "string"}]}, "items"),
        ({"type": "object", "properties": {"a": {}}, "required": ["b"]}, "required"),
        ({"type": "string", "anyOf": [{"maxLength": 2}]}, "anyOf"),
        ({"type": "whatever"}, "type"),
        ({"type": "string", "minLength": -1}, "minLength"),
        ({"type": "integer", "minimum": "0"}, "minimum"),
        ({"enum": []}, "enum"),
    ],
)
def test_unenforceable_keywords_are_named(schema: dict[str, Any], keyword: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        to_json_schema({"type": "object", "properties": {"x": schema}}, where="schema")
    assert err.value.field is not None and err.value.field.endswith(f".{keyword}")
    assert err.value.field.startswith("schema.properties.x")


def test_openapi_property_ordering_must_name_properties() -> None:
    with pytest.raises(InvalidArgument) as err:
        _openapi({"type": "OBJECT", "properties": {"a": {}}, "propertyOrdering": ["b"]})
    assert "propertyOrdering" in err.value.message


def test_enum_choices_are_deduplicated() -> None:
    assert enum_choices({"type": "STRING", "enum": ["b", "a", "b"]}) == ("b", "a")


def test_constraint_text_is_canonical_and_hashable() -> None:
    a = constraint_for("application/json", {"type": "OBJECT", "properties": {"b": {}, "a": {}}})
    b = constraint_for("application/json", {"type": "OBJECT", "properties": {"a": {}, "b": {}}})
    assert a == b and hash(a) == hash(b)
    assert isinstance(a, JsonOutput) and a.schema_json is not None
    assert list(json.loads(a.schema_json)["properties"]) == ["a", "b"]
