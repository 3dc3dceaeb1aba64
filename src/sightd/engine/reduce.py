"""Canonical JSON Schema (`sightd.engine.schema`) → the subset xgrammar enforces.

The reduction only ever WIDENS (a valid answer is never forbidden) except for these deliberate,
documented narrowings:
- `pattern` matches the whole string (JSON Schema patterns are unanchored);
- an object with `properties` and no `additionalProperties` gets no other members;
- `minLength`/`maxLength` alone become a pattern over printable characters other than `"` and
  `\\` (xgrammar's own length rule lets raw control characters through, which JSON refuses);
- string formats xgrammar knows are enforced; `format: "uri"` is decoded as an http(s) URL
  (`https://host/path?query`): what clients sending it (pydantic `HttpUrl`/`AnyUrl`) expect.

`Reducer.lossy` says something was widened, so the answer needs the after-decoding check; in
`strict` mode narrower forms are used where they exist (the retry grammar, see
`sightd.engine.constrain.stricter`). Pure functions, no engine imports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from itertools import combinations
from typing import Any

from sightd.engine.schema import resolve_ref
from sightd.errors import InvalidArgument

# String formats xgrammar turns into a grammar (others are annotations).
_STRING_FORMATS = frozenset(
    {"date", "time", "date-time", "duration", "email", "uuid", "ipv4", "ipv6"}
)
# `format: "uri"` as decoded: an http(s) URL that pydantic's HttpUrl also accepts.
_HOST = "[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)*"
HTTP_URL = f"^https?://{_HOST}(/[A-Za-z0-9._~-]*)*(\\?[A-Za-z0-9._~=&-]*)?$"
_INT32 = (-(2**31), 2**31 - 1)
MAX_SET_CHOICES = 5  # a unique array of up to this many choices retries as its 2**n sets
# One character of a length-bounded string: printable ASCII but `"` and `\`, or any Unicode
# scalar from U+00A0 up. The class is written with literal characters on purpose: with `\u`
# escapes xgrammar also admits overlong and surrogate UTF-8, which decode to several U+FFFD.
BOUNDED_CHAR = "[ !#-\\[\\]-~\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
# A pattern of one character class (or escape, or literal) and a quantifier: lengths fold in.
_SIMPLE_PATTERN = re.compile(
    r"^\^?(\[(?:[^\]\\]|\\.)+\]|\\[dwsDWS]|\.|[A-Za-z0-9 _-])"
    r"(\+|\*|\?|\{(\d+)\}|\{(\d+),(\d*)\})?\$?$"
)
# Regex features xgrammar refuses or may not honour (backreferences, \\p{..} classes, word
# boundaries, lookaround, atomic groups, comments, inline flags): checked after decoding.
_UNENFORCEABLE_REGEX = re.compile(r"\\[1-9pPbBk]|\(\?[=!<>#a-zA-Z]")
# Keywords that constrain values (anything else is an annotation or unknown: ignored).
_VALIDATION = frozenset(
    {
        "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
        "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
        "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties",
        "required", "dependentRequired", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
        "dependentSchemas", "prefixItems", "items", "contains", "properties",
        "patternProperties", "additionalProperties", "propertyNames", "unevaluatedItems",
        "unevaluatedProperties", "additionalItems", "$ref", "$dynamicRef",
    }
)  # fmt: skip
_BY_TYPE = {
    "string": {"minLength", "maxLength", "pattern", "format"},
    "integer": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "array": {"items", "prefixItems", "minItems", "maxItems", "uniqueItems"},
    "object": {
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
        "maxProperties",
    },
}
_GENERIC = {"type", "enum", "const", "anyOf", "$ref", "$defs", "definitions"}


class Reducer:
    """Canonical JSON Schema → the enforceable subset. `lossy`: something was widened (the
    answer needs the after-decoding check); in `strict` mode narrower forms are used where they
    exist (`stricter` says whether any was)."""

    def __init__(self, strict: bool = False, root: Any = None) -> None:
        self.strict = strict
        self.root = root  # the whole schema, where `$ref`s are looked up
        self.lossy = False
        self.stricter = False

    def node(self, raw: Any, path: str) -> dict[str, Any]:
        if raw is True or (isinstance(raw, Mapping) and not raw):
            return {}
        if not isinstance(raw, Mapping):  # `false`: nothing is valid; decode anything
            self.lossy = True
            return {}
        node = dict(raw)
        if "allOf" in node:
            node = self._all_of(node)
        types = _types(node)
        if "anyOf" in node and types:  # decode the typed part; the branches are checked
            del node["anyOf"]
            self.lossy = True
        if "$ref" in node and any(k in _VALIDATION for k in node if k != "$ref"):
            node = {k: v for k, v in node.items() if k == "$ref" or k not in _VALIDATION}
            self.lossy = True
        return self._typed(node, types, path)

    def _all_of(self, node: dict[str, Any]) -> dict[str, Any]:
        branches = node.pop("allOf")
        merged = _merge([node, *branches])
        if merged is not None:
            return merged
        self.lossy = True  # decode one part of the conjunction (wider); check the whole
        if _types(node) or "$ref" in node:
            return node
        defs = {k: node[k] for k in ("$defs", "definitions") if k in node}
        first = branches[0] if isinstance(branches[0], dict) else {}
        return {**first, **defs}

    def _typed(self, node: dict[str, Any], types: list[str], path: str) -> dict[str, Any]:
        allowed = set(_GENERIC)
        for t in types:
            allowed |= _BY_TYPE.get(t, set())
        if any(k in _VALIDATION and k not in allowed for k in node):
            self.lossy = True  # dropped: not enforceable here, checked after decoding
        out: dict[str, Any] = {}
        if types:
            out["type"] = types[0] if len(types) == 1 else types
        for key in ("enum", "const"):
            if key in node:
                out[key] = node[key]
        if "anyOf" in node:
            out["anyOf"] = [self.node(b, f"{path}.anyOf[{i}]") for i, b in enumerate(node["anyOf"])]
        if "$ref" in node:
            out["$ref"] = str(node["$ref"])
        for key in ("$defs", "definitions"):
            if key in node:
                out[key] = {k: self.node(v, f"{path}.{key}.{k}") for k, v in node[key].items()}
        if "string" in types:
            out.update(self._string(node, path))
        if "integer" in types or "number" in types:
            out.update(self._numeric(node, types, path))
        if "array" in types:
            out.update(self._array(node, path))
            if "anyOf" in out and types == ["array"]:
                del out["type"]  # the stricter set grammar: each branch is an array
        if "object" in types:
            out.update(self._object(node, path))
        return out

    def _string(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        pattern = node.get("pattern")
        if pattern is not None and _UNENFORCEABLE_REGEX.search(str(pattern)):
            pattern = None  # checked after decoding
            self.lossy = True
        fmt = node.get("format")
        if pattern is None and fmt == "uri":
            pattern = HTTP_URL
        elif pattern is None and fmt in _STRING_FORMATS:
            out["format"] = fmt
        lo, hi = node.get("minLength"), node.get("maxLength")
        if lo is None and hi is None:
            if pattern is not None:
                out["pattern"] = str(pattern)
            return out
        low = 0 if lo is None else _int(lo, 0, f"{path}.minLength")
        high = None if hi is None else _int(hi, low, f"{path}.maxLength")
        if pattern is None and not out:
            bound = "" if high is None else str(high)
            out["pattern"] = f"^{BOUNDED_CHAR}{{{low},{bound}}}$"
            return out
        folded = _fold(str(pattern), low, high, path) if pattern is not None else None
        if folded is None:
            self.lossy = True  # the length is checked after decoding
            if pattern is not None:
                out["pattern"] = str(pattern)
        else:
            out["pattern"] = folded
        return out

    def _numeric(self, node: dict[str, Any], types: list[str], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: node[k]
            for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
            if k in node
        }
        if node.get("format") == "int32" and "integer" in types:
            out.setdefault("minimum", _INT32[0])
            out.setdefault("maximum", _INT32[1])
        if "multipleOf" not in node:
            return out
        step = Fraction(str(node["multipleOf"]))
        if types == ["integer"] or (types == ["number"] and step.denominator == 1):
            # an integer is a multiple of p/q exactly when it is one of p; a multiple of a
            # whole number is a whole number: both are exact
            out["type"] = "integer"
            if step.numerator > 1:
                out["multipleOf"] = step.numerator
        elif self.strict and types == ["number"]:
            self.stricter = True  # integers that are multiples of p: a subset of the multiples
            out["type"] = "integer"
            if step.numerator > 1:
                out["multipleOf"] = step.numerator
        else:
            self.lossy = True
        return out

    def _array(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        items = node.get("items")
        if "prefixItems" in node:
            out["prefixItems"] = [
                self.node(b, f"{path}.prefixItems[{i}]") for i, b in enumerate(node["prefixItems"])
            ]
        if items is False:
            out["items"] = False
        elif items is not None:
            out["items"] = self.node(items, f"{path}.items")
        elif "prefixItems" not in node:
            out["items"] = {}
        for key in ("minItems", "maxItems"):
            if key in node:
                out[key] = _int(node[key], 0, f"{path}.{key}")
        if node.get("uniqueItems") is True:
            least = out.get("minItems", 0)
            choices = self._choices(items) if self.strict and "prefixItems" not in node else None
            if choices is not None and least <= len(choices):
                self.stricter = True  # each set of distinct choices, in the schema's order
                most = min(out.get("maxItems", len(choices)), len(choices))
                return {"anyOf": _distinct_arrays(choices, least, most)}
            if self.strict and least <= 1:
                self.stricter = True  # one item is always unique
                out["maxItems"] = min(out.get("maxItems", 1), max(least, 1))
            else:
                self.lossy = True
        return out

    def _choices(self, items: Any) -> list[Any] | None:
        """The few values an item may take (an enum, a const, a boolean), else None."""
        for _ in range(8):  # follow a chain of references, not a cycle
            if not (isinstance(items, dict) and "$ref" in items):
                break
            items = resolve_ref(self.root, items["$ref"])
        if not isinstance(items, dict):
            return None
        if isinstance(items.get("enum"), list):
            values = list(items["enum"])
        elif "const" in items:
            values = [items["const"]]
        elif items.get("type") == "boolean":
            values = [True, False]
        else:
            return None
        unique = [v for i, v in enumerate(values) if v not in values[:i]]
        return unique if len(unique) <= MAX_SET_CHOICES else None

    def _object(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        props = node.get("properties")
        if props is not None:
            out["properties"] = {
                k: self.node(v, f"{path}.properties.{k}") for k, v in props.items()
            }
        required = node.get("required")
        if required:
            if props is None:
                self.lossy = True  # required members of unknown shape: checked after
            else:
                out["required"] = list(required)
        extra = node.get("additionalProperties")
        if isinstance(extra, bool):
            out["additionalProperties"] = extra
        elif extra is not None:
            out["additionalProperties"] = self.node(extra, f"{path}.additionalProperties")
        elif props is None:
            out["additionalProperties"] = True
        if "minProperties" in node:
            out["minProperties"] = _int(node["minProperties"], 0, f"{path}.minProperties")
        if "maxProperties" in node:
            most = _int(node["maxProperties"], 0, f"{path}.maxProperties")
            closed = props is not None and extra in (None, False)
            if closed and len(props or ()) <= most:
                pass  # only declared members are decoded: never more than `most`
            elif self.strict and props is not None and len(out.get("required", [])) <= most:
                self.stricter = True  # the required members only
                keep = out.get("required", [])
                out["properties"] = {k: v for k, v in out["properties"].items() if k in keep}
                out["additionalProperties"] = False
            else:
                self.lossy = True
        return out


def _distinct_arrays(choices: list[Any], least: int, most: int) -> list[dict[str, Any]]:
    """Arrays of `least` to `most` distinct `choices`, each set once, in the choices' order."""
    out: list[dict[str, Any]] = []
    for n in range(least, most + 1):
        for chosen in combinations(choices, n):
            prefix = [{"const": v} for v in chosen]
            out.append(
                {
                    "type": "array",
                    "prefixItems": prefix,
                    "items": False,
                    "minItems": n,
                    "maxItems": n,
                }
            )
    return out


