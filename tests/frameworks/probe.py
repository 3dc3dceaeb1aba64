"""Which parts of a functionCall answer each client needs, probed against the recorder.

    python -m tests.frameworks.probe   # in the frameworks venv; prints one line per probe

Each client runs its tool loop (capture.py's cases) while the recorder answers the first
request with a variant of a `get_weather` call: without `id`, without `finishReason`, without
`usageMetadata`, with `args` as a JSON string, with two calls in one turn, with text before the
call. The line says whether the client completed the loop and what it made of the call."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.frameworks import capture
from tests.frameworks.recorder import (
    Recorded,
    Recorder,
    function_call_response,
    has_function_response,
    text_response,
)


def variant(name: str) -> dict[str, Any]:
    calls = [("get_weather", {"city": "Paris"})]
    if name == "two_calls":
        calls.append(("get_weather", {"city": "Rome"}))
    response = function_call_response(calls, with_id=name not in ("no_id", "two_calls_no_id"))
    candidate = response["candidates"][0]
    if name == "no_finish_reason":
        del candidate["finishReason"]
    if name == "no_usage":
        del response["usageMetadata"]
    if name == "args_string":
        call = candidate["content"]["parts"][0]["functionCall"]
        call["args"] = json.dumps(call["args"])
    if name == "text_then_call":
        candidate["content"]["parts"].insert(0, {"text": "Let me check."})
    if name == "no_args":
        del candidate["content"]["parts"][0]["functionCall"]["args"]
    return response


VARIANTS = [
    "baseline",
    "no_id",
    "no_finish_reason",
    "no_usage",
    "args_string",
    "no_args",
    "two_calls",
    "text_then_call",
]

CLIENTS: dict[str, Callable[[str], Any]] = {
    "genai_afc": capture.genai_afc,
    "pydantic-ai": capture.pai_tools,
    "langchain": capture.lc_bind_tools,
    "litellm": capture.litellm_tools("auto"),
    "ai-sdk": capture.ai_sdk("auto"),
}


def main() -> int:
    for client, run in CLIENTS.items():
        for name in VARIANTS:

            def respond(req: Recorded, earlier: list[Recorded], name: str = name) -> Any:
                if not has_function_response(req.body) and not earlier:
                    return variant(name)
                return text_response("final answer")

            with Recorder(respond) as rec:
                try:
                    result = json.dumps(run(rec.url), default=str)[:300]
                    status = "ok"
                except Exception as exc:
                    result = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                    status = "ERROR"
            second = rec.requests[1].body if len(rec.requests) > 1 else None
            sent_back = [
                p for c in (second or {}).get("contents", [])[1:] for p in c.get("parts", [])
            ]
            print(f"{client:12} {name:17} {status:5} requests={len(rec.requests)} {result}")
            if sent_back:
                print(f"{'':31} sent back: {json.dumps(sent_back)[:400]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
