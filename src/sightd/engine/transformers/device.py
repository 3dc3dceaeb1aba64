"""Where and in what number format the in-process model runs: the torch device, the weights'
dtype per device (measured, see `resolve_dtype`), and how many threads.

Kept apart from the backend so the spatial service can name the device without loading a model.
"""

from __future__ import annotations

import os

import torch

from sightd.engine.transformers.quantize import int8_available
from sightd.errors import InvalidArgument


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def resolve_device(name: str) -> torch.device:
    """The torch device for `name`; auto is the first CUDA GPU if there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise InvalidArgument(f"unknown torch device {name!r}: {e}", field="device") from e


def resolve_dtype(name: str, device: torch.device) -> torch.dtype | str:
    """The torch dtype to load `name` in. On a GPU, auto is the checkpoint's own dtype. On a
    CPU, auto means int8 where torch has its x86/fbgemm int8 kernels, else float32. int8
    (CPU only) loads the checkpoint's own dtype, quantizes the text model's Linear layers
    and makes the rest float32 (`quantize.quantize_text_model`; `quantizes` says when).

    Why int8 is the CPU default. `bench/engine_dtype.py` on the 2-core x86 machine (AVX-512
    with VNNI and BF16), a full-size Qwen3-VL-2B (random weights), each dtype loaded beside
    float32 and the two taking turns, medians of 2 rounds (rounds within 7 % of each other):

    | dtype    | prefill, one 1280×960 photo | decode              | RSS of the model |
    |----------|-----------------------------|---------------------|------------------|
    | float32  | 9.1 s                       | 2.45 tok/s          | 8.3 GB           |
    | bfloat16 | 4.6 s (0.50×)               | 3.65 tok/s (1.49×)  | 3.4 GB           |
    | int8     | 5.7 s (0.63×)               | 11.3 tok/s (4.61×)  | 4.5 GB           |

    Decoding on a CPU is bound by memory bandwidth (every token reads every weight), and the
    int8 text weights are a quarter of float32's bytes: int8 decodes 4.6× as fast as float32
    and 3.1× as fast as bfloat16, which is what an answer's length costs. bfloat16 prefills
    fastest (native BF16 matmuls here), int8 is second, float32 last. Three earlier runs on
    the same machine, busy with other work (rounds up to 3× apart), agreed on int8 (5.8–11×
    float32's decode, 0.54–0.70× its prefill). Threads: int8 with 1 torch thread against 2
    took 1.77× as long to prefill and decoded as fast (0.97×), so torch keeps one thread per
    core. The cost of int8: answers are not bit-identical to float32's, and random weights
    cannot show how much quality that costs (per-channel weight scales are meant to keep it
    small); activations are scaled per call, so a row's numbers depend on the rows batched
    with it. `dtype: float32` gives float32's exact answers.
    """
    if name == "auto":
        if device.type != "cpu":
            return "auto"
        return "auto" if int8_available() else torch.float32
    if name == "int8":
        if device.type != "cpu":
            raise InvalidArgument(
                "dtype int8 (dynamic quantization) runs on the CPU only", field="dtype"
            )
        return "auto"
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InvalidArgument(f"unknown torch dtype {name!r}", field="dtype")
    return dtype


def quantizes(name: str, device: torch.device) -> bool:
    """Whether `dtype` `name` on `device` means the int8 dynamically quantized text model."""
    if device.type != "cpu":
        return False
    return name == "int8" or (name == "auto" and int8_available())
