"""LiteLLM's `tools=` (OpenAI-style) through its Gemini provider against a live sightd.
`tool_choice="required"` is Gemini's mode ANY. LiteLLM adds no `/v1beta`: `api_base` carries it."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("litellm")

from tests.frameworks.checks import assert_all_valid
from tests.frameworks.conftest import MODEL, RUNS, TIMEOUT_S
from tests.frameworks.recorder import Proxy
from tests.frameworks.schemas import (
    GET_WEATHER_DESCRIPTION,
    GET_WEATHER_NAME,
    GET_WEATHER_PARAMETERS,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(TIMEOUT_S),
    # pydantic warns about LiteLLM's and google-genai's ReadOnly TypedDicts at import.
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": GET_WEATHER_NAME,
            "description": GET_WEATHER_DESCRIPTION,
            "parameters": GET_WEATHER_PARAMETERS,
        },
    }
]


def test_tools_required(proxy: Proxy) -> None:
    import litellm
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(GET_WEATHER_PARAMETERS)
    failures: list[str] = []
    for seed in range(RUNS):
        try:
            response = litellm.completion(
                model=f"gemini/{MODEL}",
                api_base=f"{proxy.url}/v1beta",
                api_key="test-key",
                messages=[{"role": "user", "content": "What is the weather in Paris?"}],
                tools=TOOLS,
                tool_choice="required",
                seed=seed,
                temperature=1.0,
                num_retries=0,
            )
            choice = response.choices[0]
            calls = choice.message.tool_calls or []
            if not calls or choice.finish_reason != "tool_calls":
                failures.append(f"seed {seed}: {len(calls)} calls, {choice.finish_reason}")
            for call in calls:
                args = json.loads(call.function.arguments)
                if call.function.name != GET_WEATHER_NAME:
                    failures.append(f"seed {seed}: called {call.function.name!r}")
                elif errors := list(validator.iter_errors(args)):
                    failures.append(f"seed {seed}: args {args}: {errors[0].message}")
        except Exception as exc:
            failures.append(f"seed {seed}: {type(exc).__name__}: {str(exc)[:300]}")
    assert_all_valid(RUNS, failures, proxy.exchanges)
