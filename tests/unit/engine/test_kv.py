"""`SlabLayer` holds exactly what `DynamicLayer` holds, appending in place (no whole-cache copy
per step), and the batch's cache is made of them."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")


def test_slab_layer_matches_dynamic_layer_and_appends_in_place() -> None:
    from transformers.cache_utils import DynamicLayer

    from sightd.engine.transformers.kv import GROW, SlabLayer

    slab, plain = SlabLayer(), DynamicLayer()
    prompt = (torch.randn(2, 4, 10, 8), torch.randn(2, 4, 10, 8))
    for layer in (slab, plain):
        layer.update(*prompt)
    storage = slab.keys.untyped_storage().data_ptr()
    for _ in range(GROW):  # within the spare room: same storage, no copy
        step = (torch.randn(2, 4, 1, 8), torch.randn(2, 4, 1, 8))
        k, v = slab.update(*step)
        pk, pv = plain.update(*step)
        assert torch.equal(k, pk) and torch.equal(v, pv)
    assert slab.keys.untyped_storage().data_ptr() == storage
    assert slab.get_seq_length() == plain.get_seq_length() == 10 + GROW
    k, _ = slab.update(*(torch.randn(2, 4, 1, 8),) * 2)  # past the room: grows, keeps content
    assert torch.equal(k[:, :, : 10 + GROW], plain.keys)
    slab.replace(plain.keys[:1], plain.values[:1])  # one row left the batch
    assert torch.equal(slab.keys, plain.keys[:1]) and slab.get_seq_length() == 10 + GROW


def test_the_batch_cache_is_made_of_slabs(backends: Any) -> None:
    from sightd.engine.base import SamplingParams
    from sightd.engine.transformers.kv import SlabLayer
    from sightd.prompt import Prompt, TextPart, Turn

    backend = backends["qwen3-vl"]
    seen: list[Any] = []
    batcher = backend._batcher
    original = batcher._step

    def step() -> None:
        seen.extend(type(layer) for layer in batcher._cache.layers)
        original()

    batcher._step = step
    try:
        prompt = Prompt(turns=(Turn("user", (TextPart("Hello there."),)),))
        backend.generate(prompt, SamplingParams(temperature=0, max_output_tokens=3))
    finally:
        del batcher._step
    assert seen and set(seen) == {SlabLayer}
