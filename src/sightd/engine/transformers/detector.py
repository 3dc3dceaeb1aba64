"""An open-vocabulary object detector (OWLv2) for models that cannot ground by themselves.

The queries are phrases from the prompt ("green objects"), each asked as "a photo of a ...".
Every candidate box is returned with its best query and score; which of them to answer with
is `sightd.grounding.select`'s policy, not the detector's.

OWLv2 pads the image to a square (bottom and right) before resizing, so its boxes are
fractions of that square: they are scaled by the longer side and clipped to the image.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

from sightd.grounding.boxes import box_from_xyxy
from sightd.grounding.detections import Detection, detection

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

QUERY_TEMPLATE = "a photo of a {}"


class OpenVocabularyDetector:
    """An OWLv2 checkpoint folder, loaded for inference."""

    def __init__(self, folder: Path, *, source: str | None = None, device: str = "cpu") -> None:
        self.source = source or str(folder)
        self._device = torch.device(device)
        self._processor: Any = AutoProcessor.from_pretrained(str(folder))  # type: ignore[no-untyped-call]
        model = AutoModelForZeroShotObjectDetection.from_pretrained(str(folder))
        self._model: Any = model.to(self._device).eval()  # type: ignore[arg-type]
        self._lock = threading.Lock()
        log.info("loaded detector %s", self.source)

    def detect(self, image: Image, queries: Sequence[str]) -> list[Detection]:
        """Every candidate box with its best-matching query as label and its score."""
        labels = [q for q in dict.fromkeys(q.strip() for q in queries) if q]
        if not labels:
            return []
        width, height = image.size
        side = max(width, height)
        with self._lock, torch.inference_mode():
            inputs = self._processor(
                text=[[QUERY_TEMPLATE.format(q) for q in labels]],
                images=image,
                return_tensors="pt",
                truncation=True,  # CLIP's text tower takes 16 tokens; long phrases are cut
            ).to(self._device)
            outputs = self._model(**inputs)
            result = self._processor.post_process_grounded_object_detection(
                outputs, threshold=0.0, target_sizes=[(side, side)], text_labels=[labels]
            )[0]
        found: list[Detection] = []
        rows = zip(
            result["boxes"].tolist(),
            result["scores"].tolist(),
            result["labels"].tolist(),
            strict=True,
        )
        for xyxy, score, label in rows:
            box = box_from_xyxy(xyxy, (width, height))
            if box is not None:
                found.append(detection(box, labels[int(label)], float(score)))
        return found
