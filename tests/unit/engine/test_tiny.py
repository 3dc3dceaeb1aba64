"""Tiny models: real architectures, consistent special tokens, small, fast and deterministic."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sightd.testing import chat_templates

pytest.importorskip("torch")
pytest.importorskip("transformers")

from sightd.testing.tiny import FAMILIES, build_tiny

EXPECTED_FILES = {
    "config.json",
    "model.safetensors",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "chat_template.jinja",
}
TEMPLATES = {
    "qwen3-vl": chat_templates.QWEN3_VL,
    "qwen2.5-vl": chat_templates.QWEN2_5_VL,
    "smolvlm2": chat_templates.SMOLVLM2,
}
PLACEHOLDERS = {
    "qwen3-vl": ("image_token_id", "<|image_pad|>"),
    "qwen2.5-vl": ("image_token_id", "<|image_pad|>"),
    "smolvlm2": ("image_token_id", "<image>"),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_folder_is_complete_small_and_consistent(tiny_dirs: dict[str, Path], family: str) -> None:
    folder = tiny_dirs[family]
    assert {p.name for p in folder.iterdir()} >= EXPECTED_FILES
    assert sum(p.stat().st_size for p in folder.iterdir()) < 5 * 1024 * 1024
    assert (folder / "chat_template.jinja").read_text(encoding="utf-8") == TEMPLATES[family]

    config = json.loads((folder / "config.json").read_text())
    vocab = {
        t["content"]: t["id"]
        for t in json.loads((folder / "tokenizer.json").read_text())["added_tokens"]
    }
    key, token = PLACEHOLDERS[family]
    assert config[key] == vocab[token]
    assert config["text_config"]["vocab_size"] >= max(vocab.values()) + 1
    if family.startswith("qwen"):
        assert config["vision_start_token_id"] == vocab["<|vision_start|>"]
        assert config["video_token_id"] == vocab["<|video_pad|>"]


def test_build_is_fast_and_deterministic(tmp_path: Path, tiny_dirs: dict[str, Path]) -> None:
    started = time.perf_counter()
    again = build_tiny(tmp_path / "again", "qwen3-vl", seed=0)
    assert time.perf_counter() - started < 5.0
    original = tiny_dirs["qwen3-vl"]
    for path in original.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    other = build_tiny(tmp_path / "other", "qwen3-vl", seed=1)
    weights = (other / "model.safetensors").read_bytes()
    assert weights != (original / "model.safetensors").read_bytes()


def test_unknown_family_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="qwen3-vl"):
        build_tiny(tmp_path, "llava")
