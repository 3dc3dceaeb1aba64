"""From a typed `Prompt` to the model's inputs: chat messages through the family's template and
the processor, with every image and video at the size the resolution policy gave it.

Apart from the model so that the model's own token count of a prompt (what `sightd inspect`
shows beside Gemini's count) needs only the processor: no weights are loaded.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sightd.engine.tools import tool_json
from sightd.engine.transformers.families import Family, detect_family, read_config
from sightd.engine.transformers.no_torchvision import load_processor
from sightd.engine.transformers.resolution import QwenPolicy, ResolutionPolicy, policy_for
from sightd.errors import InvalidArgument
from sightd.prompt import ImagePart, Prompt, PromptPart, Turn, VideoPart


class PromptRenderer:
    """A model folder's processor, family and resolution policy, rendering prompts."""

    def __init__(self, folder: Path, config: dict[str, Any] | None = None) -> None:
        self.config = config if config is not None else read_config(Path(folder))
        self.family: Family = detect_family(self.config)
        self.processor = load_processor(Path(folder), self.family.video_factory)
        self.tokenizer = self.processor.tokenizer
        self.policy: ResolutionPolicy = policy_for(self.family.name, self.processor.image_processor)
        # Whether the model's own template renders tools (Qwen3-VL's does, Qwen2.5-VL's not:
        # then `Family.messages` writes the same hermes text itself).
        self.template_tools = "tools" in str(getattr(self.processor, "chat_template", "") or "")
        self._lock = threading.Lock()  # processors and tokenizers are not made for threads

    def inputs(self, prompt: Prompt, model_name: str) -> Any:
        """The processor's BatchFeature (input_ids, pixel values, grids…) of `prompt`, as
        torch tensors on the CPU."""
        if not prompt.turns:
            raise InvalidArgument("the prompt has no turns", field="contents")
        with self._lock:
            try:
                messages, media_kwargs = self._render(prompt)
                tools = [tool_json(d) for d in prompt.tools] if self.template_tools else None
                return self.processor.apply_chat_template(
                    messages,
                    tools=tools or None,
                    tokenize=True,
                    return_dict=True,
                    add_generation_prompt=True,
                    sanitize_control_tokens=True,
                    return_tensors="pt",
                    processor_kwargs={"return_tensors": "pt", **media_kwargs},
                )
            except ValueError as e:  # e.g. Qwen refuses aspect ratios over 200:1
                raise InvalidArgument(f"{model_name} cannot take this input: {e}") from e

    def count(self, prompt: Prompt, model_name: str = "the model") -> int:
        """The prompt's length in the model's own tokens."""
        return int(self.inputs(prompt, model_name)["input_ids"].shape[1])

    def _render(self, prompt: Prompt) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Chat messages for the processor, and the per-call processor kwargs that keep every
        image and video at the size the resolution policy gave it."""
        policy = self.policy
        native = self.family.native_video
        if not isinstance(policy, QwenPolicy):  # SmolVLM: one longest edge for the call
            images = [part.image.size for part in _user_images(prompt, native)]
            kwargs = policy.processor_kwargs(images, has_frames=bool(prompt.videos()))
            return self.family.messages(prompt, template_tools=self.template_tools), kwargs
        prompt = _map_images(prompt, policy.input_frame_px)  # the grid, if not on it already
        images = [part.image.size for part in _user_images(prompt, native)]
        videos: list[tuple[int, tuple[int, int]]] = []
        metadata: list[dict[str, Any]] = []
        temporal = int(getattr(self.processor.video_processor, "temporal_patch_size", 2))

        def video_input(part: VideoPart) -> Any:
            array, meta = _qwen_video(part, policy, temporal)
            videos.append((int(array.shape[0]), (int(array.shape[2]), int(array.shape[1]))))
            metadata.append(meta)
            return array

        messages = self.family.messages(
            prompt, video_input if native else None, template_tools=self.template_tools
        )
        kwargs = policy.processor_kwargs(images, videos)
        if metadata:
            kwargs["videos_kwargs"]["video_metadata"] = metadata
        return messages, kwargs


def _user_images(prompt: Prompt, native_video: bool) -> list[ImagePart]:
    """The images the processor receives, in order: user turns' images, and video frames when
    videos are shown as frames."""
    out: list[ImagePart] = []
    for turn in prompt.turns:
        if turn.role != "user":
            continue
        for part in turn.parts:
            if isinstance(part, ImagePart):
                out.append(part)
            elif isinstance(part, VideoPart) and not native_video:
                out.extend(frame.image for frame in part.frames)
    return out


def _map_images(prompt: Prompt, size_for: Callable[[tuple[int, int]], tuple[int, int]]) -> Prompt:
    """The prompt with every still image at `size_for(its size)` (bicubic, as the processor)."""

    def fit(part: PromptPart) -> PromptPart:
        if not isinstance(part, ImagePart):
            return part
        size = size_for(part.image.size)
        if size == part.image.size:
            return part
        return ImagePart(part.image.resize(size, Image.Resampling.BICUBIC), part.source_size_px)

    turns = tuple(Turn(t.role, tuple(fit(p) for p in t.parts)) for t in prompt.turns)
    return dataclasses.replace(prompt, turns=turns)


def _qwen_video(part: VideoPart, policy: QwenPolicy, temporal: int) -> tuple[Any, dict[str, Any]]:
    """One video for a Qwen processor: its frames as a (T, H, W, 3) uint8 array on the grid,
    and `video_metadata` that makes the processor's times the source's.

    The processors read a frame's time as `frames_indices[i] / fps` (Qwen3-VL prints it as
    `<t seconds>`, the mean of each temporal pair) and the rate as `sampled_fps =
    len(frames_indices) / total_num_frames * fps` (Qwen2.5-VL's `second_per_grid_ts`). So `fps`
    is the rate the frames are spaced at, `frames_indices` their source times × that rate
    (fractional: a clip from 20:50 at 1 fps has indices 1250.0, 1251.0, …) and
    `total_num_frames` their count. Fewer frames than a temporal patch are padded by repeating
    the last one, as the processor pads odd counts; its index repeats too, so times stay true.
    """
    size = policy.video_frame_px(part.frames[0].image.image.size)
    array = np.stack([_pixels(frame.image.image, size) for frame in part.frames])
    times = [frame.time_s for frame in part.frames]
    while array.shape[0] < temporal:
        array = np.concatenate([array, array[-1:]], axis=0)
        times.append(times[-1])
    span = part.frames[-1].time_s - part.frames[0].time_s
    rate = (len(part.frames) - 1) / span if len(part.frames) > 1 and span > 0 else part.fps
    metadata = {
        "total_num_frames": len(times),
        "fps": rate,
        "frames_indices": [t * rate for t in times],
        "width": size[0],
        "height": size[1],
        "duration": part.duration_s,
    }
    return array, metadata


def _pixels(image: Image.Image, size: tuple[int, int]) -> Any:
    """`image` as an (H, W, 3) uint8 array of `size` (bicubic, as the processor resizes)."""
    if image.size != size:
        image = image.resize(size, Image.Resampling.BICUBIC)
    return np.asarray(image.convert("RGB"))
