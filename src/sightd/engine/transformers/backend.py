"""`TransformersBackend`: a VLM loaded in-process, answering typed prompts.

One code path serves every family and both call styles: the prompt becomes chat messages
(`families`), the processor renders and tokenises them with the images and videos (user text
can't forge control tokens or image placeholders), and the prepared request joins the model's
batch (`batching`: requests in flight decode together), feeding a `Run` that decodes tokens
incrementally and applies stop sequences. Media arrive at the size the model sees them at
(`resolution`'s policy, applied when decoding); the processor call is bounded so that it keeps
those sizes. Qwen models take a video as one video with its source times; others see its
frames. `submit` is the non-blocking entry the async backend uses; `generate` and `stream`
block, for the CLI and tests.
"""

from __future__ import annotations

import concurrent.futures
import copy
import gc
import logging
import queue
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForImageTextToText, LogitsProcessorList

from sightd.engine.base import (
    Capabilities,
    Completion,
    ModelInfo,
    SamplingParams,
    TextDelta,
    model_id_for,
)
from sightd.engine.transformers.batching import Batcher, Job
from sightd.engine.transformers.device import (
    cpu_cores,
    quantizes,
    resolve_device,
    resolve_dtype,
)
from sightd.engine.transformers.families import Family
from sightd.engine.transformers.grammar import Grammars
from sightd.engine.transformers.prompting import PromptRenderer
from sightd.engine.transformers.quantize import quantize_text_model
from sightd.engine.transformers.resolution import ResolutionPolicy
from sightd.engine.transformers.run import Request, Run
from sightd.engine.transformers.scores import LogprobRecorder, Penalties
from sightd.errors import InvalidArgument
from sightd.prompt import Prompt

log = logging.getLogger(__name__)

_DONE = object()


class TransformersBackend:
    """A model folder loaded with transformers: a `engine.inprocess.LocalModel` that
    `InProcessBackend` puts behind the async seam."""

    def __init__(
        self,
        folder: Path,
        *,
        source: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        torch_threads: int = 0,
        max_batch: int = 8,
    ) -> None:
        folder = Path(folder)
        self._renderer = renderer = PromptRenderer(folder)
        config = renderer.config
        self._family: Family = renderer.family
        torch.set_num_threads(torch_threads if torch_threads > 0 else cpu_cores())
        self._device = resolve_device(device)
        self._processor = renderer.processor
        self._tokenizer = renderer.tokenizer
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
        # The checkpoint's memory map is held by a reference cycle until a collection: without
        # one, the 4 GB file of a 2B model stays resident beside the weights made from it.
        gc.collect()
        gen = self._model.generation_config
        eos = gen.eos_token_id if gen.eos_token_id is not None else self._tokenizer.eos_token_id
        self._eos_ids = frozenset([eos] if isinstance(eos, int) else (eos or []))
        if gen.pad_token_id is None and self._eos_ids:
            gen.pad_token_id = min(self._eos_ids)
        self._grammars = Grammars(self._tokenizer, vocab_size, self._eos_ids)
        self._policy: ResolutionPolicy = renderer.policy
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
            max_concurrency=max(1, max_batch),
            tool_calls=self._family.tool_syntax is not None,
        )
        self._batcher = Batcher(
            self._model, max_batch=max_batch, end_ids=self._eos_ids, label=self._info.id
        )
        log.info("loaded %s (%s) on %s", self._info.id, self._family.name, self._device)

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def count_text_tokens(self, text: str) -> int:
        return len(self._count_tokenizer.encode(text, add_special_tokens=False).ids)

    def count_prompt_tokens(self, prompt: Prompt) -> int:
        """The prompt's length in the model's own tokens (template, image and video tokens)."""
        return self._renderer.count(prompt, self._info.id)

    @property
    def resolution_policy(self) -> ResolutionPolicy:
        return self._policy

    def input_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]:
        """(width, height) the model sees an image of `size_px` at: the frame of absolute
        native coordinates (Qwen2.5-VL's boxes). An image decoded by the resolution policy is
        already that size, at every level; any other is resized to it before the processor."""
        return self._policy.input_frame_px(size_px)

    def submit(
        self,
        prompt: Prompt,
        params: SamplingParams,
        emit: Callable[[TextDelta], Any] | None = None,
        cancel: threading.Event | None = None,
    ) -> Job:
        """Prepare `prompt` (in the caller's thread) and queue it for the batch; the job's
        future ends with its Completion, text deltas go to `emit` (from the model's thread)
        as they are produced, and setting `cancel` stops it within a step."""
        request = self._prepare(prompt, params)
        run = Run(
            self._tokenizer,
            params,
            self._family.strip_leading_space,
            emit or (lambda _: None),
            request.recorder,
            self._eos_ids,
        )
        if cancel is not None:
            run.cancelled = cancel
        job = Job(request, run)
        self._batcher.submit(job)
        return job

    @property
    def running(self) -> int:
        """Requests decoding in the batch now."""
        return self._batcher.running

    def generate(
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event | None = None
    ) -> Completion:
        """Generate to the end (blocking); once `cancel` is set generation stops after the
        current step and the partial answer is returned."""
        return self.submit(prompt, params, cancel=cancel).future.result()

    def stream(self, prompt: Prompt, params: SamplingParams) -> Iterator[TextDelta | Completion]:
        """Blocking stream; closing this iterator cancels the generation within a step."""
        deltas: queue.Queue[object] = queue.Queue()
        job = self.submit(prompt, params, deltas.put)
        job.future.add_done_callback(lambda _: deltas.put(_DONE))
        try:
            while (item := deltas.get()) is not _DONE:
                yield item  # type: ignore[misc]
            yield job.future.result()
        finally:
            job.cancel()
            concurrent.futures.wait([job.future])

    def close(self) -> None:
        self._batcher.close()

    # --- internals ----------------------------------------------------------------------------

    def _prepare(self, prompt: Prompt, params: SamplingParams) -> Request:
        inputs = self._renderer.inputs(prompt, self._info.id)
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
        return Request(inputs, config, seed, config.max_new_tokens, processors, recorder)

    def _token_text(self, token_id: int) -> str:
        return str(self._tokenizer.decode([token_id], skip_special_tokens=False))


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
