"""`dtype: int8` on the CPU: the text model's Linear layers dynamically quantized to int8.

Dynamic quantization stores each Linear's weight as int8 (one scale per output channel) and
quantizes the activations per call, so the matmuls run in int8 (fbgemm / x86 VNNI) while
everything between them stays float32. Decoding on a CPU is bound by memory bandwidth (every
token reads every weight), so a quarter of the bytes per weight is the lever; the vision
encoder is compute-bound and small by comparison, and stays float32, as do the embeddings.

torch.ao.quantization's eager mode is deprecated in favour of torchao (not a dependency of
ours); it still ships in torch 2.13 and is the one CPU int8 path that needs nothing else, so
its deprecation warnings are silenced here and a torch without it gets a clear error.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from sightd.errors import InvalidArgument


def quantize_text_model(model: Any) -> int:
    """Replace, in place, every `nn.Linear` of `model`'s text decoder and its output head
    (`lm_head`) by an int8 dynamically quantized one; returns how many were replaced.

    `model` may be in its checkpoint's dtype (bfloat16 for Qwen): each Linear is quantized
    from its own weights (widened to float32 one layer at a time), then the rest of the model
    is made float32. Loading that way peaks near the checkpoint's size plus the vision and
    embeddings in float32, instead of a whole float32 copy (9 GB for a 2B model) first.
    A tied output head gets its own int8 copy; the float32 embedding table it shared stays
    for the input lookups.
    """
    try:
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as e:  # a torch that has dropped eager-mode quantization
        raise InvalidArgument(
            f"dtype int8 needs torch.ao.quantization's dynamic quantization: {e}", field="dtype"
        ) from e
    if not int8_available():
        raise InvalidArgument(
            "dtype int8 needs torch's fbgemm/x86 quantized engine, which this build lacks "
            f"(it has {torch.backends.quantized.supported_engines})",
            field="dtype",
        )
    targets = {id(model.get_decoder()), id(model.get_output_embeddings())}
    names = [name for name, module in model.named_modules() if id(module) in targets]
    before = _count_linears(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantize_dynamic(  # type: ignore[no-untyped-call]
            model,
            dict.fromkeys(names, per_channel_dynamic_qconfig),
            mapping={torch.nn.Linear: DynamicLinear},  # Linear only: embeddings stay float32
            inplace=True,
        )
    model.float()  # the rest (vision, embeddings, norms) to float32; packed int8 untouched
    return before - _count_linears(model)


def int8_available() -> bool:
    """Whether this torch has eager dynamic quantization and x86 (fbgemm) int8 kernels: the
    CPUs `dtype: auto` means int8 on (qnnpack, for ARM, is unmeasured: float32 there)."""
    try:
        import torch.ao.quantization
    except ImportError:
        return False
    engines = torch.backends.quantized.supported_engines
    return "x86" in engines or "fbgemm" in engines


def _count_linears(model: Any) -> int:
    return sum(type(module) is torch.nn.Linear for module in model.modules())


def is_quantized_linear(module: Any) -> bool:
    """Whether `module` is a dynamically quantized (int8) Linear."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    return isinstance(module, DynamicLinear)
