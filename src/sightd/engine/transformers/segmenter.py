"""Box-prompted segmentation with SAM 2.1 (`Sam2Model`), without torchvision.

transformers' `Sam2ImageProcessor` exists only on the torchvision backend, so its math is
redone here with torch alone (the tests pin it):
- resize to the model's square input (1024×1024 for the real checkpoints; the aspect is not
  kept) with bilinear, antialiased interpolation — what torchvision's resize does on tensors —
  rounded back to uint8 as the processor's uint8 path does;
- rescale by 1/255 and normalise with the ImageNet mean and std;
- box prompts scaled by (input / width, input / height), as `Sam2Processor` does;
- low-resolution mask logits upsampled bilinearly (align_corners False) to the image size,
  as `post_process_masks` does, then passed through a sigmoid: a probability map.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import Sam2Model

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def read_preprocessing(folder: Path, default_side: int) -> tuple[int, list[float], list[float]]:
    """(input side, mean, std) from the checkpoint's preprocessor_config.json, else defaults."""
    path = Path(folder) / "preprocessor_config.json"
    data: dict[str, Any] = {}
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
    size = data.get("size") or {}
    side = int(size.get("height") or size.get("longest_edge") or default_side)
    mean = [float(v) for v in data.get("image_mean") or IMAGENET_MEAN]
    std = [float(v) for v in data.get("image_std") or IMAGENET_STD]
    return side, mean, std


def pixel_values(
    image: Image, side: int, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """(1, 3, side, side) float input for Sam2Model, as Sam2ImageProcessor prepares it."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1)[None].to(torch.float32)
    resized = F.interpolate(
        tensor, size=(side, side), mode="bilinear", align_corners=False, antialias=True
    )
    resized = resized.round().clamp(0, 255) / 255.0
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (resized - m) / s


def scale_boxes(
    boxes_px: Sequence[tuple[int, int, int, int]], size_px: tuple[int, int], side: int
) -> torch.Tensor:
    """(1, N, 4) box prompts in the model's square input frame."""
    width, height = size_px
    sx, sy = side / width, side / height
    scaled = [[x0 * sx, y0 * sy, x1 * sx, y1 * sy] for x0, y0, x1, y1 in boxes_px]
    return torch.tensor([scaled], dtype=torch.float32)


class BoxSegmenter:
    """A SAM 2.1 checkpoint folder, loaded for box-prompted mask prediction."""

    def __init__(self, folder: Path, *, source: str | None = None, device: str = "cpu") -> None:
        self.source = source or str(folder)
        self._device = torch.device(device)
        model = Sam2Model.from_pretrained(str(folder))
        self._model: Any = model.to(self._device).eval()  # type: ignore[arg-type]
        default = int(self._model.config.prompt_encoder_config.image_size)
        self.side, self._mean, self._std = read_preprocessing(Path(folder), default)
        self._lock = threading.Lock()
        log.info("loaded segmenter %s", self.source)

    def segment(
        self, image: Image, boxes_px: Sequence[tuple[int, int, int, int]]
    ) -> list[np.ndarray]:
        """For each (x0, y0, x1, y1) pixel box, the uint8 probability map of that region."""
        if not boxes_px:
            return []
        width, height = image.size
        with self._lock, torch.inference_mode():
            values = pixel_values(image, self.side, self._mean, self._std).to(self._device)
            boxes = scale_boxes(boxes_px, (width, height), self.side).to(self._device)
            out = self._model(pixel_values=values, input_boxes=boxes, multimask_output=False)
            low = out.pred_masks[0, :, 0].float().cpu()  # (N, h, w) logits
            maps: list[np.ndarray] = []
            for i, (x0, y0, x1, y1) in enumerate(boxes_px):
                full = F.interpolate(
                    low[i][None, None], size=(height, width), mode="bilinear", align_corners=False
                )[0, 0]
                crop = torch.sigmoid(full[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)])
                maps.append((crop * 255.0).round().clamp(0, 255).to(torch.uint8).numpy())
        return maps
