"""sightd --engine openai in front of llama.cpp's `llama-server` (built from the sources the
llama-cpp-python sdist vendors) serving a tiny Qwen2.5-VL converted to GGUF + mmproj by
llama.cpp's own script: images, JSON mode enforced upstream, streaming, native grounding in
the model's input pixels, and both pages' e2e suites."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.e2e.test_page_examples import (  # noqa: F401  (collected again, through llama.cpp)
    test_js_sdk_upload_and_generate,
    test_python_example,
    workdir,
)
from tests.e2e.test_video_examples import (  # noqa: F401
    test_js_video_example,
    test_video_example,
)
from tests.engines.conftest import openai_handle
from tests.engines.gguf import convert_to_gguf
from tests.engines.llama_server import LlamaServer, start_llama_server
from tests.media_factory import image_bytes

pytestmark = pytest.mark.slow

# Qwen3-VL's default sampling, so the random model does not emit "\n" greedily forever.
SAMPLING = {"do_sample": True, "temperature": 0.7, "top_k": 20, "top_p": 0.8}


@pytest.fixture(scope="module")
def llama_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sightd.testing.tiny import build_tiny

    folder = build_tiny(tmp_path_factory.mktemp("llama") / "tiny-qwen2.5-vl", family="qwen2.5-vl")
    gen_path = folder / "generation_config.json"
    gen = json.loads(gen_path.read_text())
    gen.update(SAMPLING)
    gen_path.write_text(json.dumps(gen))
    return folder


@pytest.fixture(scope="module")
def llama(llama_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    out = tmp_path_factory.mktemp("gguf")
    gguf, mmproj = convert_to_gguf(llama_model_dir, out)
    server = start_llama_server(
        gguf, mmproj, log_path=out / "llama-server.log", ctx_size=32768, parallel=2
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def engine_handle(
    llama: LlamaServer, llama_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    return openai_handle(
        llama.url, llama.model, llama_model_dir, tmp_path_factory.mktemp("llama-engine")
    )


SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["cat", "dog", "bird"]},
        "count": {"type": "integer", "minimum": 0, "maximum": 9},
    },
    "required": ["label", "count"],
}


def test_images_json_mode_and_enum_are_enforced_upstream(client: Any) -> None:
    from google.genai import types

    red = types.Part.from_bytes(data=image_bytes(320, 240, "PNG", "red"), mime_type="image/png")
    blue = types.Part.from_bytes(data=image_bytes(200, 150, "JPEG", "blue"), mime_type="image/jpeg")
    for seed in range(3):
        config = types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema=SCHEMA,
            max_output_tokens=60,
            seed=seed,
        )
        response = client.models.generate_content(
            model="gemini-2.5-flash", contents=[red, blue, "What is it?"], config=config
        )
        assert response.usage_metadata.prompt_tokens_details[1].token_count == 2 * 258
        if response.candidates[0].finish_reason.name == "STOP":
            jsonschema.validate(json.loads(response.text), SCHEMA)
    enum = types.GenerateContentConfig(
        response_mime_type="text/x.enum",
        response_schema={"type": "STRING", "enum": ["yes", "no"]},
        max_output_tokens=10,
    )
    answer = client.models.generate_content(
        model="gemini-2.5-flash", contents=[red, "Is it red?"], config=enum
    )
    assert answer.text in ("yes", "no")


def test_streaming_through_llama_server(client: Any) -> None:
    from google.genai import types

    config = types.GenerateContentConfig(max_output_tokens=24, temperature=1.0, seed=5)
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Tell me a story.", config=config
        )
    )
    text = "".join(c.text or "" for c in chunks)
    finish = chunks[-1].candidates[0].finish_reason.name
    produced = chunks[-1].usage_metadata.candidates_token_count
    assert len(chunks) >= 2 and finish in ("STOP", "MAX_TOKENS")
    assert produced == 24 if finish == "MAX_TOKENS" else 0 < produced <= 24
    whole = client.models.generate_content(
        model="gemini-2.5-flash", contents="Tell me a story.", config=config
    )
    assert whole.text == text  # same seed, same server: the stream is the answer


def test_native_boxes_in_the_upstream_input_frame(client: Any, engine_handle: Any) -> None:
    from google.genai import types

    backend = engine_handle.require()
    assert backend.capabilities.grounding_family == "qwen2.5-vl"
    assert backend.input_frame_px((640, 480)) == (644, 476)
    image = types.Part.from_bytes(data=image_bytes(640, 480, "PNG", "red"), mime_type="image/png")
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[image, "Detect all objects. Return box_2d and label for each."],
        config=types.GenerateContentConfig(response_mime_type="application/json"),
    )
    for item in json.loads(response.text):
        ymin, xmin, ymax, xmax = item["box_2d"]
        assert 0 <= ymin < ymax <= 1000 and 0 <= xmin < xmax <= 1000 and item["label"]


def test_too_long_prompt_is_a_clear_400(client: Any, llama: LlamaServer) -> None:
    from google.genai import errors as genai_errors

    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents="word " * 40000)
    assert caught.value.code == 400
    assert "exceeds the available context size" in caught.value.message


def test_client_that_hangs_up_cancels_the_upstream_generation(
    server: Any, llama: LlamaServer
) -> None:
    """Closing a sightd stream closes the upstream one, and llama-server cancels that task."""
    import time

    import httpx

    def cancels() -> int:
        return llama.log_path.read_text(errors="replace").count("cancel task")

    before = cancels()
    body = {
        "contents": [{"parts": [{"text": "Write a very long story."}]}],
        # Seeded: unseeded, the random model sometimes ends its answer within a few dozen
        # tokens, before the client has hung up (a flaky race, not a cancel failure).
        "generationConfig": {"maxOutputTokens": 8000, "temperature": 1.0, "seed": 7},
    }
    url = f"{server.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    with httpx.stream("POST", url, json=body, timeout=60) as response:
        events = 0
        for line in response.iter_lines():
            events += line.startswith("data:")
            if events == 3:
                break  # hang up mid-answer
    deadline = time.monotonic() + 30
    while cancels() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cancels() > before, llama.log_tail()
