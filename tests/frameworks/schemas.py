"""The pydantic models and the tool the framework tests hand to every client.

Chosen for the JSON Schema keywords they make each client send: plain str/int/list fields, a
discriminated union (`oneOf` + `discriminator`), `HttpUrl` (`format: uri` with `minLength`/
`maxLength`) and `set[str]` (`uniqueItems`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, HttpUrl


class Weather(BaseModel):
    city: str
    temperature_c: int
    conditions: list[str]


class Cat(BaseModel):
    kind: Literal["cat"]
    name: str
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    name: str
    good_boy: bool


class PetAnswer(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]


class Links(BaseModel):
    homepage: HttpUrl
    tags: set[str]


# The one plain tool: its JSON Schema, and the OpenAI-style declaration LiteLLM takes.
GET_WEATHER_NAME = "get_weather"
GET_WEATHER_DESCRIPTION = "Return the current weather in a city."
GET_WEATHER_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
