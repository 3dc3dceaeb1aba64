"""Detection and segmentation through the official SDK against live servers: native grounding
(tiny Qwen3-VL, Qwen2.5-VL), the detector path (tiny OWLv2, and SmolVLM2, which has no
grounding), masks from the tiny SAM 2.1, streaming, the Interactions API, and what the model
listing says about it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import types

from sightd.grounding.boxes import to_pixels
from sightd.grounding.detections import Box1000
from sightd.grounding.intent import COMMON_OBJECTS
from sightd.grounding.masks import decode_mask
from tests.media_factory import scene_bytes

DETECT = (
    "Detect the all of the prominent items in the image. The box_2d should be "
    "[ymin, xmin, ymax, xmax] normalized to 0-1000."
)
SEGMENT = "Give the segmentation masks for the wooden and glass items. Use descriptive labels."


def _client(server: Any) -> Any:
    return genai.Client(api_key="k", http_options=types.HttpOptions(base_url=server.url))


def _scene() -> types.Part:
    return types.Part.from_bytes(data=scene_bytes(640, 480), mime_type="image/png")


def _items(text: str) -> list[dict[str, Any]]:
    """The answer as Gemini's bare list, every item checked."""
    assert text == text.strip() and not text.startswith("```")
    items = json.loads(text)
    assert isinstance(items, list)
    for item in items:
        Box1000(*item["box_2d"])  # ints, 0..1000, ordered, non-empty
        assert isinstance(item["label"], str) and item["label"] and "/" not in item["label"]
    return items


