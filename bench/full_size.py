"""Full-size random-weight VLMs of the real architectures, built offline from published configs.

Weights do not change what a forward pass costs, so speed and memory are measured on a model
of the real sizes with random weights (../shared/notes/engine-cost.md). A folder is built once
and cached under `$PERF_DIR/<name>-random` (PERF_DIR default `~/.cache/sightd-perf`):

1. `sightd.testing.tiny.build_tiny` writes the family's tokenizer, processor files, chat
   template and config (special token ids agree with the tokenizer);
2. the config's text and vision sizes are replaced by the published model's (`PUBLISHED`
   below, copied from each model's config.json on the hub) and the processor files get the
   published geometry where the tiny one differs (SmolVLM2's tiles);
3. the model class is instantiated from that config (bfloat16) and the output-embedding rows
   of every token the tiny tokenizer cannot print are zeroed: their logits are exactly 0, so
   greedy decoding always picks a printable token and a stream carries text (the matmuls stay
   as dense as ever, so the cost is the real one).

    .venv/bin/python bench/full_size.py [--family qwen3-vl] [--dest DIR] [--check]

`--check` builds on the meta device and prints the parameter counts (no weights, no disk):
Qwen3-VL-2B ≈ 2.1 B, Qwen2.5-VL-3B ≈ 3.8 B, SmolVLM2-2.2B ≈ 2.2 B.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]


@dataclass(frozen=True)
class Published:
    """A published model's sizes, overlaid on the tiny config of its family."""

    name: str  # the cache folder is `<name>-random`
    family: str  # sightd.testing.tiny family
    text: dict[str, Any]
    vision: dict[str, Any]
    top: dict[str, Any] = field(default_factory=dict)
    # Processor files (name → keys to overwrite) where the tiny geometry is not the real one.
    processor_files: dict[str, dict[str, Any]] = field(default_factory=dict)


PUBLISHED: dict[str, Published] = {
    "qwen3-vl": Published(
        "qwen3-vl-2b",
        "qwen3-vl",
        text=dict(
            hidden_size=2048,
            num_hidden_layers=28,
            num_attention_heads=16,
            num_key_value_heads=8,
            head_dim=128,
            intermediate_size=6144,
            vocab_size=151936,
            max_position_embeddings=262144,
            rms_norm_eps=1e-6,
            hidden_act="silu",
            tie_word_embeddings=True,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 5_000_000.0,
                "mrope_section": [24, 20, 20],
                "mrope_interleaved": True,
            },
        ),
        vision=dict(
            depth=24,
            hidden_size=1024,
            intermediate_size=4096,
            num_heads=16,
            in_channels=3,
            hidden_act="gelu_pytorch_tanh",
            patch_size=16,
            temporal_patch_size=2,
            spatial_merge_size=2,
            out_hidden_size=2048,
            num_position_embeddings=2304,
            deepstack_visual_indexes=[5, 11, 17],
        ),
        top=dict(tie_word_embeddings=True),
    ),
    "qwen2.5-vl": Published(
        "qwen2.5-vl-3b",
        "qwen2.5-vl",
        text=dict(
            hidden_size=2048,
            num_hidden_layers=36,
            num_attention_heads=16,
            num_key_value_heads=2,
            head_dim=128,
            intermediate_size=11008,
            vocab_size=151936,
            max_position_embeddings=128000,
            rms_norm_eps=1e-6,
            hidden_act="silu",
            tie_word_embeddings=True,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 1_000_000.0,
                "mrope_section": [16, 24, 24],
            },
        ),
        vision=dict(
            depth=32,
            hidden_size=1280,
            intermediate_size=3420,
            num_heads=16,
            in_chans=3,
            hidden_act="silu",
            patch_size=14,
            temporal_patch_size=2,
            spatial_merge_size=2,
            out_hidden_size=2048,
            window_size=112,
            fullatt_block_indexes=[7, 15, 23, 31],
            tokens_per_second=2,
        ),
        top=dict(tie_word_embeddings=True),
    ),
    "smolvlm2": Published(
        "smolvlm2-2.2b",
        "smolvlm2",
        text=dict(
            hidden_size=2048,
            intermediate_size=8192,
            num_hidden_layers=24,
            num_attention_heads=32,
            num_key_value_heads=32,
            head_dim=64,
            vocab_size=49280,
            max_position_embeddings=8192,
            rms_norm_eps=1e-5,
            rope_parameters={"rope_type": "default", "rope_theta": 130000.0},
            tie_word_embeddings=False,
        ),
        vision=dict(
            hidden_size=1152,
            intermediate_size=4304,
            num_hidden_layers=27,
            num_attention_heads=16,
            image_size=384,
            patch_size=14,
        ),
        top=dict(scale_factor=3, tie_word_embeddings=False),
        processor_files={
            "preprocessor_config.json": {
                "max_image_size": {"longest_edge": 384},
                "size": {"longest_edge": 1536},
            },
            "processor_config.json": {"image_seq_len": 81},  # (384 // 14)² / 3²
        },
    ),
}


