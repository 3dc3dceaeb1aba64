"""The resolution policy: pixel budgets per `mediaResolution` level and family, images decoded
straight to the size the model sees, and the processor keeping exactly that size (so the
frame Qwen2.5-VL's absolute boxes refer to is the decoded image's)."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from sightd.engine.base import SamplingParams
from sightd.engine.transformers.resolution import (
    QwenPolicy,
    SmolPolicy,
    level_of,
    policy_for,
    smart_resize,
)
from sightd.errors import InvalidArgument
from sightd.media.image import decode_image
from sightd.prompt import ImagePart, Prompt, TextPart, Turn

pytest.importorskip("torch")
pytest.importorskip("transformers")

LEVELS = ("low", "medium", "high")
PHOTO = (4000, 3000)  # a 12 MP photo


@pytest.fixture(scope="module")
def photo_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", PHOTO, (90, 140, 200)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def test_level_names() -> None:
    assert level_of(None) == level_of("") == level_of("MEDIA_RESOLUTION_UNSPECIFIED") == "medium"
    assert level_of("MEDIA_RESOLUTION_LOW") == level_of("low") == "low"
    assert level_of("HIGH") == "high" and level_of("ultra_high") == "ultra_high"


@pytest.mark.parametrize(
    ("family", "images", "frames"),
    [
        # tokens × (patch·merge)²: 144/256/1024 tokens an image, 64/144/256 a frame
        ("qwen3-vl", (147_456, 262_144, 1_048_576), (65_536, 147_456, 262_144)),
        ("qwen2.5-vl", (112_896, 200_704, 802_816), (50_176, 112_896, 200_704)),
    ],
)
def test_qwen_pixel_budgets_per_level(
    backends: dict[str, Any], family: str, images: tuple[int, ...], frames: tuple[int, ...]
) -> None:
    policy = backends[family].resolution_policy
    assert isinstance(policy, QwenPolicy)
    assert tuple(policy.image_budget(level) for level in LEVELS) == images
    assert tuple(policy.frame_budget(level) for level in LEVELS) == frames
    assert policy.image_budget(None) == images[1]  # unspecified is MEDIUM


def test_the_default_is_under_a_quarter_of_the_measured_cost(backends: dict[str, Any]) -> None:
    # notes/engine-cost.md: 4,800 vision patches (1,230 prompt tokens) took 61–75 s to the first
    # token on 2 cores with Qwen3-VL-2B; the default must answer a 12 MP photo in < 15 s.
    width, height = backends["qwen3-vl"].resolution_policy.image_px(PHOTO, None)
    patches = (width // 16) * (height // 16)
    assert (width, height) == (576, 416) and patches == 936 <= 4_800 // 4


def test_smolvlm2_longest_edge_per_level(backends: dict[str, Any]) -> None:
    policy = backends["smolvlm2"].resolution_policy
    assert isinstance(policy, SmolPolicy)
    assert (policy.tile, policy.max_edge) == (128, 512)  # the tiny model's tile and default
    assert [policy.image_edge(level) for level in LEVELS] == [128, 256, 512]
    assert policy.image_px(PHOTO, "medium") == (256, 192)
    assert policy.image_px((100, 80), "high") == (100, 80)  # never upscaled when decoding
    assert policy.frame_px((512, 288), "high") == (128, 72)  # one tile a frame


def test_policy_reads_the_processor_geometry() -> None:
    qwen = SimpleNamespace(
        patch_size=14, merge_size=2, size={"shortest_edge": 3136, "longest_edge": 12_845_056}
    )
    smol = SimpleNamespace(size={"longest_edge": 1536}, max_image_size={"longest_edge": 384})
    assert policy_for("qwen2.5-vl", qwen) == QwenPolicy(28, 3136, 12_845_056, False)
    assert policy_for("smolvlm2", smol) == SmolPolicy(384, 1536)


def test_qwen_sizes_are_transformers_smart_resize() -> None:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        smart_resize as reference,
    )

    for h, w in [(3000, 4000), (375, 500), (1080, 1920), (37, 4000), (5000, 27)]:
        for budget in (147_456, 262_144, 1_048_576):
            assert smart_resize(h, w, 32, 65_536, budget) == reference(h, w, 32, 65_536, budget)
    with pytest.raises(InvalidArgument, match="200:1"):
        smart_resize(4, 1000, 32, 65_536, 262_144)


def _grid(backend: Any, image: ImagePart) -> tuple[int, int]:
    prompt = Prompt((Turn("user", (image, TextPart("What is this?"))),))
    inputs = backend._prepare(prompt, SamplingParams(max_output_tokens=1)).inputs
    _, grid_h, grid_w = (int(v) for v in inputs["image_grid_thw"][0])
    return grid_w, grid_h


@pytest.mark.parametrize("family", ["qwen3-vl", "qwen2.5-vl"])
@pytest.mark.parametrize("level", LEVELS)
def test_a_12mp_photo_reaches_the_model_at_its_budget(
    backends: dict[str, Any], photo_jpeg: bytes, family: str, level: str
) -> None:
    backend = backends[family]
    policy = backend.resolution_policy
    image = decode_image(
        photo_jpeg,
        max_side_px=backend.info.image_max_side_px,
        max_pixels=100_000_000,
        size_for=lambda size: backend.info.sizing.image_px(size, level),
    )
    assert image.source_size_px == PHOTO
    patch = policy.factor // 2
    grid_w, grid_h = _grid(backend, image)
    seen = (grid_w * patch, grid_h * patch)
    # The model sees exactly the decoded image: nothing resized it again.
    assert seen == image.image.size == policy.image_px(PHOTO, level)
    budget = policy.image_budget(level)
    assert 0.85 * budget <= seen[0] * seen[1] <= budget
    # The frame of absolute boxes is that same size at every level.
    assert backend.input_frame_px(image.image.size) == seen


def test_an_image_not_sized_by_the_policy_is_shown_as_the_processor_would(
    backends: dict[str, Any],
) -> None:
    backend = backends["qwen2.5-vl"]
    image = ImagePart(Image.new("RGB", (500, 375), (1, 2, 3)), (500, 375))
    grid_w, grid_h = _grid(backend, image)
    assert (grid_w * 14, grid_h * 14) == backend.input_frame_px((500, 375)) == (504, 364)


@pytest.mark.parametrize(("level", "tiles"), [("low", 1), ("medium", 5), ("high", 13)])
def test_smolvlm2_tiles_per_level(
    backends: dict[str, Any], photo_jpeg: bytes, level: str, tiles: int
) -> None:
    backend = backends["smolvlm2"]
    image = decode_image(
        photo_jpeg,
        max_side_px=backend.info.image_max_side_px,
        max_pixels=100_000_000,
        size_for=lambda size: backend.info.sizing.image_px(size, level),
    )
    prompt = Prompt((Turn("user", (image, TextPart("What is this?"))),))
    inputs = backend._prepare(prompt, SamplingParams(max_output_tokens=1)).inputs
    # 4000×3000: 1 tile (global only), 2×2 + global, 4×3 + global
    assert inputs["pixel_values"].shape[1] == tiles
