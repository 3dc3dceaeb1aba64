"""Constrained decoding for transformers' `generate`: xgrammar token masks, budget-aware.

`Grammars` belongs to one loaded model. It builds xgrammar's tokenizer table and sightd's token
tables on first use, compiles each `OutputConstraint` once (cached), and hands out a fresh
`ConstrainedDecoding` logits processor per generate call (matchers are stateful).

Near the end of the budget the processor measures the way out and, in time, closes the value
(`closing`), so a constrained answer is complete JSON even when the model would not stop.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import torch
from transformers import LogitsProcessor

from sightd.engine.base import ChoiceOutput, JsonOutput, OutputConstraint
from sightd.engine.transformers.closing import (
    NUMBER,
    OUT,
    STRING,
    Closer,
    TokenTables,
    allowed_ids,
)
from sightd.errors import Internal, InvalidArgument, MissingExtra

log = logging.getLogger(__name__)

CACHE_SIZE = 64
CLOSING_WINDOW = 256  # measure the way out only this close to the end of the budget
CLOSING_MARGIN = 2  # spare tokens on top of the measured way out
GUARD_SLACK = 16  # within this many spare tokens, choices that grow the way out are refused


def _xgrammar() -> Any:
    try:
        import xgrammar
    except ImportError as e:
        raise MissingExtra("xgrammar", "json") from e
    return xgrammar


class Grammars:
    """Compiled grammars of one model's tokenizer, and logits processors built from them."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_ids: Iterable[int]) -> None:
        self._tokenizer = tokenizer
        self._vocab_size = vocab_size
        self._stop_ids = sorted(set(stop_ids))
        self._lock = threading.Lock()
        self._compiler: Any = None
        self._tables: TokenTables | None = None
        self._cache: OrderedDict[OutputConstraint, Any] = OrderedDict()

    def _ensure(self) -> Any:
        xgr = _xgrammar()
        if self._compiler is None:
            info = xgr.TokenizerInfo.from_huggingface(
                self._tokenizer, vocab_size=self._vocab_size, stop_token_ids=self._stop_ids
            )
            vocab = [
                raw if isinstance(raw, bytes) else str(raw).encode()
                for raw in info.decoded_vocab[: self._vocab_size]
            ]
            vocab += [b""] * (self._vocab_size - len(vocab))
            self._tables = TokenTables.build(vocab, self._stop_ids)
            self._compiler = xgr.GrammarCompiler(info, cache_enabled=False)
        return xgr

    def compile(self, constraint: OutputConstraint) -> Any:
        """The compiled grammar of `constraint` (cached); InvalidArgument if it cannot compile."""
        with self._lock:
            xgr = self._ensure()
            hit = self._cache.get(constraint)
            if hit is not None:
                self._cache.move_to_end(constraint)
                return hit
            try:
                compiled = self._compile(xgr, constraint)
            except (RuntimeError, ValueError) as e:
                first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
                raise InvalidArgument(
                    f"The response schema cannot be enforced: {first}",
                    field="generation_config.response_schema",
                ) from e
            self._cache[constraint] = compiled
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
            return compiled

    def _compile(self, xgr: Any, constraint: OutputConstraint) -> Any:
        if isinstance(constraint, ChoiceOutput):
            alternatives = " | ".join(json.dumps(c, ensure_ascii=False) for c in constraint.choices)
            return self._compiler.compile_grammar(xgr.Grammar.from_ebnf(f"root ::= {alternatives}"))
        assert isinstance(constraint, JsonOutput)
        # "{}" (any JSON value) rather than the builtin JSON grammar: no free whitespace, so the
        # answer is compact and a model cannot pad it with newlines until the budget runs out.
        return self._compiler.compile_json_schema(
            constraint.schema_json or "{}", any_whitespace=False, strict_mode=True
        )

    def processor(self, constraint: OutputConstraint, max_new_tokens: int) -> ConstrainedDecoding:
        compiled = self.compile(constraint)
        assert self._tables is not None
        xgr = _xgrammar()
        closer = Closer(xgr, self._tables, self._vocab_size)
        return ConstrainedDecoding(xgr, compiled, closer, max_new_tokens)


class ConstrainedDecoding(LogitsProcessor):  # type: ignore[misc]
    """Masks each step's logits to the grammar; closes the value before the budget runs out.

    Three phases: free (the grammar's mask only); guard, once the spare tokens beyond the
    measured way out are few (choices that would grow it past the budget are refused); closing,
    once the tokens left equal the way out (one token per step, the closing policy's).
    One per generate call, batch size 1 (sightd generates one candidate at a time).
    """

    def __init__(self, xgr: Any, compiled: Any, closer: Closer, max_new_tokens: int) -> None:
        self._xgr = xgr
        self._matcher = xgr.GrammarMatcher(compiled)
        self._vocab_size = compiled.tokenizer_info.vocab_size
        self._bitmask = xgr.allocate_token_bitmask(1, self._vocab_size)
        self._closer = closer
        self._max_new_tokens = max_new_tokens
        self._prompt_len: int | None = None
        self._state = OUT
        self._phase = "free"
        self._next_check = 0
        self._need: int | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[0] != 1:
            raise Internal("constrained decoding runs one sequence at a time")
        structural = grows = True
        if self._prompt_len is None:
            self._prompt_len = int(input_ids.shape[1])
        elif not self._matcher.is_terminated():
            token = int(input_ids[0, -1])
            if not self._matcher.accept_token(token):
                raise Internal(f"the model produced token {token}, which the grammar forbids")
            tables = self._closer.tables
            before, self._state = self._state, tables.next_state(token, self._state)
            structural = not (before == self._state and self._state in (STRING, NUMBER))
            grows = tables.grows(token, before)
        generated = int(input_ids.shape[1]) - self._prompt_len
        left = self._max_new_tokens - generated
        device = scores.device
        work = scores if device.type == "cpu" else scores.to("cpu")
        self._matcher.fill_next_token_bitmask(self._bitmask)
        self._xgr.apply_token_bitmask_inplace(work, self._bitmask)
        if self._phase != "closing" and left <= CLOSING_WINDOW:
            self._update(generated, left, grows or (structural and generated >= self._next_check))
        if self._phase != "free":
            ids = allowed_ids(self._bitmask, self._vocab_size)
            if len(ids):
                self._steer(work, ids, left)
        return work if device.type == "cpu" else work.to(device)

    def _update(self, generated: int, left: int, remeasure: bool) -> None:
        """Re-measure the way out after tokens that may lengthen it (opening something new)
        and, every few tokens while the slack is ample, after other structural ones; text
        inside a string or a number, or closing something, never lengthens it."""
        if self._need is None or remeasure:
            self._need = self._closer.walk(self._matcher.fork(), self._state, left)
            self._need += CLOSING_MARGIN
            slack = left - self._need
            self._next_check = generated + (1 if slack <= 2 * GUARD_SLACK else slack // 4)
        slack = left - self._need
        self._phase = "closing" if slack <= 0 else "guard" if slack <= GUARD_SLACK else "free"

    def _steer(self, scores: torch.Tensor, ids: Any, left: int) -> None:
        closer = self._closer
        if self._phase == "closing":
            token = closer.choose(self._matcher, ids, self._state, left)
            scores.fill_(float("-inf"))
            scores[0, token] = 0.0  # the only candidate, whatever earlier processors did to it
            return
        banned = closer.forbidden(self._matcher, ids, self._state, left - CLOSING_MARGIN)
        if len(banned):
            scores[0, torch.from_numpy(banned.astype("int64"))] = float("-inf")
