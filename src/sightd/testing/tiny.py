"""Tiny random-weight models of the real architectures, built offline in about a second.

They exist so that tests, CI and `sightd models tiny DIR` exercise the very path a downloaded
model takes (config.json → AutoModelForImageTextToText, processor files, chat template,
tokenizer), without a hub or a GPU. The weights are random, so the text is gibberish, but the
shapes, special tokens, prompt formats and image placeholders are the family's own.

A folder holds: config.json, model.safetensors, generation_config.json, tokenizer.json +
tokenizer_config.json (byte-level BPE trained here on a small built-in corpus, special tokens at
the ids the config names), preprocessor_config.json (+ video_preprocessor_config.json for Qwen),
processor_config.json and chat_template.jinja.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sightd.testing import chat_templates
from sightd.testing.tiny_tokenizers import TinyTokenizer, qwen_tokenizer, smol_tokenizer

FAMILIES = ("qwen3-vl", "qwen2.5-vl", "smolvlm2")

_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def build_tiny(dest: Path, family: str = "qwen3-vl", seed: int = 0) -> Path:
    """Write a tiny random model of `family` into `dest` (created) and return `dest`.

    Deterministic for a given `seed`: the same bytes each time.
    """
    builders: dict[str, Callable[[Path, int], None]] = {
        "qwen3-vl": _build_qwen3_vl,
        "qwen2.5-vl": _build_qwen2_5_vl,
        "smolvlm2": _build_smolvlm2,
    }
    if family not in builders:
        raise ValueError(f"unknown tiny family {family!r}; choose one of {', '.join(FAMILIES)}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    builders[family](dest, seed)
    return dest


# --- shared writers ---------------------------------------------------------------------------


def save_quietly(model: Any, dest: Path) -> None:
    """`save_pretrained` as safetensors without the "Writing model shards" progress bar (noise
    for a 1 MB file)."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        model.save_pretrained(str(dest), safe_serialization=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _save_model(dest: Path, config: Any, seed: int) -> None:
    """Instantiate the real model class with random weights and save it as safetensors."""
    import torch
    from transformers import AutoModelForImageTextToText

    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG alone
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    save_quietly(model, dest)
    # save_pretrained writes the generation config it derived; ours is written afterwards.
    (dest / "generation_config.json").unlink(missing_ok=True)


def _write_processor(dest: Path, processor_class: str, template: str, **extra: Any) -> None:
    write_json(dest / "processor_config.json", {"processor_class": processor_class, **extra})
    (dest / "chat_template.jinja").write_text(template, encoding="utf-8")


# --- families ---------------------------------------------------------------------------------


def _qwen_text(tok: TinyTokenizer, rope_theta: float, max_pos: int) -> dict[str, Any]:
    return {
        "vocab_size": tok.size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "max_position_embeddings": max_pos,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": rope_theta,
            "mrope_section": [2, 3, 3],
        },
        "bos_token_id": tok.ids["<|endoftext|>"],
        "eos_token_id": tok.ids["<|im_end|>"],
        "pad_token_id": tok.ids["<|endoftext|>"],
        "tie_word_embeddings": True,
    }


def _qwen_ids(tok: TinyTokenizer) -> dict[str, Any]:
    return {
        "image_token_id": tok.ids["<|image_pad|>"],
        "video_token_id": tok.ids["<|video_pad|>"],
        "vision_start_token_id": tok.ids["<|vision_start|>"],
        "vision_end_token_id": tok.ids["<|vision_end|>"],
    }


TINY_MAX_NEW_TOKENS = 64
"""Default answer length of the tiny models: random weights almost never emit EOS, so without a
short default every request without maxOutputTokens would run to the family's 8–16k limit.
Requests can still ask for more."""


def _qwen_generation(tok: TinyTokenizer, sampling: dict[str, Any]) -> dict[str, Any]:
    return {
        "max_new_tokens": TINY_MAX_NEW_TOKENS,
        "bos_token_id": tok.ids["<|endoftext|>"],
        "pad_token_id": tok.ids["<|endoftext|>"],
        "eos_token_id": [tok.ids["<|im_end|>"], tok.ids["<|endoftext|>"]],
        **sampling,
    }


def _qwen_image_config(
    processor: str, kind: str, patch: int, size: dict[str, int], mean: list[float], std: list[float]
) -> dict[str, Any]:
    return {
        f"{kind}_processor_type": processor,
        "processor_class": "",
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "rescale_factor": 1 / 255,
        "resample": 3,
        "image_mean": mean,
        "image_std": std,
        "merge_size": 2,
        "patch_size": patch,
        "temporal_patch_size": 2,
        "size": size,
    }