@pytest.fixture(scope="module")
def handles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Loaded tiny SmolVLM2 and Qwen2.5-VL engines, built on first use."""
    from sightd.engine.loading import EngineHandle
    from sightd.settings import Settings
    from sightd.testing.tiny import build_tiny

    root = tmp_path_factory.mktemp("spatial-models")

    class Lazy(dict[str, Any]):
        def __missing__(self, family: str) -> Any:
            folder = build_tiny(root / family, family)
            handle = EngineHandle(
                Settings(model=str(folder), torch_threads=1, data_dir=root / f"{family}-data")
            )
            handle.start()
            assert handle.wait_ready(120), handle.progress.message
            self[family] = handle
            return handle

    return Lazy()


def test_native_detection_is_gemini_json(client: Any) -> None:
    found = 0
    for seed in range(3):
        response = client.models.generate_content(
            model="gemini-2.5-flash",
            contents=[_scene(), DETECT],
            config=types.GenerateContentConfig(
                response_mime_type="application/json", seed=seed, temperature=1.0
            ),
        )
        found += len(_items(response.text))
        assert response.candidates[0].finish_reason == types.FinishReason.STOP
        assert response.usage_metadata.candidates_token_count > 0
    assert found  # random weights: some seeds answer [], not all of them


def test_detector_labels_come_from_the_prompt(make_server: Callable[..., Any]) -> None:
    client = _client(make_server(grounding="detector"))
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[_scene(), "Show bounding boxes of all green objects in this image"],
    )
    items = _items(response.text)
    assert items and {i["label"] for i in items} == {"green objects"}
    generic = _items(
        client.models.generate_content(model="gemini-2.5-flash", contents=[_scene(), DETECT]).text
    )
    assert generic and {i["label"] for i in generic} <= set(COMMON_OBJECTS)


def test_segmentation_masks_are_png_maps_of_the_box(make_server: Callable[..., Any]) -> None:
    client = _client(make_server(grounding="detector", max_detections=4))
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[SEGMENT, _scene()],
        config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0)),
    )
    items = _items(response.text)
    assert 1 <= len(items) <= 4
    assert {i["label"] for i in items} <= {"wooden items", "glass items"}
    for item in items:
        mask = decode_mask(item["mask"])
        x0, y0, x1, y1 = to_pixels(Box1000(*item["box_2d"]), (640, 480))
        assert mask.shape == (max(1, y1 - y0), max(1, x1 - x0))


def test_native_segmentation_masks_every_box(client: Any) -> None:
    found = 0
    for seed in range(4):
        response = client.models.generate_content(
            model="gemini-2.5-flash",
            contents=[SEGMENT, _scene()],
            config=types.GenerateContentConfig(seed=seed, temperature=1.0, max_output_tokens=120),
        )
        for item in _items(response.text):
            assert decode_mask(item["mask"]).ndim == 2
            found += 1
    assert found


def test_smolvlm2_uses_the_detector(
    make_server: Callable[..., Any], handles: dict[str, Any], tiny_vision_dirs: dict[str, Path]
) -> None:
    client = _client(make_server(engine=handles["smolvlm2"]))
    description = client.models.get(model="gemini-2.5-flash").description
    assert f"the detector {tiny_vision_dirs['detector_model']}" in description
    items = _items(
        client.models.generate_content(model="gemini-2.5-flash", contents=[_scene(), DETECT]).text
    )
    assert items


def test_qwen2_5_vl_native_boxes(make_server: Callable[..., Any], handles: dict[str, Any]) -> None:
    client = _client(make_server(engine=handles["qwen2.5-vl"]))
    assert "native Qwen2.5-VL" in client.models.get(model="gemini-2.5-flash").description
    found = 0
    for seed in range(4):
        # The tiny model keeps Qwen2.5-VL's near-greedy defaults (top_k 1, top_p 0.001).
        config = types.GenerateContentConfig(
            seed=seed, temperature=1.0, top_k=1000, top_p=1.0, max_output_tokens=200
        )
        response = client.models.generate_content(
            model="gemini-2.5-flash", contents=[_scene(), DETECT], config=config
        )
        found += len(_items(response.text))
    assert found


def test_listing_says_where_boxes_come_from(client: Any, tiny_vision_dirs: Any) -> None:
    description = client.models.get(model="gemini-2.5-flash").description
    assert "native Qwen3-VL grounding" in description
    assert str(tiny_vision_dirs["segmenter_model"]) in description


def test_streamed_detection_is_one_json_chunk(make_server: Callable[..., Any]) -> None:
    client = _client(make_server(grounding="detector"))
    chunks = list(
        client.models.generate_content_stream(model="gemini-2.5-flash", contents=[_scene(), DETECT])
    )
    assert _items("".join(c.text or "" for c in chunks))
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_interactions_detection(make_server: Callable[..., Any]) -> None:
    client = _client(make_server(grounding="detector"))
    interaction = client.interactions.create(
        model="gemini-2.5-flash",
        input=[
            {"type": "image", "data": _b64(scene_bytes()), "mime_type": "image/png"},
            {"type": "text", "text": DETECT},
        ],
        generation_config={"thinking_level": "minimal"},
    )
    assert _items(interaction.steps[-1].content[0].text)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_a_callers_schema_wins_over_spatial(client: Any) -> None:
    schema = {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[_scene(), DETECT],
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_json_schema=schema,
            max_output_tokens=40,
        ),
    )
    assert list(json.loads(response.text)) == ["count"]


def test_grounding_off_and_plain_prompts_generate_normally(
    make_server: Callable[..., Any], client: Any
) -> None:
    off = _client(make_server(grounding="off"))
    config = types.GenerateContentConfig(temperature=0, max_output_tokens=8)
    for c, prompt in ((off, DETECT), (client, "Caption this image.")):
        text = c.models.generate_content(
            model="gemini-2.5-flash", contents=[_scene(), prompt], config=config
        ).text
        assert isinstance(text, str) and '"box_2d"' not in text
    assert "unchanged" in off.models.get(model="gemini-2.5-flash").description


@pytest.mark.parametrize("level", ["LOW", "MEDIUM", "HIGH"])
def test_qwen2_5_vl_boxes_are_exact_at_every_media_resolution(
    make_server: Callable[..., Any],
    handles: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    level: str,
) -> None:
    """Qwen2.5-VL answers in pixels of the image as its processor resized it. The server decodes
    a 12 MP photo to the level's budget, the processor must keep that size, and the boxes must
    be converted with it: a box at a quarter..half of the model's frame is 250..500."""
    import io

    from PIL import Image

    from sightd.engine.base import Completion

    backend = handles["qwen2.5-vl"].require()
    model = backend.model
    frames: list[tuple[int, int]] = []

    async def answer(prompt: Any, params: Any) -> Completion:
        inputs = model._prepare(prompt, params).inputs  # what the model would really see
        _, grid_h, grid_w = (int(v) for v in inputs["image_grid_thw"][0])
        w, h = grid_w * 14, grid_h * 14
        frames.append((w, h))
        box = [w // 4, h // 4, w // 2, h // 2]
        return Completion(json.dumps([{"bbox_2d": box, "label": "cup"}]), "STOP", 20)

    monkeypatch.setattr(backend, "generate", answer)
    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), (120, 80, 40)).save(buf, "JPEG", quality=80)
    photo = types.Part.from_bytes(data=buf.getvalue(), mime_type="image/jpeg")
    config = types.GenerateContentConfig(media_resolution=f"MEDIA_RESOLUTION_{level}")
    client = _client(make_server(engine=handles["qwen2.5-vl"]))
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents=[photo, DETECT], config=config
    )
    ((w, h),) = frames
    assert (w, h) == model.resolution_policy.image_px((4000, 3000), level.lower())
    expected = [round(1000 * (h // 4) / h), round(1000 * (w // 4) / w)]
    expected += [round(1000 * (h // 2) / h), round(1000 * (w // 2) / w)]
    assert [item["box_2d"] for item in _items(response.text)] == [expected]
