"""Response formats → decoding constraints: which JSON Schemas the engine can enforce, exactly.

Gemini takes `responseMimeType` (`text/plain`, `application/json`, `text/x.enum`) with either
`responseSchema` (an OpenAPI subset: uppercase types, `nullable`, `propertyOrdering`, snake_case
from Python) or `responseJsonSchema` (standard JSON Schema). Both are reduced here to the JSON
Schema subset that xgrammar enforces (probed keyword by keyword, see the tests), so the decoded
text is always valid under the caller's schema. Anything outside that subset is rejected with
INVALID_ARGUMENT naming the keyword and where it sits, instead of being silently ignored.

Adaptations that only narrow what is accepted (so the output stays valid):
- `minLength`/`maxLength` become a pattern over printable characters other than `"` and `\\`:
  xgrammar's own length rule lets raw control characters through, which strict JSON refuses;
- an object without `properties` accepts any members, an array without `items` any items (the
  engine's strict mode would otherwise allow only `{}` / `[]`);
- `responseSchema` properties come out in `propertyOrdering` order, else alphabetically (as
  Gemini does); `responseJsonSchema` keeps the declared order.

Pure functions, no engine imports: the API layer calls them while parsing a request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sightd.engine.base import ChoiceOutput, JsonOutput, OutputConstraint
from sightd.errors import InvalidArgument

TEXT_MIME = "text/plain"
JSON_MIME = "application/json"
ENUM_MIME = "text/x.enum"
SUPPORTED_MIMES = (TEXT_MIME, JSON_MIME, ENUM_MIME)

_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
_ANNOTATIONS = {"title", "description", "default", "example", "examples", "$schema", "$id"}
_ANNOTATIONS |= {"$comment", "deprecated", "readOnly", "writeOnly"}
# String formats xgrammar turns into a grammar (others it would silently ignore).
_STRING_FORMATS = frozenset(
    {"date", "time", "date-time", "duration", "email", "uuid", "uri", "ipv4", "ipv6"}
)
# Gemini's own format values that are annotations of the type, not constraints.
_OPENAPI_FORMAT_NOTES = {"string": {"enum"}, "integer": {"int64"}, "number": {"float", "double"}}
_INT32 = (-(2**31), 2**31 - 1)
# One character of a length-bounded string: printable ASCII but `"` and `\`, or any Unicode
# scalar from U+00A0 up. The class is written with literal characters on purpose: with `\u`
# escapes xgrammar also admits overlong and surrogate UTF-8, which decode to several U+FFFD.
BOUNDED_CHAR = "[ !#-\\[\\]-~\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
# OpenAPI (Gemini) snake_case and short spellings → the JSON Schema keyword.
_OPENAPI_KEYS = {
    "any_of": "anyOf",
    "property_ordering": "propertyOrdering",
    "min_items": "minItems",
    "max_items": "maxItems",
    "min_length": "minLength",
    "max_length": "maxLength",
    "min_properties": "minProperties",
    "max_properties": "maxProperties",
    "additional_properties": "additionalProperties",
    "defs": "$defs",
    "ref": "$ref",
}
_BOUNDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "format"}
_BY_TYPE = {
    "string": {"minLength", "maxLength", "pattern", "format"},
    "integer": _BOUNDS,
    "number": _BOUNDS,
    "array": {"items", "prefixItems", "minItems", "maxItems", "uniqueItems"},
    "object": {"properties", "required", "additionalProperties", "minProperties"},
}
_GENERIC = {"type", "enum", "const", "anyOf", "$ref", "$defs", "definitions", "nullable"}
_WHY_NOT = {
    "oneOf": "use anyOf (exclusivity is not enforced)",
    "allOf": "merge the subschemas into one",
    "not": "negation is not enforced",
    "uniqueItems": "uniqueness is not enforced",
    "maxProperties": "use properties with additionalProperties false",
    "multipleOf": "only enforced for integers",
}


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
    Gemini would refuse it). Raises InvalidArgument for unknown MIME types and for schemas the
    engine cannot enforce.
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
    schema = to_json_schema(given, dialect=dialect, where=where)
    return JsonOutput(json.dumps(schema, ensure_ascii=False, separators=(",", ":")))


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
    extra = set(schema) - {"type", "enum", "format", "nullable"} - _ANNOTATIONS
    if extra:
        raise InvalidArgument(
            f"text/x.enum schemas take only type and enum; {sorted(extra)[0]!r} is not supported.",
            field=f"{where}.{sorted(extra)[0]}",
        )
    return tuple(dict.fromkeys(values))


def to_json_schema(schema: Any, *, dialect: str = "json", where: str = "schema") -> dict[str, Any]:
    """`schema` (dialect "openapi" for responseSchema, "json" for JSON Schema) reduced to the
    enforceable JSON Schema subset, or InvalidArgument naming the first keyword it cannot take."""
    return _Reducer(dialect == "openapi").node(schema, where)


class _Reducer:
    def __init__(self, openapi: bool) -> None:
        self.openapi = openapi

    def node(self, raw: Any, path: str) -> dict[str, Any]:
        if raw is True or (isinstance(raw, Mapping) and not raw):
            return {}
        if not isinstance(raw, Mapping):
            raise InvalidArgument(f"A schema must be an object, got {raw!r}.", field=path)
        node = self._keys(raw, path)
        nullable = node.pop("nullable", False)
        if nullable not in (True, False):
            raise InvalidArgument("nullable must be true or false.", field=f"{path}.nullable")
        out = self._typed(node, path)
        if nullable:
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
            else:
                defs: dict[str, Any] = {k: out.pop(k) for k in ("$defs", "definitions") if k in out}
                out = {"anyOf": [out, {"type": "null"}], **defs}
        return out

    def _keys(self, raw: Mapping[str, Any], path: str) -> dict[str, Any]:
        node: dict[str, Any] = {}
        for key, value in raw.items():
            key = _OPENAPI_KEYS.get(key, key) if self.openapi else key
            if key in _ANNOTATIONS or value is None:
                continue
            if key == "propertyOrdering" and not self.openapi:
                continue  # a Gemini hint; JSON Schema keeps the declared order anyway
            node[key] = value
        return node

    def _types(self, node: dict[str, Any], path: str) -> list[str]:
        raw = node.get("type")
        if raw is None:
            if "properties" in node or "additionalProperties" in node:
                return ["object"]
            if "items" in node or "prefixItems" in node:
                return ["array"]
            return []
        names = raw if isinstance(raw, list) else [raw]
        types = [str(t).lower() for t in names]
        for t in types:
            if t not in _TYPES:
                raise InvalidArgument(f"Unknown schema type {t!r}.", field=f"{path}.type")
        return types

    def _typed(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        types = self._types(node, path)
        allowed = set(_GENERIC) | {"propertyOrdering"}
        for t in types:
            allowed |= _BY_TYPE.get(t, set())
        for key in node:
            if key in allowed:
                continue
            if any(key in keys for keys in _BY_TYPE.values()) and not types:
                why = "give the schema a type"
            else:
                why = _WHY_NOT.get(key, "the engine cannot enforce it")
            raise InvalidArgument(
                f"Schema keyword {key!r} at {path} is not supported ({why}).",
                field=f"{path}.{key}",
            )
        if "anyOf" in node and types:
            raise InvalidArgument(
                f"anyOf at {path} cannot be combined with type; put the type in each branch.",
                field=f"{path}.anyOf",
            )
        out: dict[str, Any] = {}
        if types:
            out["type"] = types[0] if len(types) == 1 else types
        for key in ("enum", "const"):
            if key in node:
                out[key] = node[key]
        if isinstance(node.get("enum"), list) and not node["enum"]:
            raise InvalidArgument("enum must not be empty.", field=f"{path}.enum")
        if "anyOf" in node:
            out["anyOf"] = self._list(node["anyOf"], f"{path}.anyOf")
        if "$ref" in node:
            ref = str(node["$ref"])
            out["$ref"] = ref.replace("#/defs/", "#/$defs/") if self.openapi else ref
        for key in ("$defs", "definitions"):
            if key in node:
                out[key] = self._map(node[key], f"{path}.{key}")
        if "string" in types:
            out.update(self._string(node, path))
        if "integer" in types or "number" in types:
            out.update(self._numeric(node, types, path))
        if "array" in types:
            out.update(self._array(node, path))
        if "object" in types:
            out.update(self._object(node, path))
        return out

    def _list(self, raw: Any, path: str) -> list[dict[str, Any]]:
        if not isinstance(raw, list) or not raw:
            raise InvalidArgument("Expected a non-empty list of schemas.", field=path)
        return [self.node(item, f"{path}[{i}]") for i, item in enumerate(raw)]

    def _map(self, raw: Any, path: str) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise InvalidArgument("Expected an object of schemas.", field=path)
        return {str(k): self.node(v, f"{path}.{k}") for k, v in raw.items()}

    def _string(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        fmt = node.get("format")
        if fmt is not None and not (self.openapi and fmt in _OPENAPI_FORMAT_NOTES["string"]):
            if fmt not in _STRING_FORMATS:
                raise InvalidArgument(
                    f"String format {fmt!r} at {path} is not supported; supported: "
                    f"{', '.join(sorted(_STRING_FORMATS))}.",
                    field=f"{path}.format",
                )
            out["format"] = fmt
        lo, hi = node.get("minLength"), node.get("maxLength")
        if lo is None and hi is None:
            if "pattern" in node:
                out["pattern"] = str(node["pattern"])
            return out
        if "pattern" in node or "format" in out:
            raise InvalidArgument(
                f"minLength/maxLength at {path} cannot be combined with pattern or format.",
                field=f"{path}.maxLength",
            )
        low, high = (0 if lo is None else _int(lo, 0, f"{path}.minLength")), hi
        bound = "" if high is None else str(_int(high, low, f"{path}.maxLength"))
        out["pattern"] = f"^{BOUNDED_CHAR}{{{low},{bound}}}$"
        return out

    def _numeric(self, node: dict[str, Any], types: list[str], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: node[k]
            for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
            if k in node
        }
        for key, value in out.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidArgument(f"{key} must be a number.", field=f"{path}.{key}")
        if "multipleOf" in node:
            if types != ["integer"]:
                why = _WHY_NOT["multipleOf"]
                raise InvalidArgument(
                    f"Schema keyword 'multipleOf' at {path} is not supported ({why}).",
                    field=f"{path}.multipleOf",
                )
            out["multipleOf"] = _int(node["multipleOf"], 1, f"{path}.multipleOf")
        fmt = node.get("format")
        if fmt is not None:
            notes = _OPENAPI_FORMAT_NOTES["integer"] | _OPENAPI_FORMAT_NOTES["number"]
            if fmt == "int32" and "integer" in types:
                out.setdefault("minimum", _INT32[0])
                out.setdefault("maximum", _INT32[1])
            elif fmt not in notes:
                raise InvalidArgument(
                    f"Number format {fmt!r} at {path} is not supported.", field=f"{path}.format"
                )
        return out

    def _array(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if node.get("uniqueItems") is True:
            raise InvalidArgument(
                f"Schema keyword 'uniqueItems' at {path} is not supported "
                f"({_WHY_NOT['uniqueItems']}).",
                field=f"{path}.uniqueItems",
            )
        items = node.get("items")
        if isinstance(items, list):
            raise InvalidArgument(
                f"items at {path} is a list; use prefixItems for tuples.", field=f"{path}.items"
            )
        if "prefixItems" in node:
            out["prefixItems"] = self._list(node["prefixItems"], f"{path}.prefixItems")
        if items is False:
            out["items"] = False
        elif items is not None:
            out["items"] = self.node(items, f"{path}.items")
        elif "prefixItems" not in node:
            out["items"] = {}
        for key in ("minItems", "maxItems"):
            if key in node:
                out[key] = _int(node[key], 0, f"{path}.{key}")
        return out

    def _object(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        props = node.get("properties")
        if props is not None:
            reduced = self._map(props, f"{path}.properties")
            out["properties"] = self._ordered(reduced, node.get("propertyOrdering"), path)
        required = node.get("required")
        if required is not None:
            if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
                raise InvalidArgument("required must be a list of names.", field=f"{path}.required")
            missing = [r for r in required if r not in (props or {})]
            if missing:
                raise InvalidArgument(
                    f"required names {missing[0]!r}, which is not in properties at {path}.",
                    field=f"{path}.required",
                )
            out["required"] = list(dict.fromkeys(required))
        extra = node.get("additionalProperties")
        if isinstance(extra, bool):
            out["additionalProperties"] = extra
        elif extra is not None:
            out["additionalProperties"] = self.node(extra, f"{path}.additionalProperties")
        elif props is None:
            out["additionalProperties"] = True
        if "minProperties" in node:
            out["minProperties"] = _int(node["minProperties"], 0, f"{path}.minProperties")
        return out

    def _ordered(
        self, props: dict[str, Any], ordering: Any, path: str
    ) -> dict[str, dict[str, Any]]:
        if ordering is None:
            return dict(sorted(props.items())) if self.openapi else props
        if not isinstance(ordering, list) or not all(isinstance(n, str) for n in ordering):
            raise InvalidArgument(
                "propertyOrdering must be a list of names.", field=f"{path}.propertyOrdering"
            )
        unknown = [n for n in ordering if n not in props]
        if unknown:
            raise InvalidArgument(
                f"propertyOrdering names {unknown[0]!r}, which is not in properties at {path}.",
                field=f"{path}.propertyOrdering",
            )
        first = {n: props[n] for n in dict.fromkeys(ordering)}
        return first | dict(sorted((k, v) for k, v in props.items() if k not in first))


def _int(value: Any, minimum: int, field: str) -> int:
    """A whole number ≥ `minimum` (JSON may carry it as 3.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise InvalidArgument(f"{field} must be a whole number.", field=field)
    if int(value) < minimum:
        raise InvalidArgument(f"{field} must be at least {minimum}.", field=field)
    return int(value)