def _build_qwen3_vl(dest: Path, seed: int) -> None:
    from transformers import Qwen3VLConfig

    tok = qwen_tokenizer(dest, think_tokens=True)
    text = _qwen_text(tok, 5_000_000.0, 262_144)
    text["rope_parameters"]["mrope_interleaved"] = True
    config = Qwen3VLConfig(
        text_config=text,
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": 32,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0, 1],
        },
        tie_word_embeddings=True,
        **_qwen_ids(tok),
    )
    _save_model(dest, config, seed)
    sampling = {"do_sample": True, "temperature": 0.7, "top_k": 20, "top_p": 0.8}
    write_json(dest / "generation_config.json", _qwen_generation(tok, sampling))
    half = [0.5, 0.5, 0.5]
    image = _qwen_image_config(
        "Qwen2VLImageProcessorFast",
        "image",
        16,
        {"longest_edge": 16777216, "shortest_edge": 65536},
        half,
        half,
    )
    image["processor_class"] = "Qwen3VLProcessor"
    write_json(dest / "preprocessor_config.json", image)
    video = _qwen_image_config(
        "Qwen3VLVideoProcessor",
        "video",
        16,
        {"longest_edge": 25165824, "shortest_edge": 4096},
        half,
        half,
    )
    video.update(processor_class="Qwen3VLProcessor", fps=2, min_frames=4, max_frames=768)
    video.update(do_sample_frames=True)
    write_json(dest / "video_preprocessor_config.json", video)
    _write_processor(dest, "Qwen3VLProcessor", chat_templates.QWEN3_VL)


def _build_qwen2_5_vl(dest: Path, seed: int) -> None:
    from transformers import Qwen2_5_VLConfig

    tok = qwen_tokenizer(dest, think_tokens=False)
    text = _qwen_text(tok, 1_000_000.0, 128_000)
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": 32,
            "window_size": 112,
            "fullatt_block_indexes": [1],
            "tokens_per_second": 2,
        },
        tie_word_embeddings=True,
        **_qwen_ids(tok),
    )
    _save_model(dest, config, seed)
    sampling = {
        "do_sample": True,
        "temperature": 1e-6,
        "top_k": 1,
        "top_p": 0.001,
        "repetition_penalty": 1.05,
    }
    write_json(dest / "generation_config.json", _qwen_generation(tok, sampling))
    size = {"longest_edge": 12845056, "shortest_edge": 3136}
    image = _qwen_image_config("Qwen2VLImageProcessor", "image", 14, size, _CLIP_MEAN, _CLIP_STD)
    image.update(processor_class="Qwen2_5_VLProcessor", min_pixels=3136, max_pixels=12845056)
    write_json(dest / "preprocessor_config.json", image)
    video = _qwen_image_config("Qwen2VLVideoProcessor", "video", 14, size, _CLIP_MEAN, _CLIP_STD)
    video.update(processor_class="Qwen2_5_VLProcessor", fps=2.0)
    write_json(dest / "video_preprocessor_config.json", video)
    _write_processor(dest, "Qwen2_5_VLProcessor", chat_templates.QWEN2_5_VL)


def _build_smolvlm2(dest: Path, seed: int) -> None:
    from transformers import SmolVLMConfig

    tok = smol_tokenizer(dest)
    # The real SmolVLM2-256M/500M use 512 px tiles and scale 4 (64 tokens a tile); smaller
    # tiles keep the tiny model's image preprocessing and vision tower fast on a CPU.
    tile_px, patch_px, scale = 128, 16, 2
    image_seq_len = (tile_px // patch_px) ** 2 // scale**2
    config = SmolVLMConfig(
        text_config={
            "model_type": "llama",
            "vocab_size": tok.size,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "max_position_embeddings": 8192,
            "rms_norm_eps": 1e-5,
            "rope_parameters": {"rope_type": "default", "rope_theta": 100000.0},
            "bos_token_id": tok.ids["<|im_start|>"],
            "eos_token_id": tok.ids["<end_of_utterance>"],
            "pad_token_id": tok.ids["<|im_end|>"],
            "tie_word_embeddings": True,
        },
        vision_config={
            "model_type": "smolvlm_vision",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": tile_px,
            "patch_size": patch_px,
        },
        scale_factor=scale,
        image_token_id=tok.ids["<image>"],
        tie_word_embeddings=True,
    )
    _save_model(dest, config, seed)
    write_json(
        dest / "generation_config.json",
        {
            "max_new_tokens": TINY_MAX_NEW_TOKENS,
            "bos_token_id": tok.ids["<|im_start|>"],
            "eos_token_id": [tok.ids["<end_of_utterance>"], tok.ids["<|im_end|>"]],
            "pad_token_id": tok.ids["<|im_end|>"],
        },
    )
    write_json(
        dest / "preprocessor_config.json",
        {
            "image_processor_type": "SmolVLMImageProcessor",
            "processor_class": "SmolVLMProcessor",
            "do_convert_rgb": True,
            "do_image_splitting": True,
            "do_normalize": True,
            "do_pad": True,
            "do_rescale": True,
            "do_resize": True,
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5],
            "max_image_size": {"longest_edge": tile_px},
            "resample": 1,
            "rescale_factor": 1 / 255,
            "size": {"longest_edge": 4 * tile_px},
        },
    )
    _write_processor(dest, "SmolVLMProcessor", chat_templates.SMOLVLM2, image_seq_len=image_seq_len)
