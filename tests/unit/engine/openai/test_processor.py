"""What sightd knows of a model another server runs: Qwen's resize frame, computed exactly as
the model's own processor does, and the family from its files or its name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sightd.engine.openai.processor import facts_from_folder, facts_from_name, smart_resize
from sightd.errors import InvalidArgument

SIZES = [(640, 480), (1920, 1080), (33, 4000), (4000, 33), (28, 28), (12000, 9000), (1, 150)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    ("factor", "min_px", "max_px"),
    [(28, 3136, 12845056), (32, 65536, 16777216), (28, 3136, 200704)],
)
def test_smart_resize_matches_transformers(
    size: tuple[int, int], factor: int, min_px: int, max_px: int
) -> None:
    qwen = pytest.importorskip("transformers.models.qwen2_vl.image_processing_pil_qwen2_vl")
    w, h = size
    assert smart_resize(h, w, factor, min_px, max_px) == qwen.smart_resize(
        h, w, factor=factor, min_pixels=min_px, max_pixels=max_px
    )


def test_extreme_aspect_is_a_400() -> None:
    with pytest.raises(InvalidArgument):
        smart_resize(1, 500, 28, 3136, 12845056)


def test_facts_from_a_tiny_folder(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from sightd.testing.tiny import build_tiny

    folder = build_tiny(tmp_path / "q25", family="qwen2.5-vl")
    facts = facts_from_folder(folder)
    assert facts.family is not None and facts.family.name == "qwen2.5-vl"
    pre = json.loads((folder / "preprocessor_config.json").read_text())
    factor = pre["patch_size"] * pre["merge_size"]
    w, h = facts.input_frame_px((640, 480))
    assert w % factor == 0 and h % factor == 0
    assert facts.tokenizer_json is not None and facts.context_tokens


@pytest.mark.parametrize(
    ("name", "family", "resizes"),
    [
        ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5-vl", True),
        ("qwen2.5vl:7b", "qwen2.5-vl", True),
        ("Qwen/Qwen3-VL-8B-Instruct", "qwen3-vl", True),
        ("HuggingFaceTB/SmolVLM2-2.2B-Instruct", "smolvlm2", False),
        ("llava-hf/llava-1.5-7b-hf", None, False),
    ],
)
def test_family_from_name(name: str, family: str | None, resizes: bool) -> None:
    facts = facts_from_name(name)
    assert (facts.family.name if facts.family else None) == family
    assert facts.resizes == resizes
    expected = {"qwen2.5-vl": (644, 476), "qwen3-vl": (640, 480)}.get(family or "", (640, 480))
    assert facts.input_frame_px((640, 480)) == expected
