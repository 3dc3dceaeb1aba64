"""A caller's response schema as standard JSON Schema (draft 2020-12): the schema answers are
checked against, and the input `sightd.engine.constrain` reduces to what decoding enforces.

`responseSchema` (Gemini's OpenAPI subset: uppercase types, `nullable`, snake_case keys from
Python, `propertyOrdering`, `#/defs/` references) is converted; `responseJsonSchema` is taken as
it is. Either way annotations are dropped (`title`, `description`, `examples`, `discriminator`,
`x-*` extensions, ...: they never change which values are valid), `oneOf` becomes `anyOf` (as
Gemini documents it reads it: exclusivity is neither enforced nor checked), and properties
come out in the order the answer is decoded in (`propertyOrdering`, then alphabetical for
`responseSchema`; declared order for JSON Schema).

Genuinely invalid schemas are INVALID_ARGUMENT naming the field: not an object, an unknown
type, an empty `enum`, a `$ref` that does not resolve inside the schema, `required` naming a
property missing from `properties`, anything the 2020-12 metaschema refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sightd.errors import InvalidArgument

TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
# Keywords that only annotate: dropped from the canonical schema (validation ignores them).
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "example",
        "examples",
        "$schema",
        "$id",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "discriminator",
        "externalDocs",
        "xml",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
    }
)
# OpenAPI (Gemini) snake_case and short spellings → the JSON Schema keyword.
OPENAPI_KEYS = {
    "any_of": "anyOf",
    "one_of": "oneOf",
    "all_of": "allOf",
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
# Where subschemas sit: one schema, a list of schemas, a map of names to schemas.
_ONE = {
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
}
_LIST = {"anyOf", "oneOf", "allOf", "prefixItems"}
_MAP = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}


def canonical_schema(schema: Any, *, dialect: str = "json", where: str = "schema") -> Any:
    """`schema` as standard JSON Schema with annotations dropped (a dict, or True/False), or
    InvalidArgument naming the first invalid field."""
    out = _Canon(dialect == "openapi").node(schema, where, top=True)
    _check_refs(out, out, where)
    _check_metaschema(out, where)
    return out


class _Canon:
    def __init__(self, openapi: bool) -> None:
        self.openapi = openapi

    def node(self, raw: Any, path: str, top: bool = False) -> Any:
        if isinstance(raw, bool) and not top:
            return raw
        if raw is True:
            return {}
        if not isinstance(raw, Mapping):
            raise InvalidArgument(f"A schema must be an object, got {raw!r}.", field=path)
        node: dict[str, Any] = {}
        for key, value in raw.items():
            key = str(OPENAPI_KEYS.get(key, key) if self.openapi else key)
            if value is None or key in ANNOTATIONS or key.startswith("x-"):
                continue
            at = f"{path}.{key}"
            if key in _ONE:
                node[key] = value if isinstance(value, list) else self.node(value, at)
            elif key in _LIST:
                if not isinstance(value, list) or not value:
                    raise InvalidArgument("Expected a non-empty list of schemas.", field=at)
                node[key] = [self.node(v, f"{at}[{i}]") for i, v in enumerate(value)]
            elif key in _MAP:
                if not isinstance(value, Mapping):
                    raise InvalidArgument("Expected an object of schemas.", field=at)
                node[key] = {str(k): self.node(v, f"{at}.{k}") for k, v in value.items()}
            else:
                node[key] = value
        self._type(node, path)
        self._bounds(node)
        if "oneOf" in node:  # Gemini reads oneOf as anyOf: exclusivity is not asked for
            one = node.pop("oneOf")
            if "anyOf" in node:
                node["allOf"] = [*node.get("allOf", []), {"anyOf": one}]
            else:
                node["anyOf"] = one
        if isinstance(node.get("$ref"), str) and self.openapi:
            node["$ref"] = node["$ref"].replace("#/defs/", "#/$defs/")
        if "enum" in node and (not isinstance(node["enum"], list) or not node["enum"]):
            raise InvalidArgument("enum must be a non-empty list.", field=f"{path}.enum")
        if self.openapi and node.get("format") == "enum":
            del node["format"]  # Gemini's note that a STRING has an enum
        self._properties(node, path)
        return self._nullable(node, path)

    def _type(self, node: dict[str, Any], path: str) -> None:
        if "type" not in node:
            return
        raw = node["type"]
        names = raw if isinstance(raw, list) else [raw]
        types = [str(t).lower() for t in names]
        for t in types:
            if t not in TYPES:
                raise InvalidArgument(f"Unknown schema type {t!r}.", field=f"{path}.type")
        node["type"] = types[0] if len(types) == 1 else list(dict.fromkeys(types))

    @staticmethod
    def _bounds(node: dict[str, Any]) -> None:
        """OpenAPI 3.0's boolean exclusiveMinimum/exclusiveMaximum in their 2020-12 form."""
        for ex, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if isinstance(node.get(ex), bool) and node.pop(ex) and bound in node:
                node[ex] = node.pop(bound)

    def _properties(self, node: dict[str, Any], path: str) -> None:
        props = node.get("properties")
        ordering = node.pop("propertyOrdering", None)
        if isinstance(props, dict):
            node["properties"] = self._ordered(props, ordering, path)
        required = node.get("required")
        if required is None:
            return
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise InvalidArgument("required must be a list of names.", field=f"{path}.required")
        missing = [r for r in required if isinstance(props, dict) and r not in props]
        if missing:
            raise InvalidArgument(
                f"required names {missing[0]!r}, which is not in properties at {path}.",
                field=f"{path}.required",
            )
        node["required"] = list(dict.fromkeys(required))

    def _ordered(self, props: dict[str, Any], ordering: Any, path: str) -> dict[str, Any]:
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

    @staticmethod
    def _nullable(node: dict[str, Any], path: str) -> dict[str, Any]:
        nullable = node.pop("nullable", False)
        if nullable not in (True, False):
            raise InvalidArgument("nullable must be true or false.", field=f"{path}.nullable")
        if not nullable:
            return node
        if "enum" in node:
            if None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
            if isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            return node
        defs: dict[str, Any] = {k: node.pop(k) for k in ("$defs", "definitions") if k in node}
        return {"anyOf": [node, {"type": "null"}], **defs}


def _check_refs(node: Any, root: Any, path: str) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            _check_refs(item, root, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if ref is not None and resolve_ref(root, ref) is None:
        raise InvalidArgument(
            f"$ref {ref!r} at {path} does not name a schema in this schema (only local "
            "references such as #/$defs/Name are followed).",
            field=f"{path}.$ref",
        )
    for key, value in node.items():
        if key in _ONE or key in _LIST:
            _check_refs(value, root, f"{path}.{key}")
        elif key in _MAP and isinstance(value, dict):
            for name, sub in value.items():
                _check_refs(sub, root, f"{path}.{key}.{name}")


def resolve_ref(root: Any, ref: Any) -> Any:
    """The subschema a local `$ref` (a JSON pointer: `#`, `#/$defs/Name`) names, else None."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    target = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return None
    return target if isinstance(target, dict | bool) else None


def _check_metaschema(schema: Any, where: str) -> None:
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        at = ".".join(str(p) for p in e.absolute_path)
        field = f"{where}.{at}" if at else where
        raise InvalidArgument(f"Invalid schema at {field}: {e.message}", field=field) from e
