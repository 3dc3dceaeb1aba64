"""LangChain (`langchain-google-genai`) against a live sightd: `bind_tools` in mode ANY and
`with_structured_output` by function calling and by JSON schema, with `HttpUrl` and
`set[str]` fields."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("langchain_google_genai")

from tests.frameworks.checks import assert_all_valid
from tests.frameworks.conftest import MODEL, RUNS, TIMEOUT_S
from tests.frameworks.recorder import Proxy
from tests.frameworks.schemas import GET_WEATHER_PARAMETERS, Links, Weather

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(TIMEOUT_S),
    # pydantic warns about LiteLLM's and google-genai's ReadOnly TypedDicts at import.
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def _llm(url: str, seed: int) -> Any:
    from langchain_google_genai import ChatGoogleGenerativeAI

    return ChatGoogleGenerativeAI(
        model=MODEL, api_key="test-key", base_url=url, temperature=1.0, seed=seed, max_retries=0
    )


def test_bind_tools_any(proxy: Proxy) -> None:
    from jsonschema import Draft202012Validator
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """Return the current weather in a city."""
        return f"21 C in {city}"

    validator = Draft202012Validator(GET_WEATHER_PARAMETERS)
    failures: list[str] = []
    for seed in range(RUNS):
        try:
            llm = _llm(proxy.url, seed).bind_tools([get_weather], tool_choice="any")
            message = llm.invoke("What is the weather in Paris?")
            if message.invalid_tool_calls:
                failures.append(f"seed {seed}: invalid_tool_calls {message.invalid_tool_calls}")
            if not message.tool_calls:
                failures.append(f"seed {seed}: no tool call: {str(message.content)[:200]!r}")
            for call in message.tool_calls:
                if call["name"] != "get_weather":
                    failures.append(f"seed {seed}: called {call['name']!r}")
                elif errors := list(validator.iter_errors(call["args"])):
                    failures.append(f"seed {seed}: args {call['args']}: {errors[0].message}")
        except Exception as exc:
            failures.append(f"seed {seed}: {type(exc).__name__}: {str(exc)[:300]}")
    assert_all_valid(RUNS, failures, proxy.exchanges)


def _structured(proxy: Proxy, model: Any, method: str) -> None:
    failures: list[str] = []
    for seed in range(RUNS):
        try:
            llm = _llm(proxy.url, seed).with_structured_output(
                model, method=method, include_raw=True
            )
            out = llm.invoke("Give me the answer.")
            if out["parsing_error"] is not None or out["parsed"] is None:
                failures.append(f"seed {seed}: not a {model.__name__}: {out['parsing_error']}")
            else:
                model.model_validate(out["parsed"].model_dump())
        except Exception as exc:
            failures.append(f"seed {seed}: {type(exc).__name__}: {str(exc)[:300]}")
    assert_all_valid(RUNS, failures, proxy.exchanges)


def test_structured_output_function_calling(proxy: Proxy) -> None:
    _structured(proxy, Weather, "function_calling")


@pytest.mark.xfail(
    reason="langchain-google-genai 4.4.2 sends HttpUrl as a bare {'type': 'STRING'} (no format, "
    "no length) with method='function_calling': sightd cannot know it must be a URL, so a "
    "random model's string fails pydantic's HttpUrl. The wire check (args vs the sent schema) "
    "still has to pass; see test_structured_output_url_and_set_wire.",
    strict=False,
)
def test_structured_output_function_calling_url_and_set(proxy: Proxy) -> None:
    _structured(proxy, Links, "function_calling")


def test_structured_output_function_calling_url_and_set_wire(proxy: Proxy) -> None:
    """sightd's half of the case above: every call valid against the schema LangChain sent."""
    from tests.frameworks.checks import wire_problems

    for seed in range(RUNS):
        llm = _llm(proxy.url, seed).with_structured_output(
            Links, method="function_calling", include_raw=True
        )
        llm.invoke("Give me the answer.")
    problems = wire_problems(proxy.exchanges)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:5])


def test_structured_output_json_schema_url_and_set(proxy: Proxy) -> None:
    """LangChain's default method sends the full JSON Schema (`format: uri`, lengths,
    `uniqueItems`) as responseJsonSchema."""
    _structured(proxy, Links, "json_schema")
