"""What sightd needs to know about a model it does not run: read from its files, not its weights.

A remote server resizes images itself, so boxes in absolute pixels (Qwen2.5-VL) refer to a frame
sightd must compute the same way: Qwen's `smart_resize` over the processor's patch, merge and
pixel limits. The same folder names the family (native grounding, video input) and carries
`tokenizer.json` for exact text token counts. All of it is plain JSON: no torch, no
transformers.

Without a folder, the family is guessed from the model's name and Qwen's published processor
defaults are used, with a log line saying so.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sightd.engine.transformers.families import FAMILIES, Family, detect_family
from sightd.engine.transformers.resolution import smart_resize
from sightd.errors import FailedPrecondition

log = logging.getLogger(__name__)

# Qwen2-VL/2.5-VL processor defaults (preprocessor_config.json of the released checkpoints).
QWEN25_DEFAULTS = {"patch_size": 14, "merge_size": 2, "min_pixels": 3136, "max_pixels": 12845056}
# Qwen3-VL: patch 16; its boxes are 0-1000, so the frame only sizes what is worth sending.
QWEN3_DEFAULTS = {"patch_size": 16, "merge_size": 2, "min_pixels": 65536, "max_pixels": 16777216}
# Decode images no larger than this when the model's limit is unknown.
DEFAULT_MAX_SIDE_PX = 3584
CHARS_PER_TOKEN = 4  # Gemini's rule of thumb, for counting without a tokenizer


@dataclass(frozen=True)
class ModelFacts:
    """The served model's family and image geometry, as far as sightd can tell."""

    family: Family | None
    patch_size: int | None = None
    merge_size: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    context_tokens: int | None = None
    max_output_tokens: int | None = None  # generation_config.json's max_new_tokens
    tokenizer_json: Path | None = None

    @property
    def resizes(self) -> bool:
        return None not in (self.patch_size, self.merge_size, self.min_pixels, self.max_pixels)

    def input_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]:
        """(width, height) the upstream's processor resizes an image of `size_px` to."""
        if not self.resizes:
            return size_px
        assert self.patch_size and self.merge_size and self.min_pixels and self.max_pixels
        height, width = smart_resize(
            size_px[1],
            size_px[0],
            factor=self.patch_size * self.merge_size,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
        )
        return width, height

    def image_max_side_px(self) -> int:
        """Longest image side worth sending: the upstream downsizes anything larger."""
        if self.max_pixels:
            return max(448, math.isqrt(2 * self.max_pixels))
        return DEFAULT_MAX_SIDE_PX


def _qwen_geometry(pre: dict[str, Any], defaults: dict[str, int]) -> dict[str, int]:
    size = pre.get("size") or {}
    return {
        "patch_size": int(pre.get("patch_size") or defaults["patch_size"]),
        "merge_size": int(pre.get("merge_size") or defaults["merge_size"]),
        "min_pixels": int(
            size.get("shortest_edge") or pre.get("min_pixels") or defaults["min_pixels"]
        ),
        "max_pixels": int(
            size.get("longest_edge") or pre.get("max_pixels") or defaults["max_pixels"]
        ),
    }


def _defaults_for(family: Family | None) -> dict[str, int] | None:
    if family is None:
        return None
    if family.name == "qwen2.5-vl":
        return QWEN25_DEFAULTS
    if family.name == "qwen3-vl":
        return QWEN3_DEFAULTS
    return None


def facts_from_folder(folder: Path) -> ModelFacts:
    """Facts read from a model folder's config.json and preprocessor_config.json."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FailedPrecondition(f"upstream_processor {folder} has no config.json")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    family = detect_family(config)
    pre_path = folder / "preprocessor_config.json"
    pre = json.loads(pre_path.read_text(encoding="utf-8")) if pre_path.is_file() else {}
    defaults = _defaults_for(family)
    geometry = _qwen_geometry(pre, defaults) if defaults is not None else {}
    tokenizer = folder / "tokenizer.json"
    gen_path = folder / "generation_config.json"
    gen = json.loads(gen_path.read_text(encoding="utf-8")) if gen_path.is_file() else {}
    max_new = gen.get("max_new_tokens")
    try:
        context: int | None = family.context_tokens(config)
    except FailedPrecondition:
        context = None
    return _facts(
        family,
        geometry,
        context_tokens=context,
        max_output_tokens=max_new if isinstance(max_new, int) and max_new > 0 else None,
        tokenizer_json=tokenizer if tokenizer.is_file() else None,
    )


def _facts(family: Family | None, geometry: dict[str, int], **more: Any) -> ModelFacts:
    return ModelFacts(
        family=family,
        patch_size=geometry.get("patch_size"),
        merge_size=geometry.get("merge_size"),
        min_pixels=geometry.get("min_pixels"),
        max_pixels=geometry.get("max_pixels"),
        **more,
    )


_NAME_HINTS = (
    (re.compile(r"qwen3[-_.]?vl", re.I), "qwen3-vl"),
    (re.compile(r"qwen2(\.|_|-)?5[-_.]?vl", re.I), "qwen2.5-vl"),
    (re.compile(r"smolvlm2", re.I), "smolvlm2"),
    (re.compile(r"smolvlm", re.I), "smolvlm"),
)


def facts_from_name(name: str) -> ModelFacts:
    """Facts guessed from a model name (`Qwen/Qwen2.5-VL-7B-Instruct`, `qwen2.5vl:7b`)."""
    for pattern, family_name in _NAME_HINTS:
        if pattern.search(name):
            family = next(f for f in FAMILIES if f.name == family_name)
            defaults = _defaults_for(family)
            if defaults is not None:
                log.info(
                    "upstream model %s: assuming %s's default processor (pass "
                    "--upstream-processor for exact box frames and token counts)",
                    name,
                    family_name,
                )
            return _facts(family, defaults or {})
    return ModelFacts(family=None)