def perf_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return Path(os.environ.get("PERF_DIR", cache / "sightd-perf"))


_PER_LAYER = ("layer_types", "max_window_layers")
"""Tiny-config keys sized by the tiny layer count: dropped, so the config derives them again."""


def _overlay(config: dict[str, Any], spec: Published) -> dict[str, Any]:
    out = dict(config)
    text = {k: v for k, v in config["text_config"].items() if k not in _PER_LAYER}
    out["text_config"] = {**text, **spec.text}
    out["vision_config"] = {**config["vision_config"], **spec.vision}
    out.update(spec.top)
    return out


def _config(folder: Path, spec: Published) -> Any:
    from transformers import AutoConfig

    data = _overlay(json.loads((folder / "config.json").read_text()), spec)
    (folder / "config.json").write_text(json.dumps(data, indent=2))
    return AutoConfig.from_pretrained(str(folder))


def _printable_ids(folder: Path) -> list[int]:
    """Ids of the tiny tokenizer that decode to printable ASCII text (not special tokens)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    special = {t.content for t in tok.get_added_tokens_decoder().values()}
    keep = []
    for i in range(tok.get_vocab_size()):
        text = tok.decode([i], skip_special_tokens=True)
        if tok.id_to_token(i) in special or not text or not text.isascii():
            continue
        if text.isprintable():
            keep.append(i)
    return keep


def count_params(family: str) -> dict[str, int]:
    """Parameter counts of the published sizes, built on the meta device (no memory)."""
    import torch
    from transformers import AutoModelForImageTextToText

    from sightd.testing.tiny import build_tiny

    spec = PUBLISHED[family]
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_tiny(Path(tmp) / "tiny", family=spec.family)
        config = _config(folder, spec)
        with torch.device("meta"):
            model = AutoModelForImageTextToText.from_config(config)  # type: ignore[no-untyped-call]
    total = sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for n, p in model.named_parameters() if "vision" in n or "visual" in n)
    return {"total": total, "vision": vision}


def full_size_model(family: str = "qwen3-vl", dest: Path | None = None) -> Path:
    """The folder of a full-size random `family` model, built on first use (minutes; ~4–8 GB
    of disk and twice that of memory while building)."""
    spec = PUBLISHED[family]
    dest = dest or perf_dir() / f"{spec.name}-random"
    if (dest / "config.json").is_file() and any(dest.glob("*.safetensors")):
        return dest
    import torch
    from transformers import AutoModelForImageTextToText

    from sightd.testing.tiny import build_tiny, save_quietly

    started = time.perf_counter()
    print(f"building a full-size random {spec.name} in {dest} (once) …", flush=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        work = build_tiny(Path(tmp) / "model", family=spec.family)
        for name, keys in spec.processor_files.items():
            path = work / name
            path.write_text(json.dumps({**json.loads(path.read_text()), **keys}, indent=2))
        config = _config(work, spec)
        keep = _printable_ids(work)
        for weights in work.glob("*.safetensors"):
            weights.unlink()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)  # type: ignore[no-untyped-call]
        with torch.no_grad():
            out = model.get_output_embeddings().weight
            mask = torch.ones(out.shape[0], dtype=torch.bool)
            mask[torch.tensor(keep)] = False
            out[mask] = 0
        generation = (work / "generation_config.json").read_text()
        save_quietly(model, work)
        (work / "generation_config.json").write_text(generation)
        del model
        if dest.exists():
            shutil.rmtree(dest)
        shutil.move(str(work), str(dest))
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=sorted(PUBLISHED), default="qwen3-vl")
    parser.add_argument("--dest", type=Path)
    parser.add_argument("--check", action="store_true", help="parameter counts only")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.check:
        counts = count_params(args.family)
        print(
            f"{PUBLISHED[args.family].name}: {counts['total'] / 1e9:.3f} B parameters, "
            f"vision {counts['vision'] / 1e9:.3f} B"
        )
        return
    print(full_size_model(args.family, args.dest))


if __name__ == "__main__":
    main()
