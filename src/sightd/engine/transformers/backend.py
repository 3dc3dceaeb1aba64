"""`TransformersBackend`: a VLM loaded in-process, answering typed prompts.

One code path serves every family and both call styles: the prompt becomes chat messages
(`families`), the processor renders and tokenises them with the images and videos (user text
can't forge control tokens or image placeholders), and `model.generate` runs with a streamer
that feeds a `_Run`. Media arrive at the size the model sees them at (`resolution`'s policy,
applied when decoding); the processor call is bounded so that it keeps those sizes. Qwen models
take a video as one video with its source times; others see its frames. The run decodes
tokens incrementally, applies stop sequences and tells generate when to halt (stop sequence
found, or the consumer went away). `generate` runs it inline; `stream` in a worker thread.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import queue
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer
from transformers import (
    AutoModelForImageTextToText,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer

from sightd.engine.base import (
    Capabilities,
    Completion,
    FinishReason,
    ModelInfo,
    SamplingParams,
    StepLogprobs,
    TextDelta,
    model_id_for,
)
from sightd.engine.decoding import IncrementalDecoder, StopScanner
from sightd.engine.tools import tool_json
from sightd.engine.transformers.device import (
    cpu_cores,
    quantizes,
    resolve_device,
    resolve_dtype,
)
from sightd.engine.transformers.families import Family, detect_family, read_config
from sightd.engine.transformers.grammar import Grammars
from sightd.engine.transformers.no_torchvision import load_processor
from sightd.engine.transformers.quantize import quantize_text_model
from sightd.engine.transformers.resolution import QwenPolicy, ResolutionPolicy, policy_for
from sightd.engine.transformers.scores import LogprobRecorder, Penalties
from sightd.errors import Internal, InvalidArgument, SightdError
from sightd.prompt import ImagePart, Prompt, PromptPart, Turn, VideoPart

log = logging.getLogger(__name__)

_DONE = object()


@dataclass
class _Request:
    """Everything one `model.generate` call needs, prepared under the lock."""

    inputs: Any
    config: Any
    seed: int | None
    max_new_tokens: int
    processors: LogitsProcessorList
    recorder: LogprobRecorder | None = None  # the last of `processors`, when logprobs are wanted


class _Run(BaseStreamer):  # type: ignore[misc]
    """One generation's state: token ids in (as `generate`'s streamer), text deltas out."""

    def __init__(
        self,
        tokenizer: Any,
        params: SamplingParams,
        strip: bool,
        emit: Callable[[TextDelta], Any],
        recorder: LogprobRecorder | None = None,
        end_ids: frozenset[int] = frozenset(),
    ) -> None:
        self._recorder = recorder
        self._end_ids = end_ids  # end-of-sequence tokens: no text, no logprobs entry
        self.logprobs: list[StepLogprobs] = []
        self._unsent: list[StepLogprobs] = []
        self._decoder = IncrementalDecoder(
            lambda ids: tokenizer.decode(ids, skip_special_tokens=True)
        )
        self._scanner = StopScanner(params.stop_sequences, strip_leading_space=strip)
        self._emit = emit
        self._prompt_seen = False
        self.ids: list[int] = []
        self.parts: list[str] = []
        self.cancelled = threading.Event()

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate first sends the prompt itself
            self._prompt_seen = True
            return
        ids = [int(i) for i in value.reshape(-1).tolist()]
        self.ids.extend(ids)
        if self._recorder is not None:
            for token in ids:
                step = self._recorder.take(token)
                if step is not None and token not in self._end_ids:
                    self.logprobs.append(step)
                    self._unsent.append(step)
        self._out(self._scanner.feed(self._decoder.push(ids)))

    def end(self) -> None:
        self._out(self._scanner.feed(self._decoder.flush()))
        self._out(self._scanner.finish())

    def _out(self, text: str) -> None:
        if text:
            self.parts.append(text)
            self._emit(TextDelta(text, tuple(self._unsent)))
            self._unsent = []

    @property
    def stopped_by_sequence(self) -> bool:
        return self._scanner.stopped

    @property
    def halted(self) -> bool:
        return self._scanner.stopped or self.cancelled.is_set()


class _Halt(StoppingCriteria):  # type: ignore[misc]
    """Ends generation after the step in which the run found a stop sequence or was cancelled."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        return torch.full(
            (input_ids.shape[0],), self._run.halted, dtype=torch.bool, device=input_ids.device
        )


