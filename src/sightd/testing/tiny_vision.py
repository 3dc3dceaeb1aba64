"""Tiny random-weight OWLv2 detector and SAM 2.1 segmenter, built offline in about a second.

Like `tiny`, they let tests and CI run the real load and inference path (config.json →
transformers classes, processor files) with no hub. Two choices make the random models
behave like usable fixtures:
- OWLv2's tokenizer puts its special tokens at the end of the vocabulary, as CLIP's does:
  the model treats a query whose first token id is 0 as padding;
- OWLv2 is initialised with a small `initializer_factor`, so its box head starts near zero
  and every patch predicts the prior box around itself, instead of degenerate boxes.
"""

from __future__ import annotations

import json
from pathlib import Path

from sightd.testing.tiny import save_quietly, write_json
from sightd.testing.tiny_tokenizers import CORPUS

_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
_IMAGENET_MEAN = [0.485, 0.456, 0.406]
_IMAGENET_STD = [0.229, 0.224, 0.225]


def _clip_tokenizer(dest: Path) -> dict[str, int]:
    """A CLIPTokenizer (lower-cased BPE with `</w>` word ends) trained on the tiny corpus."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    pipeline = CLIPTokenizer().backend_tokenizer  # CLIP's normaliser and pre-tokeniser
    tok = Tokenizer(
        models.BPE(continuing_subword_prefix="", end_of_word_suffix="</w>", unk_token=None)
    )
    tok.normalizer = pipeline.normalizer
    tok.pre_tokenizer = pipeline.pre_tokenizer
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
    )
    tok.train_from_iterator(CORPUS.lower().splitlines(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    start = max(vocab.values()) + 1
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = start, start + 1
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    clip = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=16)  # type: ignore[arg-type]
    clip.save_pretrained(str(dest))
    return vocab


def build_tiny_owlv2(dest: Path, seed: int = 0) -> Path:
    """Write a tiny random OWLv2 (128 px input, 16 px patches: 64 boxes) into `dest`."""
    import torch
    from transformers import Owlv2Config, Owlv2ForObjectDetection

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    vocab = _clip_tokenizer(dest)
    side = 128
    config = Owlv2Config(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": side,
            "patch_size": 16,
        },
        projection_dim=32,
        initializer_factor=0.05,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Owlv2ForObjectDetection(config)
    save_quietly(model, dest)
    write_json(
        dest / "preprocessor_config.json",
        {
            "image_processor_type": "Owlv2ImageProcessor",
            "processor_class": "Owlv2Processor",
            "do_normalize": True,
            "do_pad": True,
            "do_rescale": True,
            "do_resize": True,
            "image_mean": _CLIP_MEAN,
            "image_std": _CLIP_STD,
            "resample": 2,
            "rescale_factor": 1 / 255,
            "size": {"height": side, "width": side},
        },
    )
    write_json(dest / "processor_config.json", {"processor_class": "Owlv2Processor"})
    return dest


def build_tiny_sam2(dest: Path, seed: int = 0) -> Path:
    """Write a tiny random SAM 2.1 (128 px input, 32 px low-res masks) into `dest`."""
    import torch
    from transformers import Sam2Config, Sam2Model

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    side = 128
    config = Sam2Config(
        vision_config={
            "backbone_config": {
                "model_type": "sam2_hiera_det_model",
                "hidden_size": 16,
                "num_attention_heads": 1,
                "image_size": [side, side],
                # A global-attention block that opens a stage divides by zero: use [1,2,2,1]/[4].
                "blocks_per_stage": [1, 2, 2, 1],
                "embed_dim_per_stage": [16, 32, 64, 128],
                "num_attention_heads_per_stage": [1, 1, 2, 2],
                "window_size_per_stage": [8, 4, 4, 4],
                "global_attention_blocks": [4],
                "window_positional_embedding_background_size": [4, 4],
            },
            "backbone_channel_list": [128, 64, 32, 16],
            "backbone_feature_sizes": [[side // 4] * 2, [side // 8] * 2, [side // 16] * 2],
            "fpn_hidden_size": 32,
        },
        prompt_encoder_config={
            "hidden_size": 32,
            "image_size": side,
            "patch_size": 16,
            "mask_input_channels": 4,
        },
        mask_decoder_config={
            "hidden_size": 32,
            "mlp_dim": 64,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": 32,
        },
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Sam2Model(config)
    save_quietly(model, dest)
    write_json(
        dest / "preprocessor_config.json",
        {
            "image_processor_type": "Sam2ImageProcessorFast",
            "image_mean": _IMAGENET_MEAN,
            "image_std": _IMAGENET_STD,
            "mask_size": {"height": side // 4, "width": side // 4},
            "size": {"height": side, "width": side},
        },
    )
    return dest
