"""Load multimodal processors on machines without torchvision.

In transformers 5.x every video processor is built on the torchvision backend, and
`ProcessorMixin.__init__` insists on every sub-processor slot its class declares. So the
Qwen2.5-VL, Qwen3-VL and SmolVLM2 processors cannot even be constructed for image-only use
without torchvision (`AutoProcessor.from_pretrained` raises ImportError). Their image processors
fall back to PIL implementations on their own; only the video slot is the problem.

`load_processor` returns the plain `AutoProcessor` when torchvision is importable (production
images normally have it). Otherwise it assembles the processor from its parts and fills the
video slot with a stand-in built by a `VideoFactory`: `NumpyQwenVideoProcessor` for Qwen2.5-VL
and Qwen3-VL (their video math in numpy, so a video goes in as one video), else
`NoVideoProcessor` (it carries the attributes processors read, such as SmolVLM's `num_frames`,
and refuses actual video; SmolVLM2 is shown videos as frames).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from transformers.utils.hub import PushToHubMixin

from sightd.errors import Unimplemented


class VideoStandIn(PushToHubMixin):  # type: ignore[misc]
    """Base of objects that may sit in a processor's `video_processor` slot without torchvision.

    Subclassing `PushToHubMixin` makes the processor serialise it through `to_dict` (its repr and
    `save_pretrained` do), like a real sub-processor.
    """

    model_input_names: ClassVar[list[str]] = []
    valid_kwargs: ClassVar[type | None] = None

    def to_dict(self) -> dict[str, Any]:
        return {"video_processor_type": type(self).__name__}


VideoFactory = Callable[[Path], VideoStandIn]


class NoVideoProcessor(VideoStandIn):
    """Fills the video slot for image-only use; refuses to process video.

    It copies the numbers processors read from their video processor even for images (SmolVLM's
    `apply_chat_template` reads `num_frames` and `fps`; Qwen reads `merge_size` and
    `temporal_patch_size` for timestamps) from `video_preprocessor_config.json` when present.
    """

    _ATTRS: ClassVar[dict[str, Any]] = {
        "num_frames": 64,
        "fps": 1.0,
        "merge_size": 2,
        "patch_size": 14,
        "temporal_patch_size": 2,
    }

    def __init__(self, **values: Any) -> None:
        for name, default in self._ATTRS.items():
            setattr(self, name, values.get(name, default))

    @classmethod
    def from_folder(cls, folder: Path) -> NoVideoProcessor:
        path = Path(folder) / "video_preprocessor_config.json"
        values: dict[str, Any] = {}
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            values = {k: data[k] for k in cls._ATTRS if data.get(k) is not None}
        return cls(**values)

    def __call__(self, videos: Any, **kwargs: Any) -> Any:
        raise Unimplemented(
            "video input needs torchvision with this model's processor, and no torchvision-free "
            "video processor is available for it yet"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), **{k: getattr(self, k) for k in self._ATTRS}}

    def __repr__(self) -> str:
        return f"NoVideoProcessor({', '.join(f'{k}={getattr(self, k)!r}' for k in self._ATTRS)})"


class NumpyQwenVideoProcessor(VideoStandIn):
    """Qwen2-VL-style video processing in numpy: what `Qwen2VLVideoProcessor` (Qwen2.5-VL) and
    `Qwen3VLVideoProcessor` (Qwen3-VL) compute, for already sampled frames.

    Per video: `smart_resize` (Qwen2: per-frame pixel bounds; Qwen3: bounds on frames × height ×
    width), bicubic resize, rescale and normalise, pad the frame count to a multiple of
    `temporal_patch_size` by repeating the last frame, then cut into patches in the models'
    layout. Returns `pixel_values_videos`, `video_grid_thw` and (with `return_metadata`) the
    `video_metadata`, from which the processors derive Qwen3-VL's `<t seconds>` and Qwen2.5-VL's
    `second_per_grid_ts`. Frame sampling is not done here: sightd hands over sampled frames.
    """

    model_input_names: ClassVar[list[str]] = ["pixel_values_videos", "video_grid_thw"]

    def __init__(
        self,
        *,
        total_pixels: bool,
        patch_size: int = 14,
        temporal_patch_size: int = 2,
        merge_size: int = 2,
        size: dict[str, int] | None = None,
        image_mean: list[float] | None = None,
        image_std: list[float] | None = None,
        rescale_factor: float = 1 / 255,
        fps: float = 2.0,
    ) -> None:
        self.total_pixels = total_pixels
        self.patch_size = patch_size
        self.temporal_patch_size = temporal_patch_size
        self.merge_size = merge_size
        self.size = dict(size or {"shortest_edge": 128 * 28 * 28, "longest_edge": 28 * 28 * 768})
        self.image_mean = list(image_mean or [0.48145466, 0.4578275, 0.40821073])
        self.image_std = list(image_std or [0.26862954, 0.26130258, 0.27577711])
        self.rescale_factor = rescale_factor
        self.fps = fps
        self.num_frames = None

    @classmethod
    def factory(cls, *, total_pixels: bool) -> VideoFactory:
        """A `VideoFactory` reading `video_preprocessor_config.json` (Qwen3-VL: total_pixels)."""
        return lambda folder: cls.from_folder(folder, total_pixels=total_pixels)

    @classmethod
    def from_folder(cls, folder: Path, *, total_pixels: bool) -> NumpyQwenVideoProcessor:
        data: dict[str, Any] = {}
        for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
            path = Path(folder) / name
            if path.is_file():
                data = json.loads(path.read_text(encoding="utf-8"))
                break
        size = data.get("size")
        if not size and data.get("max_pixels"):
            size = {"shortest_edge": data.get("min_pixels"), "longest_edge": data["max_pixels"]}
        keys = ("patch_size", "temporal_patch_size", "merge_size", "image_mean", "image_std")
        values = {k: data[k] for k in keys if data.get(k) is not None}
        if data.get("rescale_factor") is not None:
            values["rescale_factor"] = float(data["rescale_factor"])
        if data.get("fps") is not None:
            values["fps"] = float(data["fps"])
        return cls(total_pixels=total_pixels, size=size, **values)

    def __call__(self, videos: Any, **kwargs: Any) -> Any:
        import numpy as np
        from transformers import BatchFeature
        from transformers.video_utils import make_batched_metadata, make_batched_videos

        batch: Any = make_batched_videos(videos)
        given: Any = kwargs.get("video_metadata")
        metadata = make_batched_metadata(batch, video_metadata=given)
        size = dict(kwargs.get("size") or self.size)
        patches, grids = [], []
        for video in batch:
            frames = _frames_array(video)  # (T, H, W, 3) uint8
            frames = self._resize(frames, size)
            flat, grid = self._patchify(self._normalize(frames))
            patches.append(flat)
            grids.append(grid)
        out = BatchFeature(
            data={
                "pixel_values_videos": np.concatenate(patches, axis=0),
                "video_grid_thw": np.array(grids, dtype=np.int64),
            },
            tensor_type=kwargs.get("return_tensors"),
        )
        if kwargs.get("return_metadata"):
            out["video_metadata"] = metadata
        return out

    def _resize(self, frames: Any, size: dict[str, int]) -> Any:
        import numpy as np
        from PIL import Image

        from sightd.engine.transformers.resolution import smart_resize, video_smart_resize

        n, height, width = frames.shape[:3]
        factor = self.patch_size * self.merge_size
        low, high = int(size["shortest_edge"]), int(size["longest_edge"])
        if self.total_pixels:  # Qwen3-VL: the bounds are on frames × height × width
            new_h, new_w = video_smart_resize(
                n, height, width, self.temporal_patch_size, factor, low, high
            )
        else:
            new_h, new_w = smart_resize(height, width, factor, low, high)
        if (new_h, new_w) == (height, width):
            return frames
        return np.stack(
            [
                np.asarray(Image.fromarray(f).resize((new_w, new_h), Image.Resampling.BICUBIC))
                for f in frames
            ]
        )

    def _normalize(self, frames: Any) -> Any:
        import numpy as np

        data = frames.astype(np.float32) * np.float32(self.rescale_factor)
        mean = np.asarray(self.image_mean, dtype=np.float32)
        std = np.asarray(self.image_std, dtype=np.float32)
        return ((data - mean) / std).transpose(0, 3, 1, 2)  # (T, C, H, W)

    def _patchify(self, video: Any) -> tuple[Any, list[int]]:
        import numpy as np

        tp, p, m = self.temporal_patch_size, self.patch_size, self.merge_size
        if pad := -video.shape[0] % tp:  # repeat the last frame, as the processors do
            video = np.concatenate([video, np.repeat(video[-1:], pad, axis=0)], axis=0)
        t, c, h, w = video.shape
        gt, gh, gw = t // tp, h // p, w // p
        patches = video.reshape(gt, tp, c, gh // m, m, p, gw // m, m, p)
        patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
        return patches.reshape(gt * gh * gw, c * tp * p * p), [gt, gh, gw]

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "total_pixels": self.total_pixels,
            "patch_size": self.patch_size,
            "temporal_patch_size": self.temporal_patch_size,
            "merge_size": self.merge_size,
            "size": self.size,
        }

    def __repr__(self) -> str:
        return f"NumpyQwenVideoProcessor({self.to_dict()!r})"


def _frames_array(video: Any) -> Any:
    """A video as a (T, H, W, 3) uint8 array (from an array, a tensor or a list of images)."""
    import numpy as np

    if isinstance(video, (list, tuple)):
        return np.stack([np.asarray(frame.convert("RGB")) for frame in video])
    array = np.asarray(video)
    if array.ndim == 4 and array.shape[1] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(0, 2, 3, 1)  # (T, C, H, W) → (T, H, W, C)
    return array.astype(np.uint8, copy=False)


def torchvision_available() -> bool:
    """Whether the real (torchvision-based) video processors can be used."""
    return importlib.util.find_spec("torchvision") is not None


_patch_lock = threading.Lock()


@contextmanager
def lenient_processor_checks() -> Iterator[None]:
    """Let `VideoStandIn`s pass `ProcessorMixin`'s sub-processor class check while constructing.

    The check looks up `VideoProcessorMixin` on the top-level transformers module, which is a
    placeholder without torchvision, so even a subclass of the real mixin would fail it.
    """
    from transformers.processing_utils import ProcessorMixin

    with _patch_lock:
        original = ProcessorMixin.check_argument_for_proper_class

        def check(self: Any, argument_name: str, argument: Any) -> Any:
            if isinstance(argument, VideoStandIn):
                return type(argument)
            return original(self, argument_name, argument)  # type: ignore[no-untyped-call]

        ProcessorMixin.check_argument_for_proper_class = check  # type: ignore[method-assign]
        try:
            yield
        finally:
            ProcessorMixin.check_argument_for_proper_class = original  # type: ignore[method-assign]


def load_processor(folder: Path, video_factory: VideoFactory | None = None) -> Any:
    """The model's processor: plain AutoProcessor with torchvision, else assembled by hand."""
    from transformers import AutoProcessor

    if torchvision_available():
        return AutoProcessor.from_pretrained(str(folder))  # type: ignore[no-untyped-call]
    return _assemble(Path(folder), video_factory or NoVideoProcessor.from_folder)


