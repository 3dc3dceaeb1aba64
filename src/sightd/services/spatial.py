"""Detection and segmentation prompts answered in Gemini's JSON, whatever the model.

`plan_spatial` decides (a total function: any prompt in, a plan or None out) whether a request
is a spatial one: a single image, a prompt asking for boxes or masks, and no caller schema or
enum to honour instead. `SpatialService.run` then answers it:

1. boxes — from the model's native grounding when its family has one (re-asked in its own
   words, decoded under a grammar of its own JSON, parsed and converted), else from the
   open-vocabulary detector (`detector_model`) queried with the prompt's object phrases (or
   80 common categories for "all the items"), with `grounding.select`'s best-guess policy;
2. masks, for segmentation — from the box-prompted segmenter (`segmenter_model`), each a
   probability map cropped to its box;
3. the bare JSON list Gemini answers with (no fences, so the page's examples parse it).

The detector and segmenter load on first use and stay loaded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sightd.engine.base import (
    Backend,
    ChoiceOutput,
    Completion,
    JsonOutput,
    SamplingParams,
)
from sightd.engine.constrain import to_json_schema
from sightd.errors import MissingExtra
from sightd.grounding.boxes import to_pixels
from sightd.grounding.detections import Detection, gemini_json
from sightd.grounding.intent import COMMON_OBJECTS, SpatialRequest, spatial_request
from sightd.grounding.masks import MAX_MASK_SIDE_PX, mask_data_url
from sightd.grounding.native import NativeGrounding, native_for
from sightd.grounding.select import select
from sightd.prompt import ImagePart, Prompt, TextPart, Turn
from sightd.settings import Settings

if TYPE_CHECKING:
    from sightd.engine.transformers.detector import OpenVocabularyDetector
    from sightd.engine.transformers.segmenter import BoxSegmenter

log = logging.getLogger(__name__)

# Tokens the native grounding answer may take: ~25 tokens a box, max_detections boxes.
NATIVE_TOKENS_PER_BOX = 32


@dataclass(frozen=True)
class SpatialPlan:
    """A spatial request and the one image it is about."""

    request: SpatialRequest
    image: ImagePart


def plan_spatial(prompt: Prompt, params: SamplingParams, mode: str = "auto") -> SpatialPlan | None:
    """The spatial plan for a prompt, or None to generate normally. Never raises.

    Spatial when: `mode` is not "off"; no schema or enum constrains the answer (JSON mode
    without a schema is fine); the prompt holds exactly one image; and the last user turn's text
    asks for boxes or masks (`grounding.intent`).
    """
    try:
        if mode == "off":
            return None
        constraint = params.constraint
        if isinstance(constraint, ChoiceOutput):
            return None
        if isinstance(constraint, JsonOutput) and constraint.schema_json is not None:
            return None
        images = prompt.images()
        if prompt.videos():
            return None
        users = [t for t in prompt.turns if t.role == "user"]
        if len(images) != 1 or not users:
            return None
        text = "\n".join(p.text for p in users[-1].parts if isinstance(p, TextPart))
        request = spatial_request(text)
        return None if request is None else SpatialPlan(request, images[0])
    except Exception:  # a planning bug must not fail the request: generate normally
        log.exception("spatial planning failed; answering without it")
        return None


class SpatialService:
    """Runs spatial plans; holds the lazily loaded detector and segmenter."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._detector: OpenVocabularyDetector | None = None
        self._segmenter: BoxSegmenter | None = None

    def plan(self, prompt: Prompt, params: SamplingParams) -> SpatialPlan | None:
        return plan_spatial(prompt, params, self.settings.grounding)

    def native(self, backend: Backend) -> NativeGrounding | None:
        """The native grounding used for this backend's model, or None when the detector is."""
        family = backend.capabilities.grounding_family
        if self.settings.grounding != "auto" or family is None:
            return None
        return native_for(family)

    def describe(self, backend: Backend) -> str:
        """One sentence for the model listing: where boxes and masks come from."""
        if self.settings.grounding == "off":
            return "Spatial prompts go to the model unchanged."
        native = self.native(backend)
        boxes = native.describe if native else f"the detector {self.settings.detector_model}"
        return f"Boxes: {boxes}; masks: {self.settings.segmenter_model}."

    async def run(self, backend: Backend, plan: SpatialPlan, params: SamplingParams) -> Completion:
        """Answer `plan`: boxes from the backend or the detector, then masks if asked."""
        native = self.native(backend)
        if native is not None:
            found = await self._native_boxes(backend, native, plan, params)
        else:
            found = await asyncio.to_thread(self._detector_boxes, plan)
        masks = None
        if plan.request.task == "segment":
            masks = await asyncio.to_thread(self._masks, plan.image, found)
        text = gemini_json(found, masks)
        return Completion(text, "STOP", backend.count_text_tokens(text))

    async def _native_boxes(
        self, backend: Backend, native: NativeGrounding, plan: SpatialPlan, params: SamplingParams
    ) -> list[Detection]:
        input_px = backend.input_frame_px(plan.image.image.size)
        limit = self.settings.max_detections
        budget = 8 + NATIVE_TOKENS_PER_BOX * limit
        if params.max_output_tokens is not None:
            budget = min(budget, params.max_output_tokens)
        constraint = None
        if "json_schema" in backend.capabilities.constraints:  # else parse what comes (total)
            schema = to_json_schema(native.schema(input_px, limit), dialect="json", where="native")
            constraint = JsonOutput(json.dumps(schema, ensure_ascii=False))
        native_params = dataclasses.replace(
            params, max_output_tokens=budget, stop_sequences=(), constraint=constraint
        )
        question = Turn("user", (plan.image, TextPart(native.prompt(plan.request))))
        answer = await backend.generate(Prompt((question,)), native_params)
        found = native.parse(answer.text, input_px)
        return select(found, threshold=0.0, max_items=limit, floor=0.0)

    def _detector_boxes(self, plan: SpatialPlan) -> list[Detection]:
        queries = plan.request.phrases or COMMON_OBJECTS
        with self._run_lock:  # one detector/segmenter pass at a time: they share the CPU
            candidates = self.detector().detect(plan.image.image, queries)
        return select(
            candidates,
            threshold=self.settings.detector_threshold,
            max_items=self.settings.max_detections,
        )

    def _masks(self, image: ImagePart, found: list[Detection]) -> list[str]:
        if not found:
            return []
        boxes = [to_pixels(d.box, image.image.size) for d in found]
        with self._run_lock:
            maps = self.segmenter().segment(image.image, boxes)
        # The image may be decoded smaller than the source (the model's resolution policy):
        # each map covers its box in the source's pixels, as it would at full size.
        return [
            mask_data_url(_resize_map(m, to_pixels(d.box, image.source_size_px)))
            for d, m in zip(found, maps, strict=True)
        ]

    # --- lazy models --------------------------------------------------------------------------

    def detector(self) -> OpenVocabularyDetector:
        with self._lock:
            if self._detector is None:
                _require_vision("scipy")
                from sightd.engine.transformers.detector import OpenVocabularyDetector

                source = self.settings.detector_model
                self._detector = OpenVocabularyDetector(
                    self._folder(source), source=source, device=self._device()
                )
            return self._detector

    def segmenter(self) -> BoxSegmenter:
        with self._lock:
            if self._segmenter is None:
                _require_vision()
                from sightd.engine.transformers.segmenter import BoxSegmenter

                source = self.settings.segmenter_model
                self._segmenter = BoxSegmenter(
                    self._folder(source), source=source, device=self._device()
                )
            return self._segmenter

    def _folder(self, source: str) -> Any:
        from sightd.engine.transformers.hub import resolve_model

        return resolve_model(
            source, cache_dir=self.settings.hub_cache_dir, offline=self.settings.hub_offline
        )

    def _device(self) -> str:
        from sightd.engine.transformers.device import resolve_device

        return str(resolve_device(self.settings.device))


def _require_vision(*more: str) -> None:
    for module in ("torch", "transformers", *more):
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(module, "spatial" if module == "scipy" else "transformers")


def _resize_map(prob_u8: Any, box_px: tuple[int, int, int, int]) -> Any:
    """A mask map resized to its box's size (at most `MAX_MASK_SIDE_PX` a side, aspect kept)."""
    import numpy as np
    from PIL import Image

    array = np.asarray(prob_u8, dtype=np.uint8)
    x0, y0, x1, y1 = box_px
    width, height = max(1, x1 - x0), max(1, y1 - y0)
    scale = min(1.0, MAX_MASK_SIDE_PX / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if array.ndim != 2 or 0 in array.shape or array.shape[::-1] == size:
        return array
    return np.asarray(Image.fromarray(array, mode="L").resize(size, Image.Resampling.BILINEAR))
