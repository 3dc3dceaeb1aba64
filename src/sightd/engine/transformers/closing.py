"""Finishing a grammar-constrained JSON value inside its token budget.

A grammar says what may come next, never when to stop, so a model that keeps writing (any
model near its limit; every random-weight test model) would be cut off mid-value. This module
is the way out, used by `grammar.ConstrainedDecoding` near the end of the budget:

- a *closing policy* picks, among the tokens the grammar allows, the stop token, else one that
  closes a container, else one that ends a string, a number or separates (priority by the
  lexical state of the text so far), else the longest (the grammar is dictating a key);
- `walk` plays the policy forward on a fork of the grammar matcher to count the tokens it
  needs, so closing starts exactly when the tokens left come down to that;
- a *guard* on the last stretch before that forbids choices that would grow the way out past
  the budget: opening something new where the container could close, or, among a handful of
  alternatives (which key next?), those whose way out no longer fits.
Closing itself plays a handful of alternatives out with the plain policy and takes the
quickest (a rollout, never slower than the policy it was measured with).

Everything works on token ids and numpy tables built once per tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Lexical states of the JSON written so far.
OUT, STRING, NUMBER, ESCAPE = 0, 1, 2, 3
BRANCH_LIMIT = 8  # alternatives played out when the policy has no preference
ROLLOUT_EXTRA = 64  # tokens past the budget a rollout may run, to rank alternatives
STOP_PRIORITY = 3
_CLOSERS = re.compile(r"[\]}]+")
_SEPARATOR = re.compile(r"[,:]")
_SCALAR = re.compile(r"(?:-?\d+|true|false|null)[\]}]*")
_ENDS_STRING = re.compile(r'[^"\\]*"[\]}]*')
_LEAVES_STRING = re.compile(r'[^"\\]*"')
_NUMBER_BYTES = frozenset(b"0123456789.eE+-")


def closing_priority(text: str, state: int) -> int:
    """How directly emitting `text` in lexical `state` finishes the JSON value (higher is
    better; the stop token's 3 is set apart).

    Outside strings: 2 for closing brackets only, 1 for a separator or a complete short
    scalar. In a string: 2 for text that ends it. In a number: 2 for brackets, 1 for a
    separator (more digits would only lengthen it). Anything else 0.
    """
    if state == STRING:
        return 2 if _ENDS_STRING.fullmatch(text) else 0
    t = text.strip()
    if _CLOSERS.fullmatch(t):
        return 2
    if _SEPARATOR.fullmatch(t):
        return 1
    if state == OUT and _SCALAR.fullmatch(t):
        return 1
    return 0


def expands(text: str, state: int) -> bool:
    """Whether `text` starts something new (a member, an element, a container, a string)."""
    if state == STRING:
        match = _LEAVES_STRING.match(text)
        return match is not None and any(c in ',{["' for c in text[match.end() :])
    return any(c in ',{["' for c in text)


def lex_state(data: bytes, state: int) -> int:
    """The lexical state (OUT, STRING, NUMBER, ESCAPE) after `data`, starting from `state`."""
    for byte in data:
        if state == ESCAPE:
            state = STRING
        elif state == STRING:
            state = ESCAPE if byte == 0x5C else OUT if byte == 0x22 else STRING
        elif state == NUMBER and byte in _NUMBER_BYTES:
            continue
        elif byte == 0x22:
            state = STRING
        else:
            state = NUMBER if byte in b"-0123456789" else OUT
    return state


@dataclass(frozen=True)
class TokenTables:
    """Per-token data of one tokenizer: bytes, and per lexical state (rows OUT, STRING,
    NUMBER) the closing priority and whether the token expands the value; byte lengths."""

    vocab: list[bytes]
    priority: np.ndarray
    expanding: np.ndarray
    lengths: np.ndarray

    @classmethod
    def build(cls, vocab: Sequence[bytes], stop_ids: Iterable[int]) -> TokenTables:
        texts = [raw.decode("utf-8", errors="replace") for raw in vocab]
        states = (OUT, STRING, NUMBER)
        priority = np.array([[closing_priority(t, s) for t in texts] for s in states], np.int8)
        expanding = np.array([[expands(t, s) for t in texts] for s in states], np.bool_)
        stops = [i for i in stop_ids if 0 <= i < len(vocab)]
        priority[:, stops] = STOP_PRIORITY
        expanding[:, stops] = False
        lengths = np.array([len(raw) for raw in vocab], np.int32)
        return cls(list(vocab), priority, expanding, lengths)

    def grows(self, token: int, state: int) -> bool:
        """Whether emitting `token` in `state` may lengthen the way out."""
        if state == ESCAPE or not 0 <= token < len(self.vocab):
            return state != ESCAPE
        return bool(self.expanding[state][token])

    def next_state(self, token: int, state: int) -> int:
        return lex_state(self.vocab[token], state) if 0 <= token < len(self.vocab) else state


def allowed_ids(bitmask: Any, vocab_size: int) -> np.ndarray:
    """Token ids an xgrammar bitmask (1 × ceil(V/32) int32, bit i of word i//32) allows."""
    words = np.ascontiguousarray(bitmask.numpy()[0]).view(np.uint8)
    return np.flatnonzero(np.unpackbits(words, bitorder="little")[:vocab_size])


class Closer:
    """The closing policy and its measurements over one tokenizer's tables."""

    def __init__(self, xgr: Any, tables: TokenTables, vocab_size: int) -> None:
        self._xgr = xgr
        self.tables = tables
        self._vocab_size = vocab_size
        self._mask = xgr.allocate_token_bitmask(1, vocab_size)

    def allowed(self, matcher: Any) -> np.ndarray:
        matcher.fill_next_token_bitmask(self._mask)
        return allowed_ids(self._mask, self._vocab_size)

    def pick(self, ids: np.ndarray, state: int) -> int:
        """The plain policy's token among the non-empty `ids` (ties to the lowest id)."""
        t = self.tables
        candidates = ids[ids < len(t.vocab)]
        if not len(candidates):
            return int(ids[0])
        if state != ESCAPE:
            prio = t.priority[state][candidates]
            best = prio.max()
            candidates = candidates[prio == best]
            if best > 0:
                return int(candidates[0])
        lengths = t.lengths[candidates]
        return int(candidates[lengths == lengths.max()][0])

    def choose(self, matcher: Any, ids: np.ndarray, state: int, limit: int) -> int:
        """The closing step: the plain policy's token, or — when it has no preference among a
        handful of alternatives — the one whose way out is shortest."""
        t = self.tables
        known = ids[ids < len(t.vocab)]
        if state != ESCAPE and len(known):
            prio = t.priority[state][known]
            alternatives = known[prio == prio.max()]
            if prio.max() == 0 and 1 < len(alternatives) <= BRANCH_LIMIT:
                horizon = limit + ROLLOUT_EXTRA  # rank alternatives even past the budget
                costs = [self.cost_after(matcher, int(a), state, horizon) for a in alternatives]
                return int(alternatives[int(np.argmin(costs))])
        return self.pick(ids, state)

    def walk(self, sim: Any, state: int, limit: int) -> int:
        """Tokens (the stop token included) the plain policy needs to finish from the state of
        `sim` (a fork; it is consumed); more than `limit` when it cannot within `limit`."""
        for steps in range(limit):
            if sim.is_completed():
                return steps + 1
            ids = self.allowed(sim)
            if not len(ids):
                break
            token = self.pick(ids, state)
            if not sim.accept_token(token):
                break
            state = self.tables.next_state(token, state)
        return limit + 1

    def cost_after(self, matcher: Any, token: int, state: int, limit: int) -> int:
        """Tokens to finish if `token` is emitted now (it included)."""
        sim = matcher.fork()
        if not sim.accept_token(token):
            return limit + 2
        return 1 + self.walk(sim, self.tables.next_state(token, state), limit - 1)

    def forbidden(self, matcher: Any, ids: np.ndarray, state: int, left: int) -> np.ndarray:
        """Allowed tokens the guard rules out with `left` tokens to go (the last stretch)."""
        t = self.tables
        known = ids[ids < len(t.vocab)]
        if state == ESCAPE or not len(known):
            return known[:0]
        banned: np.ndarray = known[:0]
        if (t.priority[state][known] >= 2).any():  # could close: do not open anything new
            banned = known[t.expanding[state][known]]
        elif len(known) <= BRANCH_LIMIT:
            costs = np.array([self.cost_after(matcher, int(k), state, left) for k in known])
            if (costs <= left).any():
                banned = known[costs > left]
        return banned
