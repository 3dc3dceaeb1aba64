"""Tokenizers for the tiny models: byte-level BPE trained offline with each family's pipeline.

The real Qwen and SmolLM2 tokenizers are byte-level BPE with ~150k / ~49k tokens. Here the same
pre-tokenisation (Qwen's split regex + NFC, GPT-2 style for SmolLM2) is trained on a small
built-in corpus to a few hundred tokens, and the family's special tokens are appended in their
real order, so configs can point at the same tokens a real checkpoint uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS = """\
A photo of a red car parked on a quiet street next to a green tree.
The image shows two people walking a dog in the park on a sunny day.
There is a cat sitting on a wooden table near the window. The sky is blue.
Describe the picture in one sentence. What objects can you see in this image?
The chart has three bars: 12, 45 and 78. The total is 135. Answer in JSON.
{"box_2d": [120, 340, 560, 780], "label": "person"}, {"label": "bicycle"}
The video starts with a man opening a door, then a woman enters the kitchen.
Yes. No. Maybe. I think the answer is 42. Les images sont belles. Das Bild ist groß.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000. Punctuation: ( ) [ ] { } , . ; : ! ? - _ / \\ " '
"""

_QWEN_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
_QWEN_ADDED = (
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
)
_SMOL_FRONT = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
_SMOL_SPECIALS = (
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    *(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)),
    "<end_of_utterance>",
)


@dataclass(frozen=True)
class TinyTokenizer:
    """A saved tokenizer and the ids of its tokens, for wiring the config."""

    ids: dict[str, int]
    size: int


def _train_bpe(pre_tokenizer: Any, normalizer: Any, front: tuple[str, ...], vocab_size: int) -> Any:
    """Byte-level BPE trained on `CORPUS` with the family's own pre-tokenisation."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=list(front),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS.splitlines(), trainer=trainer)
    return tok


def _vocab_merges(tok: Any) -> tuple[dict[str, int], Any]:
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


def _append(vocab: dict[str, int], tokens: tuple[str, ...]) -> dict[str, int]:
    """Give `tokens` the ids after the BPE vocabulary, in order, as the real vocabularies do."""
    start = max(vocab.values()) + 1
    return {**vocab, **{token: start + i for i, token in enumerate(tokens)}}


def qwen_tokenizer(dest: Path, think_tokens: bool) -> TinyTokenizer:
    """A Qwen2Tokenizer (Qwen2.5-VL; Qwen3-VL adds the think tokens) saved into `dest`."""
    from tokenizers import Regex, normalizers, pre_tokenizers
    from transformers import AddedToken, Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    vocab, merges = _vocab_merges(_train_bpe(pre, normalizers.NFC(), (), 480))
    added = _QWEN_ADDED if think_tokens else _QWEN_ADDED[:-4]
    vocab = _append(vocab, _QWEN_SPECIALS + added)
    specials: dict[str, Any] = {"unk_token": None, "bos_token": None, "errors": "replace"}
    tok = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=262144 if think_tokens else 131072,
        **specials,
    )
    tok.add_tokens([AddedToken(t, special=True) for t in _QWEN_SPECIALS])
    tok.add_tokens([AddedToken(t, special=False) for t in added])
    return _save_tokenizer(tok, dest)


def smol_tokenizer(dest: Path) -> TinyTokenizer:
    """A GPT2Tokenizer like SmolVLM2's (SmolLM2 base + image/tile tokens) saved into `dest`."""
    from tokenizers import pre_tokenizers
    from transformers import AddedToken, GPT2Tokenizer

    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    vocab, merges = _vocab_merges(_train_bpe(pre, None, _SMOL_FRONT, 480))
    vocab = _append(vocab, _SMOL_SPECIALS)
    tok = GPT2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token="<|endoftext|>",
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        model_max_length=8192,
    )
    tok.add_tokens([AddedToken(t, special=True) for t in _SMOL_SPECIALS])
    return _save_tokenizer(tok, dest)


def _save_tokenizer(tok: Any, dest: Path) -> TinyTokenizer:
    tok.save_pretrained(str(dest))
    for stray in ("chat_template.jinja", "special_tokens_map.json"):
        (dest / stray).unlink(missing_ok=True)
    return TinyTokenizer(ids=dict(tok.get_vocab()), size=len(tok))
