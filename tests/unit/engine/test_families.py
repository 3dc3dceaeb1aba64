"""Family detection, Prompt → chat messages, and the per-family limits (no model needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from sightd.engine.transformers.families import FAMILIES, Family, detect_family
from sightd.errors import Unimplemented
from sightd.prompt import ImagePart, Prompt, TextPart, Turn


@pytest.mark.parametrize(
    ("model_type", "family"),
    [
        ("qwen3_vl", "qwen3-vl"),
        ("qwen2_5_vl", "qwen2.5-vl"),
        ("smolvlm", "smolvlm2"),
        ("idefics3", "smolvlm"),
    ],
)
def test_detect_family(model_type: str, family: str) -> None:
    assert detect_family({"model_type": model_type}).name == family


def test_unknown_model_type_names_the_supported_ones() -> None:
    with pytest.raises(Unimplemented) as info:
        detect_family({"model_type": "llava"})
    assert "llava" in info.value.message
    assert "qwen3-vl" in info.value.message


def _image(w: int, h: int) -> ImagePart:
    return ImagePart(Image.new("RGB", (w, h)), (w, h))


def test_messages_keep_order_roles_and_system() -> None:
    first, second = _image(64, 48), _image(8, 8)
    prompt = Prompt(
        system="Be brief.",
        turns=(
            Turn("user", (first, TextPart("What is this?"))),
            Turn("model", (TextPart("A cat."),)),
            Turn("user", (TextPart("And this?"), second)),
        ),
    )
    messages = FAMILIES[0].messages(prompt)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == [{"type": "text", "text": "Be brief."}]
    assert messages[1]["content"][0] == {"type": "image", "image": first.image}
    assert messages[1]["content"][1] == {"type": "text", "text": "What is this?"}
    assert messages[3]["content"][1]["image"] is second.image


def test_images_in_model_turns_are_dropped_and_empty_turns_get_text() -> None:
    prompt = Prompt(turns=(Turn("model", (_image(8, 8),)), Turn("user", ())))
    messages = FAMILIES[0].messages(prompt)
    assert messages[0]["content"] == [{"type": "text", "text": ""}]
    assert messages[1]["content"] == [{"type": "text", "text": ""}]


def _family(name: str) -> Family:
    return next(f for f in FAMILIES if f.name == name)


@pytest.mark.parametrize(
    ("family", "size", "side"),
    [
        ("qwen3-vl", {"longest_edge": 16777216, "shortest_edge": 65536}, 5792),
        ("qwen2.5-vl", {"longest_edge": 12845056, "shortest_edge": 3136}, 5068),
        ("smolvlm2", {"longest_edge": 1536}, 1536),
    ],
)
def test_image_max_side(family: str, size: dict[str, int], side: int) -> None:
    processor: Any = SimpleNamespace(size=size)
    assert _family(family).image_max_side_px(processor) == side


def test_context_tokens_prefers_the_text_config() -> None:
    config = {"max_position_embeddings": 4, "text_config": {"max_position_embeddings": 262144}}
    assert Family.context_tokens(config) == 262144
    assert Family.context_tokens({"max_position_embeddings": 8192}) == 8192
