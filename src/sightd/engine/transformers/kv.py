"""A KV cache whose decoding steps write in place.

transformers' `DynamicLayer` appends a step with `torch.cat`, copying the layer's whole cache
every step: for a batch of photo prompts (4 × 1,500 tokens of Qwen3-VL-2B is 1.4 GB of float32
keys and values) the copy costs more than the step's matrix products on a CPU, and grows with
every row the batch holds. `SlabLayer` keeps keys and values in preallocated slabs with spare
room and hands the attention a view of the filled part; it grows by a quarter (at least
`GROW` tokens) when full, so the copies are amortised. The batch scheduler rebuilds a layer's
slabs with `replace` when rows join or leave.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

GROW = 256  # spare tokens at least, when a slab is (re)allocated


class SlabLayer(DynamicLayer):  # type: ignore[misc]
    """`DynamicLayer` with in-place appends; `keys`/`values` are views of the filled part."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self._n = 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        need = self._n + int(key_states.shape[-2])
        if self._k is None or self._v is None or need > int(self._k.shape[-2]):
            self._allocate(key_states, value_states, need)
        assert self._k is not None and self._v is not None
        self._k[:, :, self._n : need].copy_(key_states)
        self._v[:, :, self._n : need].copy_(value_states)
        self._n = need
        self.keys, self.values = self._k[:, :, :need], self._v[:, :, :need]
        return self.keys, self.values

    def replace(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Hold exactly `keys`/`values` (another batch's rows) from now on, with spare room."""
        self._k = self._v = None
        self._n = 0
        self.is_initialized = False
        self.update(keys, values)

    def _allocate(self, keys: torch.Tensor, values: torch.Tensor, need: int) -> None:
        room = need + max(GROW, need // 4)
        k = keys.new_empty((*keys.shape[:-2], room, keys.shape[-1]))
        v = values.new_empty((*values.shape[:-2], room, values.shape[-1]))
        if self._k is not None and self._v is not None and self._n:
            k[:, :, : self._n].copy_(self._k[:, :, : self._n])
            v[:, :, : self._n].copy_(self._v[:, :, : self._n])
        self._k, self._v = k, v


def slab_cache(config: Any) -> Any:
    """A `DynamicCache` for `config`'s model whose layers are `SlabLayer`s; None when the model
    has layers of another kind (sliding windows…): then the default cache is used."""
    cache = DynamicCache(config=config)
    if not cache.layers or any(type(layer) is not DynamicLayer for layer in cache.layers):
        return None
    cache.layers = [SlabLayer() for _ in cache.layers]
    return cache
