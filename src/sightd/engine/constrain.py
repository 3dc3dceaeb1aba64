"""Response formats → decoding constraints: what decoding enforces, and what is checked after.

Gemini takes `responseMimeType` (`text/plain`, `application/json`, `text/x.enum`) with either
`responseSchema` (an OpenAPI subset) or `responseJsonSchema` (JSON Schema; Gemini documents that
the full language may be sent and that `oneOf` is read as `anyOf`). `sightd.engine.schema` first
turns either into the caller's whole schema as standard JSON Schema (genuinely invalid schemas
are INVALID_ARGUMENT there); `sightd.engine.reduce` reduces that to the subset xgrammar
enforces, only ever wider than the caller's schema (a valid answer is never forbidden) but for
a few deliberate narrowings listed there (patterns match the whole string, `format: "uri"` is an
http(s) URL, ...); `responseSchema` properties come out in `propertyOrdering` order, else
alphabetically, as Gemini does.

Whatever decoding cannot enforce is dropped from the grammar, and the constraint then carries
the whole schema (`JsonOutput.full_schema_json`) so `sightd.services.checked` validates the
answer against it: `uniqueItems`, `not`, `maxProperties` (unless only fewer members can be
decoded), `if`/`then`/`else`, `patternProperties`, `propertyNames`, `dependent*`, `contains`,
a `pattern` using regex features xgrammar lacks (backreferences, lookaround, `\\p{..}`, ...),
a non-integer `multipleOf` on a number, lengths beside a pattern or format (folded into the
pattern instead when it is one character class with a quantifier, e.g. `^[a-z]+$`), an `allOf`
that cannot be merged into one schema, `anyOf` or `$ref` beside other constraints. Other
string formats are annotations (as in JSON Schema 2020-12): decoded as any string, not asserted
by the check.

`stricter` gives the grammar a violating answer is retried under, where a narrower one exists:
`uniqueItems` over at most 5 choices (an enum, a const, booleans) → each set of distinct
choices in the schema's order, else with `minItems` ≤ 1 → at most one item; `maxProperties`
→ only the required members; a number's `multipleOf` p/q → integers that are multiples of p.

Pure functions, no engine imports: the API layer calls them while parsing a request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sightd.engine.base import ChoiceOutput, JsonOutput, OutputConstraint
from sightd.engine.reduce import BOUNDED_CHAR, HTTP_URL, MAX_SET_CHOICES, Reducer
from sightd.engine.schema import ANNOTATIONS, canonical_schema
from sightd.errors import InvalidArgument

__all__ = ["BOUNDED_CHAR", "HTTP_URL", "MAX_SET_CHOICES", "constraint_for", "stricter"]

TEXT_MIME = "text/plain"
JSON_MIME = "application/json"
ENUM_MIME = "text/x.enum"
SUPPORTED_MIMES = (TEXT_MIME, JSON_MIME, ENUM_MIME)


def _at(field: str, name: str) -> str:
    return f"{field}.{name}" if field else name


def constraint_for(
    mime_type: str | None,
    response_schema: Any = None,
    response_json_schema: Any = None,
    *,
    field: str = "generation_config",
    schema_field: str | None = None,
) -> OutputConstraint | None:
    """The decoding constraint a generation config asks for; None for free text.

    `field` prefixes error locations (`schema_field` names the schema's own location when it
    is not `<field>.response_schema`). A schema without a MIME type means JSON (lenient:
    Gemini would refuse it). Raises InvalidArgument for unknown MIME types and invalid schemas.
    """
    mime = (mime_type or "").split(";", 1)[0].strip().lower() or None
    if response_schema is not None and response_json_schema is not None:
        raise InvalidArgument(
            "Set responseSchema or responseJsonSchema, not both.",
            field=_at(field, "response_json_schema"),
        )
    if mime is not None and mime not in SUPPORTED_MIMES:
        raise InvalidArgument(
            f"responseMimeType {mime_type!r} is not supported; use one of "
            f"{', '.join(SUPPORTED_MIMES)}.",
            field=_at(field, "response_mime_type"),
        )
    if response_json_schema is not None:
        given, name, dialect = response_json_schema, "response_json_schema", "json"
    else:
        given, name, dialect = response_schema, "response_schema", "openapi"
    where = schema_field or _at(field, name)
    if mime == ENUM_MIME:
        if given is None:
            raise InvalidArgument(
                "responseMimeType text/x.enum needs a responseSchema "
                '{"type": "STRING", "enum": [...]} listing the choices.',
                field=where,
            )
        return ChoiceOutput(enum_choices(given, where))
    if given is None:
        return JsonOutput(None) if mime == JSON_MIME else None
    if mime == TEXT_MIME:
        raise InvalidArgument(
            "A response schema needs responseMimeType application/json or text/x.enum, "
            "not text/plain.",
            field=_at(field, "response_mime_type"),
        )
    full = canonical_schema(given, dialect=dialect, where=where)
    reducer = Reducer()
    reduced = reducer.node(full, where)
    return JsonOutput(_text(reduced), _text(full) if reducer.lossy else None)


def stricter(constraint: JsonOutput) -> JsonOutput | None:
    """The narrower constraint to retry under after an answer failed the after-decoding check,
    or None when no narrower grammar exists (the answer's failure is then final)."""
    if constraint.full_schema_json is None:
        return None
    full = json.loads(constraint.full_schema_json)
    reducer = Reducer(strict=True, root=full)
    reduced = _text(reducer.node(full, "schema"))
    if not reducer.stricter or reduced == constraint.schema_json:
        return None
    return JsonOutput(reduced, constraint.full_schema_json)


def _text(schema: Any) -> str:
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


def enum_choices(schema: Any, where: str = "response_schema") -> tuple[str, ...]:
    """The choices of a `text/x.enum` schema: a STRING schema with a non-empty string enum."""
    if not isinstance(schema, Mapping):
        raise InvalidArgument("The response schema must be an object.", field=where)
    kind = str(schema.get("type", "string")).lower()
    values = schema.get("enum")
    if kind != "string" or not isinstance(values, list) or not values:
        raise InvalidArgument(
            'text/x.enum needs a schema {"type": "STRING", "enum": ["a", "b", ...]}.',
            field=f"{where}.enum",
        )
    if not all(isinstance(v, str) and v for v in values):
        raise InvalidArgument("text/x.enum choices must be non-empty strings.", field=where)
    extra = {k for k in schema if not str(k).startswith("x-")} - {"type", "enum", "format"}
    extra -= ANNOTATIONS | {"nullable"}
    if extra:
        raise InvalidArgument(
            f"text/x.enum schemas take only type and enum; {sorted(extra)[0]!r} is not supported.",
            field=f"{where}.{sorted(extra)[0]}",
        )
    return tuple(dict.fromkeys(values))


def to_json_schema(schema: Any, *, dialect: str = "json", where: str = "schema") -> dict[str, Any]:
    """`schema` (dialect "openapi" for responseSchema, "json" for JSON Schema) reduced to what
    decoding enforces (wider than the schema where it cannot enforce a keyword)."""
    return Reducer().node(canonical_schema(schema, dialect=dialect, where=where), where)
