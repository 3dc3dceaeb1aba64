"""JSON mode through the official SDK: responseSchema (pydantic and dict), responseJsonSchema
(also everyday pydantic schemas: discriminated unions, sets, HttpUrl, constrained strings, each
answer validated by pydantic and against the whole schema), text/x.enum, JSON without a schema,
streaming, errors, and the Interactions API's response_format — always bare, always valid,
whatever the (random) model wants to say."""

from __future__ import annotations

import enum
import json
from typing import Annotated, Any, Literal

import pytest
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel, Field, HttpUrl, TypeAdapter, constr

from tests.media_factory import image_bytes

jsonschema = pytest.importorskip("jsonschema")
pytest.importorskip("xgrammar")


class Recipe(BaseModel):
    recipe_name: str = Field(max_length=30)
    servings: int = Field(ge=1, le=12)
    ingredients: list[str] = Field(max_length=3)
    vegan: bool


class Instrument(enum.Enum):
    PERCUSSION = "Percussion"
    STRING = "String"
    WOODWIND = "Woodwind"
    BRASS = "Brass"
    KEYBOARD = "Keyboard"


def _config(**kwargs: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(temperature=1.0, max_output_tokens=160, **kwargs)


def test_pydantic_response_schema_parses(client: Any) -> None:
    for seed in range(3):
        response = client.models.generate_content(
            model="gemini-2.5-flash",
            contents="List a few popular cookie recipes.",
            config=_config(
                seed=seed, response_mime_type="application/json", response_schema=list[Recipe]
            ),
        )
        recipes = TypeAdapter(list[Recipe]).validate_json(response.text)
        assert response.parsed == recipes  # the SDK's own parsing agrees
        assert response.text.lstrip()[0] == "[" and "```" not in response.text


def test_dict_response_schema_and_property_ordering(client: Any) -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "zebra": {"type": "STRING", "enum": ["a", "b"]},
            "apple": {"type": "INTEGER", "minimum": 0, "maximum": 9},
            "mango": {"type": "NUMBER", "nullable": True},
        },
        "required": ["zebra", "apple", "mango"],
        "propertyOrdering": ["zebra", "mango", "apple"],
    }
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Describe the fruit.",
        config=_config(seed=1, response_mime_type="application/json", response_schema=schema),
    )
    data = json.loads(response.text)
    assert list(data) == ["zebra", "mango", "apple"]
    assert data["zebra"] in ("a", "b") and 0 <= data["apple"] <= 9


def test_response_json_schema(client: Any) -> None:
    schema = {
        "type": "object",
        "properties": {
            "caption": {"type": "string", "maxLength": 40},
            "objects": {
                "type": "array",
                "items": {"type": "string", "enum": ["cup", "plate", "fork"]},
                "maxItems": 4,
            },
        },
        "required": ["caption", "objects"],
        "additionalProperties": False,
    }
    contents = [types.Part.from_bytes(data=image_bytes(320, 240), mime_type="image/jpeg"), "?"]
    for seed in range(3):
        response = client.models.generate_content(
            model="gemini-2.5-flash",
            contents=contents,
            config=_config(
                seed=seed, response_mime_type="application/json", response_json_schema=schema
            ),
        )
        jsonschema.validate(json.loads(response.text), schema)


def test_json_without_a_schema_is_any_bare_json(client: Any) -> None:
    for seed in range(5):
        response = client.models.generate_content(
            model="gemini-2.5-flash",
            contents="Give me JSON.",
            config=_config(seed=seed, response_mime_type="application/json"),
        )
        json.loads(response.text)
        assert response.text == response.text.strip()


def test_enum_classification(client: Any) -> None:
    for seed in range(8):
        response = client.models.generate_content(
            model="gemini-2.5-flash",
            contents=[
                types.Part.from_bytes(data=image_bytes(200, 200), mime_type="image/jpeg"),
                "What kind of instrument is this?",
            ],
            config=_config(seed=seed, response_mime_type="text/x.enum", response_schema=Instrument),
        )
        assert response.text in {i.value for i in Instrument}
        assert response.parsed == Instrument(response.text)
    dict_enum = {"type": "STRING", "enum": ["Yes", "No"]}
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Is it a cat?",
        config=_config(response_mime_type="text/x.enum", response_schema=dict_enum),
    )
    assert response.text in ("Yes", "No")


