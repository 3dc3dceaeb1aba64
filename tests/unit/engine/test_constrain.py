"""Response formats → constraints: the MIME decisions, the OpenAPI → JSON Schema conversion,
what decoding enforces exactly, what it widens (and leaves to the after-decoding check), the
stricter grammars a violation is retried under, and the genuinely invalid schemas (400 naming
the field)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pytest

from sightd.engine.base import ChoiceOutput, JsonOutput
from sightd.engine.constrain import (
    BOUNDED_CHAR,
    HTTP_URL,
    constraint_for,
    enum_choices,
    stricter,
    to_json_schema,
)
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
            {"type": ["string", "null"], "enum": ["a", None]},
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
        ({"type": "array", "items": [{"type": "string"}]}, "items"),
        ({"type": "object", "properties": {"a": {}}, "required": ["b"]}, "required"),
        ({"type": "whatever"}, "type"),
        ({"type": "string", "minLength": -1}, "minLength"),
        ({"type": "integer", "minimum": "0"}, "minimum"),
        ({"enum": []}, "enum"),
        ({"$ref": "#/$defs/Missing"}, "$ref"),
        ({"$ref": "https://example.com/schema.json"}, "$ref"),
        ({"anyOf": []}, "anyOf"),
        ({"type": "number", "multipleOf": 0}, "multipleOf"),
        ({"type": "string", "pattern": "^[a-z]{5}$", "maxLength": 3}, "maxLength"),
        ([1, 2], "x"),
    ],
)
def test_invalid_schemas_are_400_naming_the_field(schema: Any, keyword: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        to_json_schema({"type": "object", "properties": {"x": schema}}, where="schema")
    assert err.value.field is not None and err.value.field.endswith(keyword)
    assert err.value.field.startswith("schema.properties.x")


def _pair(schema: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(what decoding enforces, the whole schema when answers are also checked after)."""
    out = constraint_for("application/json", None, schema)
    assert isinstance(out, JsonOutput) and out.schema_json is not None
    full = json.loads(out.full_schema_json) if out.full_schema_json else None
    return json.loads(out.schema_json), full


STR = {"type": "string"}


@pytest.mark.parametrize(
    ("schema", "decoded"),
    [
        # widened: decoding enforces part of it, the answer is checked against the whole
        ({"type": "array", "items": STR, "uniqueItems": True}, {"type": "array", "items": STR}),
        ({"not": STR}, {}),
        ({"type": "object", "maxProperties": 2}, {"type": "object", "additionalProperties": True}),
        ({"type": "number", "multipleOf": 0.5}, {"type": "number"}),
        (
            {"type": "object", "patternProperties": {"^x": {}}},
            {"type": "object", "additionalProperties": True},
        ),
        ({"if": STR, "then": {"minLength": 1}}, {}),
        ({"minLength": 2}, {}),  # no type: the bound applies to strings only
        (
            {"type": "string", "pattern": "a+b", "maxLength": 3},
            {"type": "string", "pattern": "a+b"},
        ),
        (
            {"type": "string", "format": "email", "maxLength": 9},
            {"type": "string", "format": "email"},
        ),
        ({"type": "string", "anyOf": [{"maxLength": 2}]}, STR),
        ({"allOf": [STR, {"type": "integer"}]}, STR),  # cannot merge: first part
        ({"type": "array", "contains": STR}, {"type": "array", "items": {}}),
        ({"type": "object", "required": ["a"]}, {"type": "object", "additionalProperties": True}),
        ({"type": "string", "pattern": "(a)\\1"}, STR),  # a backreference: checked after
        (
            {"type": "string", "pattern": "^(?!^[-+.]*$)[+-]?0*\\d*\\.?\\d*$", "maxLength": 9},
            {"type": "string", "pattern": f"^{BOUNDED_CHAR}{{0,9}}$"},
        ),
        (
            {"$ref": "#/$defs/S", "$defs": {"S": STR}, "minLength": 1},
            {"$ref": "#/$defs/S", "$defs": {"S": STR}},
        ),
    ],
)
def test_unenforceable_keywords_widen_and_are_checked(schema: Any, decoded: Any) -> None:
    enforced, full = _pair(schema)
    assert enforced == decoded
    assert full is not None  # the answer is validated against the whole schema


@pytest.mark.parametrize(
    ("schema", "decoded"),
    [
        # exact: decoding enforces all of it, nothing is checked beyond the grammar
        ({"type": "string", "x-order": 1, "title": "T", "discriminator": {}}, STR),
        ({"type": "string", "format": "uri-reference"}, STR),  # format: an annotation
        ({"type": "string", "format": "binary", "description": "d"}, STR),
        ({"type": "string", "contentEncoding": "base64"}, STR),
        ({"oneOf": [STR, {"type": "integer"}]}, {"anyOf": [STR, {"type": "integer"}]}),
        (
            {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 30},
            {"type": "string", "pattern": "^[a-z]{2,30}$"},
        ),
        (
            {"type": "string", "pattern": "\\d{3,}", "maxLength": 5},
            {"type": "string", "pattern": "^\\d{3,5}$"},
        ),
        ({"type": "integer", "multipleOf": 2.5}, {"type": "integer", "multipleOf": 5}),
        ({"type": "number", "multipleOf": 3}, {"type": "integer", "multipleOf": 3}),
        (
            {"type": "integer", "minimum": 0, "exclusiveMaximum": 9},
            {"type": "integer", "minimum": 0, "exclusiveMaximum": 9},
        ),
        (
            {"allOf": [{"$ref": "#/$defs/S"}], "$defs": {"S": STR}, "title": "x"},
            {"$ref": "#/$defs/S", "$defs": {"S": STR}},
        ),
        (
            {
                "allOf": [
                    {"type": "object", "properties": {"a": STR}, "required": ["a"]},
                    {"properties": {"b": STR}, "required": ["b"]},
                ]
            },
            {"type": "object", "properties": {"a": STR, "b": STR}, "required": ["a", "b"]},
        ),
        ({"type": "string", "format": "uri"}, {"type": "string", "pattern": HTTP_URL}),
        (  # only the declared members are decoded: never more than maxProperties
            {"type": "object", "properties": {"a": STR}, "maxProperties": 1},
            {"type": "object", "properties": {"a": STR}},
        ),
    ],
)
def test_enforced_exactly_need_no_check(schema: Any, decoded: Any) -> None:
    enforced, full = _pair(schema)
    assert enforced == decoded
    assert full is None


