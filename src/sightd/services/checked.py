"""JSON answers checked against the caller's whole response schema before they are returned.

Decoding enforces the part of a schema its grammar can express (`sightd.engine.constrain`);
what it cannot (`uniqueItems`, `oneOf` exclusivity, `not`, lengths beside a pattern, ...) is
checked here, on the finished answer, with `jsonschema` (draft 2020-12, formats as annotations).
This is the one place answers under a JSON constraint are validated, for every backend: a
remote server that enforces schemas itself, or does not, is held to the same check.

- An answer cut by the token limit (finishReason MAX_TOKENS) that is not complete JSON is
  returned as it is, as Gemini does; any other answer (also one decoding closed in time before
  the limit) must be JSON valid under the whole schema.
- A violating answer is generated once more under the stricter grammar `constrain.stricter`
  gives (e.g. `uniqueItems` with `minItems` ≤ 1 → at most one item), whose answers are valid by
  construction for what it narrows; the retry's completion is returned, its `output_tokens`
  counting both tries.
- With no stricter grammar, or when the retry fails too, the call fails with 500 INTERNAL
  (reason `RESPONSE_SCHEMA_VIOLATION`, the message naming where and what): the request was
  valid, so no 4xx; nothing is overloaded, so no 503; the model failed to answer as asked, and
  the same request with another seed may well succeed. Never a 200 that only looks valid.
- Streaming: an answer that needs the after-decoding check (`needs_buffering`: a schema
  decoding enforces only in part, or a backend that enforces no schema) is generated whole,
  checked (and retried), then sent as one chunk, so a stream never carries invalid JSON
  followed by an error. Answers whose schema the backend enforces entirely stream as produced;
  they are checked at the end (`final`), where a violation (a backend bug) ends the stream in
  error.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

import jsonschema

from sightd import errors
from sightd.engine.base import Capabilities, Completion, JsonOutput, SamplingParams
from sightd.engine.constrain import stricter

log = logging.getLogger(__name__)

REASON = "RESPONSE_SCHEMA_VIOLATION"


def needs_buffering(params: SamplingParams, capabilities: Capabilities) -> bool:
    """Whether a streamed answer must be held until checked: its schema has parts decoding
    does not enforce, or the backend does not enforce JSON schemas at all."""
    c = params.constraint
    if not isinstance(c, JsonOutput):
        return False
    return c.full_schema_json is not None or "json_schema" not in capabilities.constraints


def violation(text: str, constraint: JsonOutput) -> str | None:
    """What is wrong with `text` as an answer under `constraint` (JSON, valid under the whole
    schema), or None when it is fine."""
    try:
        value = json.loads(text)
    except ValueError as e:
        return f"the answer is not valid JSON ({e})"
    schema = constraint.full_schema_json or constraint.schema_json
    if schema is None:
        return None
    error = jsonschema.exceptions.best_match(_validator(schema).iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the answer"
    message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
    return f"{where}: {message}"


async def checked(
    run: Callable[[SamplingParams], Awaitable[Completion]], params: SamplingParams
) -> Completion:
    """`run(params)`'s completion once it passes the check; retried once under a stricter
    grammar where one exists; else errors.Internal naming the violation."""
    done = await run(params)
    constraint = params.constraint
    if not isinstance(constraint, JsonOutput):
        return done
    problem = _problem(done, constraint)
    if problem is None:
        return done
    retry = stricter(constraint)
    if retry is None:
        raise _error(problem)
    log.info("answer violates the response schema (%s); retrying under a stricter grammar", problem)
    again = await run(dataclasses.replace(params, constraint=retry))
    tokens = done.output_tokens + again.output_tokens
    again = dataclasses.replace(again, output_tokens=tokens)
    problem = _problem(again, constraint)
    if problem is not None:
        raise _error(problem, retried=True)
    return again


def final(done: Completion, params: SamplingParams) -> Completion:
    """A streamed answer's completion, checked (nothing to retry: its text is already out)."""
    constraint = params.constraint
    if isinstance(constraint, JsonOutput):
        problem = _problem(done, constraint)
        if problem is not None:
            raise _error(problem)
    return done


def _problem(done: Completion, constraint: JsonOutput) -> str | None:
    if done.finish_reason == "MAX_TOKENS":
        try:
            json.loads(done.text)
        except ValueError:
            return None  # cut by the limit: returned as it is, as Gemini does
    elif done.finish_reason != "STOP":
        return None  # e.g. a function call: not an answer under the schema
    return violation(done.text, constraint)


def _error(problem: str, retried: bool = False) -> errors.Internal:
    again = " (also after a retry under a stricter grammar)" if retried else ""
    return errors.Internal(
        f"The model's answer does not match the response schema{again}: {problem}. "
        "Retry the request, e.g. with another seed.",
        reason=REASON,
    )


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Any:
    return jsonschema.Draft202012Validator(json.loads(schema_json))