def test_streamed_json_joins_to_valid_json(client: Any) -> None:
    config = _config(seed=2, response_mime_type="application/json", response_schema=list[Recipe])
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Recipes?", config=config
        )
    )
    TypeAdapter(list[Recipe]).validate_json("".join(c.text or "" for c in chunks))


def test_thinking_budget_zero_is_accepted(client: Any) -> None:
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Recipes?",
        config=_config(
            seed=3,
            response_mime_type="application/json",
            response_schema=list[Recipe],
            thinking_config=types.ThinkingConfig(thinking_budget=0, include_thoughts=False),
        ),
    )
    TypeAdapter(list[Recipe]).validate_json(response.text)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (
            {
                "response_mime_type": "application/json",
                "response_json_schema": {"$ref": "#/$defs/Missing"},
            },
            "$ref",
        ),
        (
            {
                "response_mime_type": "application/json",
                "response_json_schema": {
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "required": ["b"],
                },
            },
            "'b'",
        ),
        ({"response_mime_type": "application/xml"}, "application/xml"),
        ({"response_mime_type": "text/x.enum"}, "enum"),
        (
            {
                "response_mime_type": "application/json",
                "response_json_schema": {"type": "wordy"},
            },
            "wordy",
        ),
    ],
)
def test_invalid_requests_are_invalid_argument(
    client: Any, config: dict[str, Any], words: str
) -> None:
    with pytest.raises(genai_errors.ClientError) as err:
        client.models.generate_content(
            model="gemini-2.5-flash",
            contents="x",
            config=types.GenerateContentConfig(**config),
        )
    assert err.value.code == 400 and err.value.status == "INVALID_ARGUMENT"
    assert words in err.value.message


def test_interactions_response_format(client: Any) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer", "minimum": 0, "maximum": 99}},
        "required": ["answer"],
    }
    for response_format in (
        {"type": "text", "mime_type": "application/json", "schema": schema},
        [{"type": "text", "mime_type": "application/json", "schema": schema}],
    ):
        interaction = client.interactions.create(
            model="gemini-2.5-flash",
            input="How many?",
            response_format=response_format,
            generation_config={"max_output_tokens": 64, "thinking_level": "minimal"},
        )
        jsonschema.validate(json.loads(interaction.steps[-1].content[0].text), schema)


def test_interactions_response_format_errors(server: Any) -> None:
    import httpx

    body = {
        "model": "gemini-2.5-flash",
        "input": "x",
        "response_format": {"type": "image", "mime_type": "image/png"},
    }
    r = httpx.post(f"{server.url}/v1beta/interactions", json=body, timeout=60)
    assert r.status_code == 400 and "response_format" in r.text


# --- everyday pydantic schemas: the whole JSON Schema, as clients send it -------------------


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=1, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class PetAnswer(BaseModel):  # oneOf + discriminator + $defs/$ref
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]


class Tags(BaseModel):  # uniqueItems: checked after decoding, retried with one item
    tags: set[str] = Field(min_length=1)


class Colors(BaseModel):  # uniqueItems over two values: duplicates are likely, then retried
    colors: set[Literal["red", "green"]]


class Link(BaseModel):  # format uri + minLength/maxLength
    homepage: HttpUrl


class Nick(BaseModel):  # a length folded into a simple pattern
    nick: constr(min_length=2, max_length=30, pattern=r"^[a-z]+$")  # type: ignore[valid-type]


SEEDS = 20


@pytest.mark.parametrize("model", [PetAnswer, Tags, Colors, Link, Nick], ids=lambda m: m.__name__)
def test_pydantic_json_schemas_hold_for_every_answer(client: Any, model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    for seed in range(SEEDS):
        response = client.models.generate_content(
            model="gemini-2.5-flash",
            contents="Answer in JSON.",
            config=_config(
                seed=seed, response_mime_type="application/json", response_json_schema=schema
            ),
        )
        model.model_validate_json(response.text)  # what the client will do with it
        # the whole schema too: pydantic would silently deduplicate a set, for one
        jsonschema.validate(json.loads(response.text), schema)


def test_a_checked_schema_streams_as_one_validated_chunk(client: Any) -> None:
    config = _config(
        seed=4, response_mime_type="application/json", response_json_schema=Tags.model_json_schema()
    )
    chunks = [
        c.text
        for c in client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Tags?", config=config
        )
        if c.text
    ]
    assert len(chunks) == 1  # buffered until checked: never invalid JSON, then an error
    tags = Tags.model_validate_json(chunks[0])
    assert len(json.loads(chunks[0])["tags"]) == len(tags.tags)
