"""Convert a (tiny) Hugging Face VLM folder to GGUF for llama.cpp's `llama-server`.

Runs the `convert_hf_to_gguf.py` vendored in the `llama-cpp-python` sdist (fetched and unpacked
by `build_llama_server.sh --source`) twice: once for the language model, once with `--mmproj`
for the vision projector. It runs under the project venv's interpreter (torch, transformers,
safetensors, numpy, pyyaml, tqdm and requests are all there already); the vendored `gguf-py` is
put on PYTHONPATH, nothing is installed anywhere.

The tiny models' tokenizer is a locally trained byte-level BPE whose pre-tokenizer is exactly
Qwen2's (same Split regex + ByteLevel), but its token ids differ, so the converter's
"chkhsh" fingerprint (a sha256 of the token ids of a fixed probe text) is unknown and it raises
`NotImplementedError("BPE pre-tokenizer was not recognized ...")`. The converter has no command
line override, so a small wrapper imports it, and when -- and only when -- the fingerprint is
unknown, answers `tokenizer.ggml.pre = "qwen2"` if `tokenizer.json`'s pre_tokenizer is
structurally Qwen2's (or whatever `SIGHTD_GGUF_TOKENIZER_PRE` names). It also makes the
SentencePiece probe fail with FileNotFoundError when there is no tokenizer.model, so the
`sentencepiece` package is not needed, and widens the mmproj tensor-name map so a vision tower
with fewer blocks than projector layers (2 < `merger.mlp.2`) converts. The vendored files are
not modified.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BUILD_SCRIPT = Path(__file__).with_name("build_llama_server.sh")

# Runs inside the converter's process: argv = [src_dir, model_dir, *converter args].
_WRAPPER = r"""
import json, logging, os, sys
src = sys.argv[1]
sys.path[:0] = [src, os.path.join(src, "gguf-py")]
import convert_hf_to_gguf
from conversion.base import TextModel

QWEN2_REGEX = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
               " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")

def structural_pre(model_dir):
    forced = os.environ.get("SIGHTD_GGUF_TOKENIZER_PRE")
    if forced:
        return forced
    try:
        with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
            pre = json.load(f).get("pre_tokenizer") or {}
    except OSError:
        return None
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    regex = [s.get("pattern", {}).get("Regex") for s in steps if s.get("type") == "Split"]
    if kinds == ["Split", "ByteLevel"] and regex == [QWEN2_REGEX] \
            and steps[1].get("use_regex") is False:
        return "qwen2"
    return None

_orig = TextModel.get_vocab_base_pre

def get_vocab_base_pre(self, tokenizer):
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)          # silence the big "not recognized" banner
    try:
        return _orig(self, tokenizer)
    except NotImplementedError:
        res = structural_pre(self.dir_model)
        if res is None:
            raise
        print(f"[gguf.py] unknown BPE fingerprint; tokenizer.json pre_tokenizer is {res!r}'s, "
              f"writing tokenizer.ggml.pre={res!r}", file=sys.stderr)
        return res
    finally:
        root.setLevel(level)

TextModel.get_vocab_base_pre = get_vocab_base_pre

# Qwen2VLModel.set_vocab tries SentencePiece first and only catches FileNotFoundError, but
# `import sentencepiece` comes before the file check (ModuleNotFoundError without the package).
# Without a tokenizer.model there is nothing for SentencePiece to read: fail the way it expects.
_orig_spm = TextModel._create_vocab_sentencepiece

def _create_vocab_sentencepiece(self):
    path = self.dir_model / "tokenizer.model"
    if not path.is_file():
        raise FileNotFoundError(f"File not found: {path}")
    return _orig_spm(self)

TextModel._create_vocab_sentencepiece = _create_vocab_sentencepiece

# The tensor-name map only knows block ids < block_count, and the projector tensors are named by
# block id too (Qwen2.5-VL's `visual.merger.mlp.2.*` -> mm.2): with a 2-block tiny vision tower
# `mlp.2` "can not be mapped". A wider map only adds names; the written block count is unchanged.
from conversion.base import MmprojModel, gguf
_orig_mmproj_init = MmprojModel.__init__

def _mmproj_init(self, *args, **kwargs):
    _orig_mmproj_init(self, *args, **kwargs)
    if self.block_count < 32:
        self.tensor_map = gguf.get_tensor_name_map(self.model_arch, 32)

MmprojModel.__init__ = _mmproj_init
sys.argv = ["convert_hf_to_gguf.py", *sys.argv[2:]]
convert_hf_to_gguf.main()
"""


def llama_cpp_source() -> Path:
    """The unpacked llama.cpp tree (downloads the sdist on first use)."""
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--source"], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def _python() -> str:
    venv_python = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def _convert(src: Path, model_dir: Path, outfile: Path, *extra: str) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(src), str(src / "gguf-py")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [
        _python(),
        "-c",
        _WRAPPER,
        str(src),
        str(model_dir),
        "--outtype",
        "f32",
        "--outfile",
        str(outfile),
        *extra,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not outfile.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise RuntimeError(
            f"convert_hf_to_gguf.py {' '.join(extra)} failed for {model_dir} "
            f"(exit {proc.returncode}):\n{tail}"
        )


def convert_to_gguf(model_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """Convert `model_dir` to `(out_dir/model.gguf, out_dir/mmproj.gguf)` (both f32)."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    src = llama_cpp_source()
    model, mmproj = out_dir / "model.gguf", out_dir / "mmproj.gguf"
    _convert(src, model_dir, model)
    _convert(src, model_dir, mmproj, "--mmproj")
    return model, mmproj
