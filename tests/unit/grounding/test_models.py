"""The detector and segmenter models: SAM 2.1's hand-made preprocessing against the processor's
math, and the tiny random-weight OWLv2 / SAM 2.1 run end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sightd.grounding.detections import clean_label
from sightd.grounding.masks import decode_mask, mask_data_url, probabilities_to_u8

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def vision(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from sightd.testing.tiny_vision import build_tiny_owlv2, build_tiny_sam2

    root = tmp_path_factory.mktemp("vision-unit")
    return {"owl": build_tiny_owlv2(root / "owl"), "sam": build_tiny_sam2(root / "sam")}


def _scene(size: tuple[int, int] = (320, 200)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle([80, 50, 240, 150], fill=(30, 160, 40))
    return image


def test_mask_data_url_round_trip() -> None:
    prob = np.linspace(0, 1, 12 * 7, dtype=np.float32).reshape(7, 12)
    u8 = probabilities_to_u8(prob)
    assert u8.dtype == np.uint8 and u8[0, 0] == 0 and u8[-1, -1] == 255
    url = mask_data_url(u8)
    assert url.startswith("data:image/png;base64,")
    assert np.array_equal(decode_mask(url), u8)
    assert decode_mask(mask_data_url(np.zeros((0, 5), np.uint8))).shape == (1, 1)
    assert max(decode_mask(mask_data_url(np.zeros((3000, 10), np.uint8))).shape) == 1024
    assert probabilities_to_u8(np.array([np.nan, 2.0, -1.0])).tolist() == [0, 255, 0]


def test_sam2_preprocessing_matches_the_processor_math() -> None:
    """Sam2ImageProcessor (torchvision-only) resizes the uint8 image with antialiased bilinear
    interpolation (torch's own kernel), rescales by 1/255 and normalises with ImageNet stats."""
    from sightd.engine.transformers.segmenter import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        pixel_values,
        scale_boxes,
    )

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8))
    ours = pixel_values(image, 64, IMAGENET_MEAN, IMAGENET_STD)
    assert ours.shape == (1, 3, 64, 64)
    u8 = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None]
    resized = torch.nn.functional.interpolate(
        u8, size=(64, 64), mode="bilinear", align_corners=False, antialias=True
    )  # what torchvision's resize runs for a uint8 tensor
    assert resized.dtype == torch.uint8
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    reference = (resized.float() / 255 - mean) / std
    one_level = 1 / 255 / min(IMAGENET_STD)
    assert float((ours - reference).abs().max()) <= one_level + 1e-6
    assert scale_boxes([(16, 9, 80, 45)], (160, 90), 64).tolist() == [
        [pytest.approx([6.4, 6.4, 32.0, 32.0])]
    ]


def test_segmenter_reads_the_checkpoint_preprocessing(vision: dict[str, Path]) -> None:
    from sightd.engine.transformers.segmenter import read_preprocessing

    side, mean, std = read_preprocessing(vision["sam"], 1024)
    assert side == 128 and mean == [0.485, 0.456, 0.406] and std == [0.229, 0.224, 0.225]
    assert read_preprocessing(vision["owl"].parent / "nowhere", 1024)[0] == 1024


def test_tiny_segmenter_maps_are_cropped_to_the_boxes(vision: dict[str, Path]) -> None:
    from sightd.engine.transformers.segmenter import BoxSegmenter

    segmenter = BoxSegmenter(vision["sam"])
    boxes = [(80, 50, 240, 150), (0, 0, 320, 200), (10, 10, 11, 11)]
    maps = segmenter.segment(_scene(), boxes)
    assert [m.shape for m in maps] == [(100, 160), (200, 320), (1, 1)]
    assert all(m.dtype == np.uint8 for m in maps)
    assert segmenter.segment(_scene(), []) == []


def test_tiny_detector_scores_every_query(vision: dict[str, Path]) -> None:
    from sightd.engine.transformers.detector import OpenVocabularyDetector

    detector: Any = OpenVocabularyDetector(vision["owl"])
    long = "a very long description " * 8
    found = detector.detect(_scene(), ["green objects", long, " "])
    assert found and {d.label for d in found} <= {"green objects", clean_label(long)}
    assert all(0.0 <= (d.score or 0) <= 1.0 for d in found)
    assert detector.detect(_scene(), []) == []


@pytest.mark.parametrize(
    ("family", "size", "frame"),
    [
        ("qwen2.5-vl", (640, 480), (644, 476)),  # 28 px grid
        ("qwen2.5-vl", (100, 30), (112, 28)),
        ("qwen3-vl", (640, 480), (640, 480)),  # 32 px grid, min 65536 px
        ("qwen3-vl", (100, 30), (480, 160)),  # scaled up to the minimum pixel count
    ],
)
def test_input_frame_is_the_processors_resize(
    family: str, size: tuple[int, int], frame: tuple[int, int], tmp_path: Path
) -> None:
    """Qwen2.5-VL answers in pixels of the image as its processor resized it: the backend's
    frame must equal the processor's own patch grid."""
    from sightd.engine.transformers.backend import TransformersBackend
    from sightd.testing.tiny import build_tiny

    backend: Any = TransformersBackend(build_tiny(tmp_path / family, family), torch_threads=1)
    assert backend.input_frame_px(size) == frame
    processor = backend._processor.image_processor
    grid = processor(images=[Image.new("RGB", size)], return_tensors="pt")["image_grid_thw"]
    _, rows, cols = (int(v) for v in grid[0])
    assert (cols * processor.patch_size, rows * processor.patch_size) == frame
