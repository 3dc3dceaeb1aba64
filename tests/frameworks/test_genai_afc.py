"""google-genai's automatic function calling: a Python function passed in `tools` is called
by the SDK, its result sent back as a functionResponse turn, and sightd answers again.

Mode ANY makes every answer a call (Gemini's rule), so the SDK loop only ends at
`maximum_remote_calls`: the ANY test checks the function ran with valid args and the result
turn was accepted. The AUTO test (the SDK's default) checks each run ends in a final answer,
whether or not the random model chose to call."""

from __future__ import annotations

from typing import Any

import pytest

from tests.frameworks.checks import assert_all_valid
from tests.frameworks.conftest import MODEL, NO_TOOL_SYNTAX, RUNS, TIMEOUT_S
from tests.frameworks.recorder import Proxy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(TIMEOUT_S),
    # pydantic warns about LiteLLM's and google-genai's ReadOnly TypedDicts at import.
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def _client(url: str) -> Any:
    from google import genai
    from google.genai import types

    return genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=url))


def test_afc_any_calls_the_function(proxy: Proxy) -> None:
    from google.genai import types

    client = _client(proxy.url)
    failures: list[str] = []
    for seed in range(RUNS):
        cities: list[Any] = []

        def get_weather(city: str) -> dict[str, Any]:
            """Return the current weather in a city."""
            cities.append(city)  # noqa: B023 - reset per seed on purpose
            return {"city": city, "temperature_c": 21}

        config = types.GenerateContentConfig(
            tools=[get_weather],
            tool_config=types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode="ANY")
            ),
            automatic_function_calling=types.AutomaticFunctionCallingConfig(maximum_remote_calls=2),
            seed=seed,
            temperature=1.0,
        )
        try:
            response = client.models.generate_content(
                model=MODEL, contents="What is the weather in Paris?", config=config
            )
            history = response.automatic_function_calling_history or []
            sent_back = [
                p for c in history for p in (c.parts or []) if p.function_response is not None
            ]
            if len(cities) != 1 or not all(isinstance(c, str) for c in cities):
                failures.append(f"seed {seed}: function called with {cities!r}")
            elif not sent_back:
                failures.append(f"seed {seed}: no functionResponse in the AFC history")
        except Exception as exc:
            failures.append(f"seed {seed}: {type(exc).__name__}: {str(exc)[:300]}")
    assert_all_valid(RUNS, failures, proxy.exchanges)


def test_afc_auto_reaches_a_final_answer(proxy: Proxy, family: str) -> None:
    """AUTO, the SDK's default: each run ends in a final answer, or at the SDK's limit of
    `maximum_remote_calls` (10) calls, every one valid. A family without tool syntax answers a
    clear 400 that points at mode ANY."""
    from google.genai import errors, types

    client = _client(proxy.url)
    failures: list[str] = []
    called = answered_after_call = 0
    for seed in range(RUNS):
        cities: list[Any] = []

        def get_weather(city: str) -> dict[str, Any]:
            """Return the current weather in a city."""
            cities.append(city)  # noqa: B023
            return {"city": city, "temperature_c": 21}

        config = types.GenerateContentConfig(tools=[get_weather], seed=seed, temperature=1.0)
        try:
            response = client.models.generate_content(
                model=MODEL, contents="What is the weather in Paris?", config=config
            )
        except errors.ClientError as exc:
            if family in NO_TOOL_SYNTAX and exc.code == 400 and "ANY" in str(exc):
                continue
            failures.append(f"seed {seed}: {type(exc).__name__}: {str(exc)[:300]}")
            continue
        except Exception as exc:
            failures.append(f"seed {seed}: {type(exc).__name__}: {str(exc)[:300]}")
            continue
        if family in NO_TOOL_SYNTAX:
            failures.append(f"seed {seed}: mode AUTO on {family} answered 200, not a clear 400")
        called += bool(cities)
        if response.function_calls and len(cities) < 9:
            failures.append(f"seed {seed}: ended on a call after {len(cities)} executed")
        elif not response.function_calls:
            answered_after_call += bool(cities)
            if not response.candidates or response.candidates[0].finish_reason is None:
                failures.append(f"seed {seed}: no final answer")
    print(
        f"AUTO on {family}: get_weather called in {called}/{RUNS} runs, "
        f"a final answer after the call in {answered_after_call}"
    )
    if family in NO_TOOL_SYNTAX:
        assert not failures, "\n".join(failures[:5])
    else:
        assert_all_valid(RUNS, failures, proxy.exchanges)