def _processor_class_name(folder: Path) -> str | None:
    for name in ("processor_config.json", "preprocessor_config.json"):
        path = folder / name
        if path.is_file():
            value = json.loads(path.read_text(encoding="utf-8")).get("processor_class")
            if value:
                return str(value)
    return None


def _assemble(folder: Path, video_factory: VideoFactory) -> Any:
    """Load tokenizer and image processor normally, stand in for video, construct the class."""
    import transformers
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    name = _processor_class_name(folder)
    cls = getattr(transformers, name, None) if name else None
    if cls is None:
        return AutoProcessor.from_pretrained(str(folder))  # type: ignore[no-untyped-call]
    processor_dict, init_kwargs = cls.get_processor_dict(str(folder))
    args: list[Any] = []
    for attribute in cls.get_attributes():
        if attribute == "tokenizer":
            args.append(AutoTokenizer.from_pretrained(str(folder)))
        elif attribute == "image_processor":
            args.append(AutoImageProcessor.from_pretrained(str(folder)))  # type: ignore[no-untyped-call]
        elif attribute == "video_processor":
            args.append(video_factory(folder))
        else:
            raise Unimplemented(f"{name} needs a {attribute}, which sightd cannot load yet")
    with lenient_processor_checks():
        return cls.from_args_and_dict(args, processor_dict, **init_kwargs)
