"""Protobuf-JSON scalars for the wire models, lenient where protobuf is and strict where it is.

Integers arrive as `40`, `40.0` or `"40"`; floats as numbers or numeric strings; durations as
`"12.5s"`, a bare number of seconds or `{"seconds", "nanos"}`. Booleans are not numbers, NaN and
Infinity are not values, and each field has its range (Gemini's: temperature in [0, 2], top_p in
[0, 1], top_k ≥ 1, presence/frequency penalties in [-2, 2), logprobs in [0, 20], at most 5 stop
sequences, int32/int64 bounds). A violation is a pydantic
error, which `sightd.api.wire.parse_model` reports as a 400 naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

T = TypeVar("T")

INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_STOP_SEQUENCES = 5
MAX_LOGPROBS = 20  # Gemini's `logprobs`: top candidates per step, in [0, 20]
PENALTY_MIN, PENALTY_MAX = -2.0, 2.0  # Gemini's presence/frequency penalty: [-2, 2)

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d*)?|-?\.\d+)\s*s?\s*$")


def _pydantic(fn: Callable[[Any], T]) -> Callable[[Any], T]:
    """`fn` with its ValueErrors turned into pydantic errors carrying just the message."""

    def validate(value: Any) -> T:
        try:
            return fn(value)
        except ValueError as exc:
            raise PydanticCustomError("invalid_value", "{why}", {"why": str(exc)}) from exc

    return validate


def to_float(value: Any) -> float:
    """A finite number from a JSON number or numeric string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number, got {_kind(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"expected a number, got {_short(value)}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {_short(value)}")
    return number


def to_int(value: Any) -> int:
    """An integer from `40`, `40.0` or `"40"`; fractions, NaN and Infinity are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected an integer, got {_kind(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass  # "40.0", "1e3": read as a float below
    number = to_float(value)
    if not number.is_integer():
        raise ValueError(f"expected an integer, got {_short(value)}")
    return int(number)


def _int_in(lo: int, hi: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        number = to_int(value)
        if not lo <= number <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {_short(number)}")
        return number

    return _pydantic(check)


def _float_in(lo: float, hi: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        number = to_float(value)
        if not lo <= number <= hi:
            raise ValueError(f"must be between {lo:g} and {hi:g}, got {number:g}")
        return number

    return _pydantic(check)


def _penalty(value: Any) -> float:
    """presencePenalty / frequencyPenalty: Gemini accepts -2.0 up to, not including, 2.0."""
    number = to_float(value)
    if not PENALTY_MIN <= number < PENALTY_MAX:
        raise ValueError(
            f"must be at least {PENALTY_MIN:g} and below {PENALTY_MAX:g}, got {number:g}"
        )
    return number


def _top_k(value: Any) -> int | None:
    """Gemini's topK (the SDK sends `40.0`): 0 means unset, else a whole number ≥ 1."""
    number = to_float(value)
    if number == 0:
        return None
    if not 1 <= number <= INT32_MAX:
        raise ValueError(f"must be at least 1, got {number:g}")
    return int(number)


def duration_seconds(value: Any) -> float | None:
    """A protobuf Duration (`"12.5s"`, `"1250s"`, `{"seconds", "nanos"}`) or bare seconds."""
    if value is None:
        return None
    if isinstance(value, dict):
        seconds = to_int(value.get("seconds", 0))
        nanos = to_int(value.get("nanos", 0))
        if not (INT64_MIN <= seconds <= INT64_MAX and -(10**9) < nanos < 10**9):
            raise ValueError(f"invalid duration {_short(value)}")
        return float(seconds) + nanos / 1e9
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"invalid duration {_short(value)}")
        value = match.group(1)
    number = to_float(value)
    return number


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _few_stops(stops: list[str]) -> list[str]:
    if len(stops) > MAX_STOP_SEQUENCES:
        raise PydanticCustomError(
            "invalid_value",
            "at most {n} stop sequences are allowed, got {got}",
            {"n": MAX_STOP_SEQUENCES, "got": len(stops)},
        )
    return stops


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


Int32 = Annotated[int, BeforeValidator(_int_in(-(2**31), INT32_MAX))]
PositiveInt32 = Annotated[int, BeforeValidator(_int_in(1, INT32_MAX))]
Int64 = Annotated[int, BeforeValidator(_int_in(INT64_MIN, INT64_MAX))]
"""A seed: Gemini declares int32, the SDKs send any Python int; int64 is what backends take."""
Finite = Annotated[float, BeforeValidator(_pydantic(to_float))]
Temperature = Annotated[float, BeforeValidator(_float_in(0.0, 2.0))]
Probability = Annotated[float, BeforeValidator(_float_in(0.0, 1.0))]
Penalty = Annotated[float, BeforeValidator(_pydantic(_penalty))]
TopLogprobs = Annotated[int, BeforeValidator(_int_in(0, MAX_LOGPROBS))]
TopK = Annotated[int | None, BeforeValidator(_pydantic(_top_k))]
DurationS = Annotated[float | None, BeforeValidator(_pydantic(duration_seconds))]
StopSequences = Annotated[list[str], BeforeValidator(_one_or_many), AfterValidator(_few_stops)]
