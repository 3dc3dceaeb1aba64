"""Load multimodal processors on machines without torchvision.

In transformers 5.x every video processor is built on the torchvision backend, and
`ProcessorMixin.__init__` insists on every sub-processor slot its class declares. So the
Qwen2.5-VL, Qwen3-VL and SmolVLM2 processors cannot even be constructed for image-only use
without torchvision (`AutoProcessor.from_pretrained` raises ImportError). Their image processors
fall back to PIL implementations on their own; only the video slot is the problem.

`load_processor` returns the plain `AutoProcessor` when torchvision is importable (production
images normally have it). Otherwise it assembles the processor from its parts and fills the
video slot with a stand-in built by a `VideoFactory`: `NoVideoProcessor` today (it carries the
attributes processors read, such as SmolVLM's `num_frames`, and refuses actual video), and a
numpy re-implementation of a family's video math can plug in later through the same hook.
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
