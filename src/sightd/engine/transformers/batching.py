"""Continuous batching for the in-process model: the requests in flight decode together.

Why a loop of our own rather than `generate` or transformers' continuous-batching manager:
`generate` runs one batch from start to end (a request arriving mid-way waits for all of it),
and the manager takes token ids only (no pixel values, no multimodal rope positions). Here
each request is prefilled alone (vision encoder and prompt are compute-bound: a batch is not
faster on a CPU) and then joins the batch, which takes one decoding step for all its requests
at once: a step reads every weight once for every row, and decoding is bound by those reads,
so N requests decode in little more than the time of one. Requests join and leave between
steps.

Each request keeps its own logits processors (the model's defaults built as `generate` builds
them, then penalties, grammar and the logprob recorder), its own sampling generator (seeded),
stop sequences and cancellation, checked after every step: a request whose caller went away
leaves the batch, and frees its slot, within one step.

The batch's KV cache is one `DynamicCache` (of `kv.SlabLayer`s, which append a step in place
instead of copying the whole cache) with each row left-padded to the longest; padding
is masked and every row is given its own positions (Qwen's multimodal rope: the row's text
position plus the rope delta its prefill produced), so a row decodes as it would alone.
Numerically alone and batched agree exactly in float32 up to the matrix kernels' summation
order; with dynamically quantized int8 layers activations are scaled per call, so a row's
numbers depend slightly on its batch-mates.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessorList
from transformers.cache_utils import DynamicLayer

from sightd.engine.base import Completion
from sightd.engine.transformers.kv import SlabLayer, slab_cache
from sightd.engine.transformers.run import Request, Run
from sightd.errors import Internal, SightdError, Unavailable

log = logging.getLogger(__name__)


@dataclass
class Job:
    """A prepared request on its way through the batch; `future` ends with its Completion."""

    request: Request
    run: Run
    future: Future[Completion] = field(default_factory=Future)

    def cancel(self) -> None:
        """Stop after the current step (or before the prefill, if still waiting)."""
        self.run.cancelled.set()


@dataclass
class _Row:
    job: Job
    processors: LogitsProcessorList
    ids: torch.Tensor  # (1, prompt + generated): what the processors read
    generator: torch.Generator | None  # None: greedy
    delta: int  # rope delta: a row's position = tokens before it + delta
    length: int  # this row's real tokens in the cache
    generated: int = 0


class Batcher:
    """One model, one thread that runs it; up to `max_batch` requests decode together."""

    def __init__(self, model: Any, *, max_batch: int, end_ids: frozenset[int], label: str) -> None:
        self._model = model
        self._max_batch = max(1, max_batch)
        self._end_ids = end_ids
        self._label = label
        inner = getattr(model, "model", None)
        self._mrope = callable(getattr(inner, "get_rope_index", None))
        # Prefill computes the last position's logits only, as `generate` does (it inspects
        # the forward's signature to know whether it can; once here, not per request).
        self._logits_to_keep = bool(model._supports_logits_to_keep())
        self._device = model.device
        self._cond = threading.Condition()
        self._pending: deque[Job] = deque()
        self._rows: list[_Row] = []
        self._cache: Any = None
        self._mask: torch.Tensor | None = None  # (B, cache length): 1 real, 0 padding
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def running(self) -> int:
        return len(self._rows)

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._closed:
                raise Unavailable("The model is shutting down.")
            self._pending.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sightd-batch", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Fail whatever is waiting or running and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # --- the model thread -----------------------------------------------------------------

    def _loop(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not (self._pending or self._rows or self._closed):
                        self._cond.wait()
                    if self._closed:
                        break
                    job = None
                    if self._pending and len(self._rows) < self._max_batch:
                        job = self._pending.popleft()
                if job is not None:
                    self._admit(job)
                if self._rows:
                    self._step()
        error = Unavailable("The model stopped before this request finished.")
        for row in self._rows:
            self._fail(row.job, error)
        self._rows, self._cache, self._mask = [], None, None
        with self._cond:
            while self._pending:
                self._fail(self._pending.popleft(), error)

    def _admit(self, job: Job) -> None:
        """Prefill `job` alone, choose its first token, and add it to the batch."""
        if not job.future.set_running_or_notify_cancel():  # its future was cancelled
            return
        if job.run.halted:  # cancelled while it waited
            _finish(job)
            return
        request = job.request
        try:
            inner: Any = getattr(self._model, "model", None)
            if self._mrope:
                inner.rope_deltas = None  # else a text-only prompt would keep the last one's
            keep = {"logits_to_keep": 1} if self._logits_to_keep else {}
            slabs = slab_cache(self._model.config)
            if slabs is not None:
                keep["cache"] = slabs
            out = self._model(**request.inputs, use_cache=True, **keep)
            cache = out.get("cache", None)
            if cache is None:
                cache = out.get("past_key_values", None)
            delta = 0
            if self._mrope and getattr(inner, "rope_deltas", None) is not None:
                delta = int(inner.rope_deltas.reshape(-1)[0])
            row = _Row(
                job,
                self._processors(request),
                request.inputs["input_ids"].to(torch.long),
                _generator(request, self._device),
                delta,
                request.prompt_tokens,
            )
            logits = out.logits[:, -1].to(copy=True, dtype=torch.float32)
            del out
            done = self._advance(row, logits)
        except Exception as e:  # this request fails; the batch goes on
            self._fail(job, e)
            return
        if done:
            _finish(job)
            return
        try:
            self._join(row, cache)
        except Exception as e:
            self._fail_all(e)
            self._fail(job, e)

    def _step(self) -> None:
        """One decoding step for every row; finished rows leave."""
        rows = self._rows
        assert self._mask is not None
        tokens = torch.tensor([[int(r.ids[0, -1])] for r in rows], device=self._device)
        mask = torch.cat([self._mask, self._mask.new_ones((len(rows), 1))], dim=1)
        positions = torch.tensor([r.length + r.delta for r in rows], device=self._device)
        position_ids = (
            positions.view(1, -1, 1).expand(3, -1, -1) if self._mrope else positions.view(-1, 1)
        )
        try:
            out = self._model(
                input_ids=tokens,
                attention_mask=mask,
                position_ids=position_ids,
                cache=self._cache,
                use_cache=True,
            )
            logits = out.logits[:, -1].to(copy=True, dtype=torch.float32)
            del out
        except Exception as e:  # a failed step fails every row in it
            self._fail_all(e)
            return
        self._mask = mask
        finished: list[int] = []
        for i, row in enumerate(rows):
            row.length += 1
            try:
                done = self._advance(row, logits[i : i + 1])
            except Exception as e:
                self._fail(row.job, e)
                finished.append(i)
                continue
            if done:
                _finish(row.job)
                finished.append(i)
        if finished:
            self._leave(finished)

    def _advance(self, row: _Row, logits: torch.Tensor) -> bool:
        """Choose the row's next token from `logits` (1, V) and give it to its run; True when
        the row is finished (end of sequence, budget, stop sequence, cancelled)."""
        scores = row.processors(row.ids, logits)  # type: ignore[arg-type]
        if row.generator is not None:
            probs = torch.softmax(scores, dim=-1)
            token = int(torch.multinomial(probs, 1, generator=row.generator)[0, 0])
        else:
            token = int(torch.argmax(scores, dim=-1)[0])
        row.ids = torch.cat([row.ids, row.ids.new_tensor([[token]])], dim=1)
        row.generated += 1
        row.job.run.feed(token)
        return (
            token in self._end_ids
            or row.generated >= row.job.request.max_new_tokens
            or row.job.run.halted
        )

    def _processors(self, request: Request) -> LogitsProcessorList:
        """The model's own processors and warpers for this request's config, as `generate`
        builds them (private transformers API: the same list is what makes sightd's answers
        equal plain generate's), followed by the request's."""
        config = request.config
        self._model._prepare_special_tokens(config, True, device=self._device)
        processors: LogitsProcessorList = self._model._get_logits_processor(
            generation_config=config,
            input_ids_seq_length=request.prompt_tokens,
            logits_processor=request.processors,
            device=self._device,
            model_kwargs={},
        )
        return processors

    # --- the batch's cache ------------------------------------------------------------------

    def _join(self, row: _Row, cache: Any) -> None:
        length = row.length
        if not self._rows:
            self._cache = cache
            self._mask = torch.ones((1, length), dtype=torch.long, device=self._device)
            self._rows = [row]
            return
        assert self._mask is not None
        width = max(int(self._mask.shape[1]), length)
        pad_batch, pad_row = width - int(self._mask.shape[1]), width - length
        for mine, theirs in zip(_layers(self._cache), _layers(cache), strict=True):
            _set(
                mine,
                torch.cat([_pad(mine.keys, pad_batch), _pad(theirs.keys, pad_row)]),
                torch.cat([_pad(mine.values, pad_batch), _pad(theirs.values, pad_row)]),
            )
        ones = torch.ones((1, length), dtype=torch.long, device=self._device)
        self._mask = torch.cat([_pad(self._mask, pad_batch), _pad(ones, pad_row)])
        self._rows.append(row)

    def _leave(self, finished: list[int]) -> None:
        gone = set(finished)
        keep = [i for i in range(len(self._rows)) if i not in gone]
        self._rows = [self._rows[i] for i in keep]
        if not keep:
            self._cache, self._mask = None, None
            return
        assert self._mask is not None
        index = torch.tensor(keep, device=self._device)
        mask = self._mask.index_select(0, index)
        lead = int(torch.argmax((mask.sum(dim=0) > 0).to(torch.int8)))  # all-padding columns
        self._mask = mask[:, lead:]
        for layer in _layers(self._cache):
            _set(
                layer,
                layer.keys.index_select(0, index)[:, :, lead:],
                layer.values.index_select(0, index)[:, :, lead:],
            )

    def _fail(self, job: Job, error: BaseException) -> None:
        if job.future.done():
            return
        if not isinstance(error, SightdError):
            log.error("generation failed on %s", self._label, exc_info=error)
            error = Internal(f"generation failed on {self._label}: {error}")
        job.future.set_exception(error)

    def _fail_all(self, error: BaseException) -> None:
        for row in self._rows:
            self._fail(row.job, error)
        self._rows, self._cache, self._mask = [], None, None


def _layers(cache: Any) -> list[Any]:
    layers = list(cache.layers)
    for layer in layers:
        if type(layer) not in (DynamicLayer, SlabLayer):
            raise Internal(f"batching needs a plain dynamic cache, not {type(layer).__name__}")
    return layers


def _set(layer: Any, keys: torch.Tensor, values: torch.Tensor) -> None:
    """Make `layer` hold these rows (a slab keeps spare room for the steps to come)."""
    if isinstance(layer, SlabLayer):
        layer.replace(keys, values)
    else:
        layer.keys, layer.values = keys, values


def _pad(tensor: torch.Tensor, n: int) -> torch.Tensor:
    """`tensor` with `n` zero columns in front of its sequence dimension (-2 for K/V, -1 for
    a mask)."""
    if n == 0:
        return tensor
    dim = -1 if tensor.dim() == 2 else -2
    shape = list(tensor.shape)
    shape[dim] = n
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _generator(request: Request, device: torch.device) -> torch.Generator | None:
    if not request.config.do_sample:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(request.seed if request.seed is not None else 0)
    return generator


def _finish(job: Job) -> None:
    job.run.end()
    if not job.future.done():
        job.future.set_result(job.run.completion(job.request))