def test_openapi_exclusive_bounds_and_nullable_in_the_whole_schema() -> None:
    out = constraint_for(
        "application/json",
        {
            "type": "OBJECT",
            "properties": {
                "n": {
                    "type": "NUMBER",
                    "minimum": 1,
                    "exclusiveMinimum": True,
                },
                "s": {
                    "type": "ARRAY",
                    "items": {"type": "STRING"},
                    "uniqueItems": True,
                    "nullable": True,
                },
            },
        },
    )
    assert isinstance(out, JsonOutput) and out.full_schema_json is not None
    full = json.loads(out.full_schema_json)
    assert full["properties"]["n"] == {
        "type": "number",
        "exclusiveMinimum": 1,
    }
    assert full["properties"]["s"] == {
        "anyOf": [{"type": "array", "items": STR, "uniqueItems": True}, {"type": "null"}]
    }


def _exact_array(values: list[Any]) -> dict[str, Any]:
    return {
        "type": "array",
        "prefixItems": [{"const": v} for v in values],
        "items": False,
        "minItems": len(values),
        "maxItems": len(values),
    }


@pytest.mark.parametrize(
    ("schema", "retry"),
    [
        (
            {"type": "array", "items": STR, "uniqueItems": True},
            {"type": "array", "items": STR, "maxItems": 1},
        ),
        (
            {"type": "array", "items": STR, "uniqueItems": True, "minItems": 1, "maxItems": 5},
            {"type": "array", "items": STR, "minItems": 1, "maxItems": 1},
        ),
        ({"type": "number", "multipleOf": 0.5, "maximum": 4}, {"type": "integer", "maximum": 4}),
        ({"type": "number", "multipleOf": 2.5}, {"type": "integer", "multipleOf": 5}),
        (
            {"type": "array", "items": {"enum": ["r", "g"]}, "uniqueItems": True, "minItems": 1},
            {
                "anyOf": [
                    _exact_array(["r"]),
                    _exact_array(["g"]),
                    _exact_array(["r", "g"]),
                ]
            },
        ),
        (
            {
                "type": "array",
                "items": {"$ref": "#/$defs/B"},
                "uniqueItems": True,
                "minItems": 2,
                "$defs": {"B": {"type": "boolean"}},
            },
            {"anyOf": [_exact_array([True, False])], "$defs": {"B": {"type": "boolean"}}},
        ),
        (
            {
                "type": "object",
                "properties": {"a": STR, "b": STR, "c": STR},
                "required": ["a"],
                "maxProperties": 2,
            },
            {
                "type": "object",
                "properties": {"a": STR},
                "required": ["a"],
                "additionalProperties": False,
            },
        ),
        # no narrower grammar: a violation is final
        ({"type": "array", "items": STR, "uniqueItems": True, "minItems": 2}, None),
        ({"type": "object", "maxProperties": 1}, None),
        (
            {
                "type": "array",
                "items": {"enum": [1, 2, 3, 4, 5, 6]},
                "uniqueItems": True,
                "minItems": 2,
            },
            None,
        ),
        ({"oneOf": [STR, {"type": "integer"}]}, None),
        ({"type": "string", "pattern": "a+b", "maxLength": 3}, None),
    ],
)
def test_stricter_retry_grammars(schema: Any, retry: Any) -> None:
    first = constraint_for("application/json", None, schema)
    assert isinstance(first, JsonOutput)
    again = stricter(first)
    if retry is None:
        assert again is None
        return
    assert again is not None and again.schema_json is not None
    assert json.loads(again.schema_json) == retry
    assert again.full_schema_json == first.full_schema_json  # still checked against the whole


def test_pydantic_models_are_accepted_whole() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Cat(pydantic.BaseModel):
        kind: Literal["cat"]
        lives: int = pydantic.Field(ge=1, le=9)

    class Dog(pydantic.BaseModel):
        kind: Literal["dog"]
        good: bool

    class Pet(pydantic.BaseModel):
        pet: Annotated[Cat | Dog, pydantic.Field(discriminator="kind")]
        tags: set[str]
        home: pydantic.HttpUrl
        name: pydantic.constr(min_length=2, max_length=30, pattern="^[a-z]+$")  # type: ignore[valid-type]

    sent = Pet.model_json_schema()
    enforced, full = _pair(sent)
    assert full is not None and "discriminator" not in json.dumps(full)
    assert full["properties"]["pet"]["anyOf"] == sent["properties"]["pet"]["oneOf"]  # as Gemini
    props = enforced["properties"]
    assert props["pet"] == {"anyOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]}
    assert props["tags"] == {"type": "array", "items": STR}
    assert props["home"] == {"type": "string", "pattern": HTTP_URL}  # length: checked after
    assert props["name"] == {"type": "string", "pattern": "^[a-z]{2,30}$"}
    assert enforced["$defs"]["Cat"]["properties"]["kind"] == {"type": "string", "const": "cat"}


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
