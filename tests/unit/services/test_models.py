from __future__ import annotations

import pytest

from sightd import errors
from sightd.engine.base import model_id_for
from sightd.services.models import ModelCatalog


@pytest.mark.parametrize(
    ("source", "ident"),
    [
        ("Qwen/Qwen3-VL-2B-Instruct", "qwen3-vl-2b-instruct"),
        ("/models/tiny-qwen3-vl/", "tiny-qwen3-vl"),
        ("HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "smolvlm2-256m-video-instruct"),
        ("C:\\m\\My Model", "my-model"),
    ],
)
def test_model_ids(source: str, ident: str) -> None:
    assert model_id_for(source) == ident


@pytest.mark.parametrize(
    "name",
    [
        "gemini-2.5-flash",
        "models/gemini-2.5-flash",
        "gemini-3-flash-preview",
        "models/qwen3-vl-2b-instruct",
        "qwen3-vl-2b-instruct",
    ],
)
def test_served_names(name: str) -> None:
    entry = ModelCatalog("Qwen/Qwen3-VL-2B-Instruct").resolve(name)
    assert entry.served_id == "qwen3-vl-2b-instruct"


@pytest.mark.parametrize("name", ["gpt-4o", "models/claude", "gemini-", "qwen3-vl"])
def test_unknown_names_are_not_found(name: str) -> None:
    with pytest.raises(errors.NotFound):
        ModelCatalog("Qwen/Qwen3-VL-2B-Instruct").resolve(name)