class TransformersBackend:
    """A model folder loaded with transformers; a blocking model (`engine.serial.BlockingModel`)
    that `SerialBackend` puts behind the async seam."""

    def __init__(
        self,
        folder: Path,
        *,
        source: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        torch_threads: int = 0,
    ) -> None:
        folder = Path(folder)
        config = read_config(folder)
        self._family: Family = detect_family(config)
        torch.set_num_threads(torch_threads if torch_threads > 0 else cpu_cores())
        self._device = resolve_device(device)
        self._processor = load_processor(folder, self._family.video_factory)
        self._tokenizer = self._processor.tokenizer
        # A private copy for counting, so countTokens never contends with a running generation.
        self._count_tokenizer = Tokenizer.from_str(self._tokenizer.backend_tokenizer.to_str())
        model = AutoModelForImageTextToText.from_pretrained(
            str(folder), dtype=resolve_dtype(dtype, self._device)
        )
        self._model = model.to(self._device).eval()  # type: ignore[arg-type]
        vocab_size = int(self._model.get_output_embeddings().weight.shape[0])
        self._dtype_name = str(self._model.dtype).removeprefix("torch.")
        if quantizes(dtype, self._device):
            quantize_text_model(self._model)  # and the rest to float32
            self._dtype_name = "int8"
        gen = self._model.generation_config
        eos = gen.eos_token_id if gen.eos_token_id is not None else self._tokenizer.eos_token_id
        self._eos_ids = frozenset([eos] if isinstance(eos, int) else (eos or []))
        if gen.pad_token_id is None and self._eos_ids:
            gen.pad_token_id = min(self._eos_ids)
        self._grammars = Grammars(self._tokenizer, vocab_size, self._eos_ids)
        self._policy: ResolutionPolicy = policy_for(
            self._family.name, self._processor.image_processor
        )
        context = self._family.context_tokens(config)
        source = source or str(folder)
        self._info = ModelInfo(
            id=model_id_for(source),
            source=source,
            family=self._family.name,
            display_name=source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1],
            context_tokens=context,
            max_output_tokens=min(
                gen.max_new_tokens or self._family.default_max_output_tokens, context
            ),
            image_max_side_px=self._family.image_max_side_px(self._processor.image_processor),
            extras={
                "device": str(self._device),
                "dtype": self._dtype_name,
                "video": "native" if self._family.native_video else "frames",
            },
            sizing=self._policy,
        )
        self._capabilities = Capabilities(
            native_video=self._family.native_video,
            grounding_family=self._family.grounding,
            constraints=frozenset({"json_schema", "choice"}),
            max_concurrency=1,
            tool_calls=self._family.tool_syntax is not None,
        )
        # Whether the model's own template renders tools (Qwen3-VL's does, Qwen2.5-VL's not:
        # then `Family.messages` writes the same hermes text itself).
        self._template_tools = "tools" in str(getattr(self._processor, "chat_template", "") or "")
        self._lock = threading.Lock()
        log.info("loaded %s (%s) on %s", self._info.id, self._family.name, self._device)

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def count_text_tokens(self, text: str) -> int:
        return len(self._count_tokenizer.encode(text, add_special_tokens=False).ids)

    @property
    def resolution_policy(self) -> ResolutionPolicy:
        return self._policy

    def input_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]:
        """(width, height) the model sees an image of `size_px` at: the frame of absolute
        native coordinates (Qwen2.5-VL's boxes). An image decoded by the resolution policy is
        already that size, at every level; any other is resized to it before the processor."""
        return self._policy.input_frame_px(size_px)

    def generate(
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event | None = None
    ) -> Completion:
        """Generate to the end; once `cancel` is set (the caller went away) generation stops
        after the current token and the partial answer is returned."""
        with self._lock:
            request = self._prepare(prompt, params)
            run = _Run(
                self._tokenizer,
                params,
                self._family.strip_leading_space,
                lambda _: None,
                request.recorder,
                self._eos_ids,
            )
            if cancel is not None:
                run.cancelled = cancel
            self._run_generate(request, run)
        return self._completion(run, request)

    def stream(self, prompt: Prompt, params: SamplingParams) -> Iterator[TextDelta | Completion]:
        """Generate in a worker thread; closing this iterator cancels it within one token."""
        with self._lock:
            request = self._prepare(prompt, params)
            deltas: queue.Queue[object] = queue.Queue()
            run = _Run(
                self._tokenizer,
                params,
                self._family.strip_leading_space,
                deltas.put,
                request.recorder,
                self._eos_ids,
            )
            worker = threading.Thread(
                target=self._worker,
                args=(request, run, deltas),
                name="sightd-generate",
                daemon=True,
            )
            worker.start()
            try:
                while (item := deltas.get()) is not _DONE:
                    if isinstance(item, BaseException):
                        raise item
                    yield item if isinstance(item, TextDelta) else TextDelta(str(item))
                yield self._completion(run, request)
            finally:
                run.cancelled.set()
                worker.join()

    # --- internals ----------------------------------------------------------------------------

    def _prepare(self, prompt: Prompt, params: SamplingParams) -> _Request:
        if not prompt.turns:
            raise InvalidArgument("the prompt has no turns", field="contents")
        try:
            messages, media_kwargs = self._render(prompt)
            tools = [tool_json(d) for d in prompt.tools] if self._template_tools else None
            inputs = self._processor.apply_chat_template(
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
            raise InvalidArgument(f"{self._info.id} cannot take this input: {e}") from e
        inputs = inputs.to(device=self._device, dtype=self._model.dtype)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        room = self._info.context_tokens - prompt_tokens
        if room <= 0:
            raise InvalidArgument(
                f"The prompt has {prompt_tokens} tokens; {self._info.id} accepts at most "
                f"{self._info.context_tokens} in all",
                field="contents",
            )
        config = copy.deepcopy(self._model.generation_config)
        wanted = params.max_output_tokens or self._info.max_output_tokens
        config.max_new_tokens = max(1, min(wanted, room))
        _apply_sampling(config, params)
        seed = None
        if config.do_sample:
            seed = params.seed if params.seed is not None else secrets.randbits(63)
        processors = LogitsProcessorList()
        if params.presence_penalty or params.frequency_penalty:
            processors.append(
                Penalties(params.presence_penalty or 0.0, params.frequency_penalty or 0.0)
            )
        if params.constraint is not None:
            processors.append(self._grammars.processor(params.constraint, config.max_new_tokens))
        recorder = None
        if params.logprobs is not None:  # last: it sees penalties and grammar masks (`scores`)
            recorder = LogprobRecorder(params.logprobs, self._token_text)
            processors.append(recorder)
        return _Request(inputs, config, seed, config.max_new_tokens, processors, recorder)

    def _token_text(self, token_id: int) -> str:
        return str(self._tokenizer.decode([token_id], skip_special_tokens=False))

    def _render(self, prompt: Prompt) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Chat messages for the processor, and the per-call processor kwargs that keep every
        image and video at the size the resolution policy gave it."""
        policy = self._policy
        native = self._family.native_video
        if not isinstance(policy, QwenPolicy):  # SmolVLM: one longest edge for the call
            images = [part.image.size for part in _user_images(prompt, native)]
            kwargs = policy.processor_kwargs(images, has_frames=bool(prompt.videos()))
            return self._family.messages(prompt, template_tools=self._template_tools), kwargs
        prompt = _map_images(prompt, policy.input_frame_px)  # the grid, if not on it already
        images = [part.image.size for part in _user_images(prompt, native)]
        videos: list[tuple[int, tuple[int, int]]] = []
        metadata: list[dict[str, Any]] = []
        temporal = int(getattr(self._processor.video_processor, "temporal_patch_size", 2))

        def video_input(part: VideoPart) -> Any:
            array, meta = _qwen_video(part, policy, temporal)
            videos.append((int(array.shape[0]), (int(array.shape[2]), int(array.shape[1]))))
            metadata.append(meta)
            return array

        messages = self._family.messages(
            prompt, video_input if native else None, template_tools=self._template_tools
        )
        kwargs = policy.processor_kwargs(images, videos)
        if metadata:
            kwargs["videos_kwargs"]["video_metadata"] = metadata
        return messages, kwargs

    def _run_generate(self, request: _Request, run: _Run) -> None:
        try:
            with torch.inference_mode():
                if request.seed is not None:
                    torch.manual_seed(request.seed)
                self._model.generate(
                    **request.inputs,
                    generation_config=request.config,
                    streamer=run,
                    stopping_criteria=StoppingCriteriaList([_Halt(run)]),
                    logits_processor=request.processors,
                )
        except SightdError:
            raise
        except Exception as e:
            raise Internal(f"generation failed on {self._info.id}: {e}") from e

    def _worker(self, request: _Request, run: _Run, deltas: queue.Queue[object]) -> None:
        try:
            self._run_generate(request, run)
        except BaseException as e:
            deltas.put(e)
        finally:
            deltas.put(_DONE)

    def _completion(self, run: _Run, request: _Request) -> Completion:
        reason: FinishReason = "STOP"
        hit_eos = bool(run.ids) and run.ids[-1] in self._eos_ids
        if not run.stopped_by_sequence and not hit_eos and len(run.ids) >= request.max_new_tokens:
            reason = "MAX_TOKENS"
        return Completion(
            text="".join(run.parts),
            finish_reason=reason,
            output_tokens=len(run.ids),
            logprobs=tuple(run.logprobs) if request.recorder is not None else None,
        )


def _apply_sampling(config: Any, params: SamplingParams) -> None:
    """Overlay the request's knobs on the model's generation defaults.

    temperature 0 → greedy; > 0 → sampling at that temperature; None → the model's default
    (Qwen3-VL samples at 0.7, SmolVLM is greedy). top_p/top_k only matter when sampling.
    """
    if params.temperature is not None:
        config.do_sample = params.temperature > 0
        if config.do_sample:
            config.temperature = params.temperature
    if params.top_p is not None:
        config.top_p = params.top_p
    if params.top_k is not None:
        config.top_k = params.top_k
    if not config.do_sample:
        # Neutral values rather than None: generate refills None from the model's defaults.
        config.do_sample = False
        config.temperature, config.top_p, config.top_k = 1.0, 1.0, 50


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
