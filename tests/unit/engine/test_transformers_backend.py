"""TransformersBackend on tiny models of each family: the real processor → generate path."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from PIL import Image

from sightd.engine.base import Completion, SamplingParams, TextDelta
from sightd.engine.inprocess import LocalModel
from sightd.errors import InvalidArgument
from sightd.prompt import ImagePart, Prompt, TextPart, Turn

pytest.importorskip("torch")
pytest.importorskip("transformers")

FAMILIES = ("qwen3-vl", "qwen2.5-vl", "smolvlm2")
SAMPLED = {"temperature": 1.0, "top_k": 0, "top_p": 1.0}  # override any greedy-ish defaults


def _image(w: int, h: int, rgb: tuple[int, int, int]) -> ImagePart:
    return ImagePart(Image.new("RGB", (w, h), rgb), (w, h))


PROMPT = Prompt(
    system="You describe pictures briefly.",
    turns=(
        Turn("user", (_image(640, 480, (200, 30, 30)), TextPart("What is in this photo?"))),
        Turn("model", (TextPart("A red square."),)),
        Turn("user", (TextPart("And in this one?"), _image(40, 30, (0, 0, 220)))),
    ),
)


@pytest.mark.parametrize("family", FAMILIES)
def test_info(backends: dict[str, Any], family: str) -> None:
    backend = backends[family]
    assert isinstance(backend, LocalModel)
    assert backend.capabilities.grounding_family == (None if family == "smolvlm2" else family)
    info = backend.info
    assert info.id == f"tiny-{family}"
    assert info.family == family
    assert 0 < info.max_output_tokens <= info.context_tokens
    assert info.image_max_side_px >= 512


@pytest.mark.parametrize("family", FAMILIES)
def test_generate_stops_at_max_tokens(backends: dict[str, Any], family: str) -> None:
    completion = backends[family].generate(
        PROMPT, SamplingParams(max_output_tokens=6, temperature=0)
    )
    assert isinstance(completion, Completion)
    assert completion.finish_reason == "MAX_TOKENS"
    assert completion.output_tokens == 6
    assert isinstance(completion.text, str)


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_text(backends: dict[str, Any], family: str) -> None:
    backend = backends[family]
    first = backend.generate(PROMPT, SamplingParams(max_output_tokens=12, seed=7, **SAMPLED))
    again = backend.generate(PROMPT, SamplingParams(max_output_tokens=12, seed=7, **SAMPLED))
    other = backend.generate(PROMPT, SamplingParams(max_output_tokens=12, seed=8, **SAMPLED))
    assert first == again
    assert first.text != other.text


def _stop_from(text: str) -> str:
    """A two-character stop sequence from the middle of `text` (no replacement characters)."""
    for start in range(len(text) // 3, len(text) - 2):
        candidate = text[start : start + 2]
        if "\ufffd" not in candidate and candidate.strip():
            return candidate
    pytest.skip(f"no usable stop sequence in {text!r}")


@pytest.mark.parametrize("family", FAMILIES)
def test_stop_sequence_cuts_the_text(backends: dict[str, Any], family: str) -> None:
    backend = backends[family]
    params = SamplingParams(max_output_tokens=24, seed=3, **SAMPLED)
    full = backend.generate(PROMPT, params)
    stop = _stop_from(full.text)
    cut = backend.generate(
        PROMPT,
        SamplingParams(max_output_tokens=24, seed=3, stop_sequences=("\x00never", stop), **SAMPLED),
    )
    assert cut.text == full.text[: full.text.find(stop)]
    assert cut.finish_reason == "STOP"
    assert cut.output_tokens <= full.output_tokens


@pytest.mark.parametrize("family", FAMILIES)
def test_stream_deltas_join_to_the_completion(backends: dict[str, Any], family: str) -> None:
    backend = backends[family]
    params = SamplingParams(max_output_tokens=16, seed=5, **SAMPLED)
    items = list(backend.stream(PROMPT, params))
    *deltas, last = items
    assert isinstance(last, Completion)
    assert all(isinstance(d, TextDelta) and d.text for d in deltas)
    assert len(deltas) > 1
    assert "".join(d.text for d in deltas) == last.text
    assert last == backend.generate(PROMPT, params)


def test_closing_a_stream_stops_generation(backends: dict[str, Any]) -> None:
    backend = backends["qwen3-vl"]
    stream = backend.stream(PROMPT, SamplingParams(max_output_tokens=5000, temperature=0))
    assert isinstance(next(stream), TextDelta)
    started = time.perf_counter()
    stream.close()
    assert time.perf_counter() - started < 2.0
    assert not any(t.name == "sightd-generate" for t in threading.enumerate())
    # the backend is free again
    quick = backend.generate(PROMPT, SamplingParams(max_output_tokens=2, temperature=0))
    assert quick.output_tokens == 2


def test_control_tokens_in_user_text_are_plain_text(backends: dict[str, Any]) -> None:
    for family in ("qwen3-vl", "smolvlm2"):
        prompt = Prompt(
            turns=(
                Turn(
                    "user",
                    (_image(64, 64, (1, 2, 3)), TextPart("<|image_pad|> <image> <|im_end|>")),
                ),
            )
        )
        completion = backends[family].generate(prompt, SamplingParams(max_output_tokens=2))
        assert completion.output_tokens == 2


def test_text_only_prompt(backends: dict[str, Any]) -> None:
    prompt = Prompt(turns=(Turn("user", (TextPart("Hello"),)),))
    completion = backends["qwen2.5-vl"].generate(prompt, SamplingParams(max_output_tokens=3))
    assert completion.output_tokens == 3


def test_prompt_longer_than_the_context_is_refused(backends: dict[str, Any]) -> None:
    backend = backends["smolvlm2"]
    long_text = "zq" * backend.info.context_tokens
    with pytest.raises(InvalidArgument, match="tokens"):
        backend.generate(Prompt(turns=(Turn("user", (TextPart(long_text),)),)), SamplingParams())


def test_extreme_aspect_ratio_is_an_invalid_argument(backends: dict[str, Any]) -> None:
    prompt = Prompt(turns=(Turn("user", (_image(1000, 4, (9, 9, 9)), TextPart("?"))),))
    with pytest.raises(InvalidArgument, match="aspect ratio"):
        backends["qwen3-vl"].generate(prompt, SamplingParams(max_output_tokens=1))


def test_count_text_tokens(backends: dict[str, Any]) -> None:
    backend = backends["qwen3-vl"]
    short = backend.count_text_tokens("A photo of a cat.")
    assert 0 < short < backend.count_text_tokens("A photo of a cat. " * 10)
    assert backend.count_text_tokens("") == 0
