"""Capture what each client library sends to the Gemini API, against the recording server.

Run in the frameworks venv (see tests/frameworks/__init__.py):
    python -m tests.frameworks.capture [OUT_DIR]   # default /tmp/frameworks/payloads

Writes one `<client>_<case>.json` per case: every request of the client's tool loop (method,
path, query, headers, body), the canned answers, and what the client made of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.frameworks import schemas
from tests.frameworks.recorder import (
    Recorded,
    Recorder,
    declared_functions,
    function_call_response,
    has_function_response,
    text_response,
)

MODEL = "gemini-2.5-flash"
KEY = "test-key"
JS_DIR = Path(__file__).resolve().parents[1] / "e2e" / "js"

WEATHER_ARGS = {"city": "Paris"}
WEATHER_OUT = {"city": "Paris", "temperature_c": 21, "conditions": ["sunny", "windy"]}
PET_OUT = {"pet": {"kind": "cat", "name": "Tom", "lives": 9}}
LINKS_OUT = {"homepage": "https://example.com/", "tags": ["a", "b"]}


def tool_loop(final: dict[str, Any]) -> Callable[[Recorded, list[Recorded]], Any]:
    """First request with tools → a call of `get_weather` (or the one declared function);
    once a functionResponse is in the contents → `final` (text or a call of an output tool)."""

    def respond(req: Recorded, earlier: list[Recorded]) -> Any:
        decls = declared_functions(req.body)
        if decls and not has_function_response(req.body):
            names = [d["name"] for d in decls]
            name = "get_weather" if "get_weather" in names else names[0]
            return function_call_response([(name, WEATHER_ARGS)])
        return final

    return respond


def output_tool(args: dict[str, Any]) -> Callable[[Recorded, list[Recorded]], Any]:
    """Answer with a call of the (first non-weather) declared function, args as given."""

    def respond(req: Recorded, earlier: list[Recorded]) -> Any:
        decls = [d for d in declared_functions(req.body) if d["name"] != "get_weather"]
        if decls and not has_function_response(req.body):
            return function_call_response([(decls[0]["name"], args)])
        return text_response("done")

    return respond


def json_text(obj: Any) -> Callable[[Recorded, list[Recorded]], Any]:
    return lambda req, earlier: text_response(json.dumps(obj))


# --- google-genai -----------------------------------------------------------------------------


def genai_client(url: str) -> Any:
    from google import genai
    from google.genai import types

    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=url))


def genai_afc(url: str) -> Any:
    from google.genai import types

    calls: list[str] = []

    def get_weather(city: str) -> dict[str, Any]:
        """Return the current weather in a city."""
        calls.append(city)
        return {"city": city, "temperature_c": 21}

    client = genai_client(url)
    response = client.models.generate_content(
        model=MODEL,
        contents="What is the weather in Paris?",
        config=types.GenerateContentConfig(tools=[get_weather], seed=1, temperature=1.0),
    )
    return {"python_function_called_with": calls, "text": response.text}


def genai_any(url: str) -> Any:
    from google.genai import types

    decl = types.FunctionDeclaration(
        name="get_weather",
        description="Return the current weather in a city.",
        parameters_json_schema={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    )
    client = genai_client(url)
    response = client.models.generate_content(
        model=MODEL,
        contents="What is the weather in Paris?",
        config=types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[decl])],
            tool_config=types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(
                    mode=types.FunctionCallingConfigMode.ANY,
                    allowed_function_names=["get_weather"],
                )
            ),
        ),
    )
    return [c.model_dump(exclude_none=True) for c in response.function_calls or []]


def genai_structured(url: str) -> Any:
    from google.genai import types

    client = genai_client(url)
    response = client.models.generate_content(
        model=MODEL,
        contents="Weather in Paris as JSON.",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=schemas.Weather
        ),
    )
    return response.parsed.model_dump() if response.parsed else response.text


# --- pydantic-ai ------------------------------------------------------------------------------


def pai_model(url: str) -> Any:
    from pydantic_ai.models.google import GoogleModel
    from pydantic_ai.providers.google import GoogleProvider

    return GoogleModel(MODEL, provider=GoogleProvider(client=genai_client(url)))


def pai_tools(url: str) -> Any:
    from pydantic_ai import Agent

    agent = Agent(pai_model(url))

    @agent.tool_plain
    def get_weather(city: str) -> dict[str, Any]:
        """Return the current weather in a city."""
        return {"city": city, "temperature_c": 21}

    return agent.run_sync("What is the weather in Paris?").output


def pai_output(output_type: Any) -> Callable[[str], Any]:
    def run(url: str) -> Any:
        from pydantic_ai import Agent

        result = Agent(pai_model(url), output_type=output_type).run_sync("Weather in Paris?")
        return result.output.model_dump(mode="json")

    return run


# --- LangChain --------------------------------------------------------------------------------


def lc_model(url: str) -> Any:
    from langchain_google_genai import ChatGoogleGenerativeAI

    return ChatGoogleGenerativeAI(model=MODEL, api_key=KEY, base_url=url, temperature=1.0)


def lc_bind_tools(url: str) -> Any:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """Return the current weather in a city."""
        return f"21 C in {city}"

    llm = lc_model(url).bind_tools([get_weather])
    messages: list[Any] = [HumanMessage("What is the weather in Paris?")]
    first = llm.invoke(messages)
    messages.append(first)
    for call in first.tool_calls:
        messages.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
    second = llm.invoke(messages)
    return {"tool_calls": first.tool_calls, "final": second.content}


def lc_structured(model: Any, method: str) -> Callable[[str], Any]:
    def run(url: str) -> Any:
        llm = lc_model(url).with_structured_output(model, method=method)
        out = llm.invoke("Give me the answer.")
        return out.model_dump(mode="json") if hasattr(out, "model_dump") else out

    return run


# --- LiteLLM ----------------------------------------------------------------------------------

LITELLM_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Return the current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def litellm_tools(tool_choice: str) -> Callable[[str], Any]:
    def run(url: str) -> Any:
        import litellm

        messages: list[dict[str, Any]] = [
            {"role": "user", "content": "What is the weather in Paris?"}
        ]
        first = litellm.completion(
            model=f"gemini/{MODEL}",
            api_base=url,
            api_key=KEY,
            messages=messages,
            tools=LITELLM_TOOLS,
            tool_choice=tool_choice,
            seed=1,
        )
        message = first.choices[0].message
        messages.append(message.model_dump())
        for call in message.tool_calls or []:
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": '{"temperature_c": 21}'}
            )
        second = litellm.completion(
            model=f"gemini/{MODEL}",
            api_base=url,
            api_key=KEY,
            messages=messages,
            tools=LITELLM_TOOLS,
        )
        return {
            "tool_calls": [c.model_dump() for c in message.tool_calls or []],
            "finish_reason": first.choices[0].finish_reason,
            "final": second.choices[0].message.content,
        }

    return run


# --- Vercel AI SDK (node) ---------------------------------------------------------------------


def ai_sdk(case: str) -> Callable[[str], Any]:
    def run(url: str) -> Any:
        proc = subprocess.run(
            ["node", str(JS_DIR / "ai_sdk_tools.mjs"), f"{url}/v1beta", case, "1"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=JS_DIR,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run


CASES: dict[str, tuple[Callable[[str], Any], Callable[[Recorded, list[Recorded]], Any]]] = {
    "genai_afc": (genai_afc, tool_loop(text_response("It is 21 C in Paris."))),
    "genai_any": (genai_any, tool_loop(text_response("unused"))),
    "genai_structured": (genai_structured, json_text(WEATHER_OUT)),
    "pydantic-ai_tools": (pai_tools, tool_loop(text_response("It is 21 C in Paris."))),
    "pydantic-ai_structured": (pai_output(schemas.Weather), output_tool(WEATHER_OUT)),
    "pydantic-ai_union": (pai_output(schemas.PetAnswer), output_tool(PET_OUT)),
    "pydantic-ai_urlset": (pai_output(schemas.Links), output_tool(LINKS_OUT)),
    "langchain_tools": (lc_bind_tools, tool_loop(text_response("It is 21 C in Paris."))),
    "langchain_structured_fc": (
        lc_structured(schemas.Weather, "function_calling"),
        output_tool(WEATHER_OUT),
    ),
    "langchain_urlset_fc": (
        lc_structured(schemas.Links, "function_calling"),
        output_tool(LINKS_OUT),
    ),
    "langchain_union_fc": (
        lc_structured(schemas.PetAnswer, "function_calling"),
        output_tool(PET_OUT),
    ),
    "langchain_urlset_json_schema": (
        lc_structured(schemas.Links, "json_schema"),
        json_text(LINKS_OUT),
    ),
    "litellm_tools_auto": (litellm_tools("auto"), tool_loop(text_response("21 C."))),
    "litellm_tools_required": (litellm_tools("required"), tool_loop(text_response("21 C."))),
    "ai-sdk_tools_auto": (ai_sdk("auto"), tool_loop(text_response("It is 21 C in Paris."))),
    "ai-sdk_tools_required": (ai_sdk("required"), tool_loop(text_response("21 C."))),
}


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/frameworks/payloads")
    only = sys.argv[2:]
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name, (run, responder) in CASES.items():
        if only and name not in only:
            continue
        answers: list[Any] = []

        def recording(
            req: Recorded,
            earlier: list[Recorded],
            responder: Any = responder,
            answers: list[Any] = answers,
        ) -> Any:
            answer = responder(req, earlier)
            answers.append(answer)
            return answer

        with Recorder(recording) as rec:
            try:
                result: Any = run(rec.url)
                error = None
            except Exception:
                result, error = None, traceback.format_exc()
                failed += 1
        doc = {
            "case": name,
            "requests": [
                {**r.as_json(), "answered_with": a}
                for r, a in zip(rec.requests, answers, strict=False)
            ],
            "client_result": result,
            "error": error,
        }
        (out / f"{name}.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
        status = "ERROR" if error else "ok"
        print(f"{name}: {len(rec.requests)} request(s), {status}")
        if error:
            print("   ", error.strip().splitlines()[-1])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