def _types(node: Mapping[str, Any]) -> list[str]:
    raw = node.get("type")
    if raw is None:
        if "properties" in node or "additionalProperties" in node:
            return ["object"]
        if "items" in node or "prefixItems" in node:
            return ["array"]
        return []
    return [str(t) for t in (raw if isinstance(raw, list) else [raw])]


def _merge(parts: list[Any]) -> dict[str, Any] | None:
    """One schema equivalent to all of `parts` (an allOf and its siblings), or None when they
    cannot simply be merged (conflicting keywords, references beside constraints, ...)."""
    dicts = [p for p in parts if p is not True and p != {}]
    if not all(isinstance(p, dict) and "allOf" not in p for p in dicts):
        return None
    constraining = [p for p in dicts if any(k in _VALIDATION for k in p)]
    if any("$ref" in p for p in constraining) and len(constraining) > 1:
        return None
    out: dict[str, Any] = {}
    with_props = 0
    for part in dicts:
        with_props += "properties" in part
        for key, value in part.items():
            if key not in out:
                out[key] = value
            elif key == "required":
                out[key] = list(dict.fromkeys([*out[key], *value]))
            elif key in ("properties", "$defs", "definitions"):
                clash = [n for n in value if n in out[key] and out[key][n] != value[n]]
                if clash:
                    return None
                out[key] = {**out[key], **value}
            elif out[key] != value:
                return None
    if with_props > 1 and any("additionalProperties" in p for p in dicts):
        return None
    return out


