"""Video as video for Qwen: one video input (two frames a temporal patch) with the source's
times, the transcript as `[MM:SS] (audio)` lines after it; SmolVLM2 still sees frames.

A random model can't fake these: the token ids the processor produced carry the timestamps,
and the count of video placeholders is the grid the vision encoder will run over.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sightd.engine.base import SamplingParams
from sightd.prompt import (
    ImagePart,
    Prompt,
    TextPart,
    TimedFrame,
    TranscriptSegment,
    Turn,
    VideoPart,
)

pytest.importorskip("torch")
pytest.importorskip("transformers")

FRAME = (512, 288)  # a 16:9 frame as sampled at the default 512-px side: 144 grid cells


def _video(n: int, start_s: float = 0.0, fps: float = 1.0, size: tuple[int, int] = FRAME) -> Any:
    frames = tuple(
        TimedFrame(
            start_s + i / fps,
            ImagePart(Image.new("RGB", size, (20 * i % 256, 90, 160)), (1280, 720)),
        )
        for i in range(n)
    )
    speech = (TranscriptSegment(start_s + 1.2, start_s + 2.0, "hello there"),)
    return VideoPart(frames, speech, fps, start_s, start_s + n / fps, 3000.0)


def _prompt(video: VideoPart) -> Prompt:
    return Prompt((Turn("user", (video, TextPart("What happens?"))),))


def _inputs(backend: Any, prompt: Prompt) -> Any:
    return backend._prepare(prompt, SamplingParams(max_output_tokens=1)).inputs


def _count(backend: Any, inputs: Any, token: str) -> int:
    token_id = backend._tokenizer.convert_tokens_to_ids(token)
    return int((inputs["input_ids"][0] == token_id).sum())


@pytest.mark.parametrize("family", ["qwen3-vl", "qwen2.5-vl"])
def test_qwen_takes_video_natively(backends: dict[str, Any], family: str) -> None:
    backend = backends[family]
    assert backend.capabilities.native_video
    assert backend.info.extras["video"] == "native"
    assert not backends["smolvlm2"].capabilities.native_video


def test_qwen3_vl_timestamps_are_source_seconds_for_a_clip(backends: dict[str, Any]) -> None:
    backend = backends["qwen3-vl"]
    video = _video(5, start_s=1250.0)  # a clip from 20:50, odd frame count
    inputs = _inputs(backend, _prompt(video))
    text = backend._tokenizer.decode(inputs["input_ids"][0])
    # Pairs (1250, 1251), (1252, 1253) and the last frame padded with itself.
    stamps = [s for s in text.split("<") if s.endswith(" seconds>")]
    assert stamps == ["1250.5 seconds>", "1252.5 seconds>", "1254.0 seconds>"]
    assert "<0.5 seconds>" not in text
    # Header before the video, speech at its source MM:SS after it, then the question.
    header = text.index("Video: 50:00 long; frames sampled at 1 fps, clipped to 20:50–20:55")
    assert header < text.index("<1250.5") < text.index("[20:51] (audio) hello there")
    assert text.index("[20:51] (audio)") < text.index("What happens?")


@pytest.mark.parametrize("family", ["qwen3-vl", "qwen2.5-vl"])
@pytest.mark.parametrize("n", [4, 5])
def test_video_tokens_are_half_the_frames_as_images(
    backends: dict[str, Any], family: str, n: int
) -> None:
    backend = backends[family]
    factor = backend.resolution_policy.factor
    width, height = backend.resolution_policy.video_frame_px(FRAME)
    cells = (width // factor) * (height // factor)  # tokens of one frame's grid
    video = _video(n)
    inputs = _inputs(backend, _prompt(video))
    assert [int(v) for v in inputs["video_grid_thw"][0]] == [
        math.ceil(n / 2),
        height * 2 // factor,
        width * 2 // factor,
    ]
    assert _count(backend, inputs, "<|video_pad|>") == math.ceil(n / 2) * cells
    assert _count(backend, inputs, "<|image_pad|>") == 0
    # The same frames shown as images (what frames-only models get) cost twice as much.
    flat = backend._processor.apply_chat_template(
        backend._family.messages(_prompt(video)),
        tokenize=True,
        return_dict=True,
        add_generation_prompt=True,
        return_tensors="pt",
    )
    assert _count(backend, flat, "<|image_pad|>") == n * cells


def test_qwen2_5_vl_gets_seconds_per_grid_from_the_sampling_rate(
    backends: dict[str, Any],
) -> None:
    backend = backends["qwen2.5-vl"]
    for fps, expected in ((1.0, 2.0), (2.0, 1.0), (0.25, 8.0)):
        inputs = _inputs(backend, _prompt(_video(5, start_s=1250.0, fps=fps)))
        assert inputs["second_per_grid_ts"].tolist() == pytest.approx([expected])


@pytest.mark.parametrize("family", ["qwen3-vl", "qwen2.5-vl"])
def test_a_single_frame_video_is_padded_to_a_temporal_patch(
    backends: dict[str, Any], family: str
) -> None:
    backend = backends[family]
    inputs = _inputs(backend, _prompt(_video(1, start_s=7.0)))
    assert int(inputs["video_grid_thw"][0][0]) == 1
    if family == "qwen3-vl":
        assert "<7.0 seconds>" in backend._tokenizer.decode(inputs["input_ids"][0])


@pytest.mark.parametrize("family", ["qwen3-vl", "qwen2.5-vl"])
def test_two_identical_frames_patchify_like_one_image(
    backends: dict[str, Any], family: str
) -> None:
    # The video path (numpy stand-in without torchvision) lays patches out exactly as the
    # image processor does for a still image (whose temporal patch repeats the image).
    backend = backends[family]
    width, height = backend.resolution_policy.video_frame_px(FRAME)
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    still = Image.fromarray(pixels)
    video = VideoPart(
        (TimedFrame(0.0, ImagePart(still, FRAME)), TimedFrame(0.5, ImagePart(still, FRAME))),
        (),
        2.0,
        0.0,
        1.0,
        1.0,
    )
    as_video = _inputs(backend, _prompt(video))["pixel_values_videos"]
    image = ImagePart(still, FRAME)
    as_image = _inputs(backend, Prompt((Turn("user", (image, TextPart("?"))),)))["pixel_values"]
    assert as_video.shape == as_image.shape
    assert float((as_video - as_image).abs().max()) < 1e-5


@pytest.mark.parametrize("family", ["qwen3-vl", "qwen2.5-vl", "smolvlm2"])
def test_generation_runs_on_a_video_with_an_image(backends: dict[str, Any], family: str) -> None:
    backend = backends[family]
    image = ImagePart(Image.new("RGB", (640, 480), (200, 30, 30)), (640, 480))
    prompt = Prompt((Turn("user", (image, _video(3, start_s=1250.0), TextPart("Describe."))),))
    completion = backend.generate(prompt, SamplingParams(max_output_tokens=3, temperature=0))
    assert completion.output_tokens == 3 and completion.finish_reason == "MAX_TOKENS"


def test_smolvlm2_sees_frames_after_their_times(backends: dict[str, Any]) -> None:
    backend = backends["smolvlm2"]
    inputs = _inputs(backend, _prompt(_video(3, start_s=1250.0)))
    text = backend._tokenizer.decode(inputs["input_ids"][0])
    assert text.index("20:50") < text.index("20:51") < text.index("[20:51] (audio)")
    assert inputs["pixel_values"].shape[1] == 3  # one tile a frame, no splitting