def _fold(pattern: str, low: int, high: int | None, path: str) -> str | None:
    """`pattern` with the length bounds folded in when it is one character class and a
    quantifier (`^[a-z]+$`), so decoding enforces both exactly; else None."""
    m = _SIMPLE_PATTERN.match(pattern)
    if m is None:
        return None
    atom, quant, exact, least, most = m.groups()
    lo, hi = {None: (1, 1), "+": (1, None), "*": (0, None), "?": (0, 1)}.get(quant, (0, None))
    if exact is not None:
        lo = hi = int(exact)
    elif least is not None:
        lo, hi = int(least), (int(most) if most else None)
    lo = max(lo, low)
    hi = high if hi is None else (hi if high is None else min(hi, high))
    if hi is not None and lo > hi:
        raise InvalidArgument(
            f"No string at {path} has the pattern {pattern!r} and a length from {low} to {high}.",
            field=f"{path}.maxLength",
        )
    return f"^{atom}{{{lo},{'' if hi is None else hi}}}$"


def _int(value: Any, minimum: int, field: str) -> int:
    """A whole number ≥ `minimum` (JSON may carry it as 3.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise InvalidArgument(f"{field} must be a whole number.", field=field)
    if int(value) < minimum:
        raise InvalidArgument(f"{field} must be at least {minimum}.", field=field)
    return int(value)
