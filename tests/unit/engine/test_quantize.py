"""`dtype: int8`: the text model's Linear layers int8-quantized, vision left float32."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sightd.engine.base import SamplingParams
from sightd.errors import InvalidArgument
from sightd.prompt import ImagePart, Prompt, TextPart, Turn

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

PROMPT = Prompt(
    (
        Turn(
            "user",
            (ImagePart(Image.new("RGB", (64, 48), (200, 30, 30)), (64, 48)), TextPart("What?")),
        ),
    )
)


@pytest.mark.parametrize("family", ["qwen3-vl", "qwen2.5-vl", "smolvlm2"])
def test_int8_quantizes_the_text_model_only_and_generates(
    tiny_dirs: dict[str, Path], family: str
) -> None:
    from sightd.engine.transformers.backend import TransformersBackend
    from sightd.engine.transformers.quantize import is_quantized_linear

    backend = TransformersBackend(tiny_dirs[family], dtype="int8", device="cpu")
    model: Any = backend._model
    decoder = model.get_decoder()
    text = [m for m in decoder.modules() if is_quantized_linear(m)]
    assert text, "no quantized Linear in the text model"
    assert not any(type(m) is torch.nn.Linear for m in decoder.modules())
    assert is_quantized_linear(model.get_output_embeddings())
    # Everything else (vision encoder, projector) keeps float32 Linear layers.
    in_text = {id(m) for m in decoder.modules()} | {id(model.get_output_embeddings())}
    rest = [m for m in model.modules() if id(m) not in in_text]
    assert any(type(m) is torch.nn.Linear for m in rest)
    assert not any(is_quantized_linear(m) for m in rest)
    assert model.get_input_embeddings().weight.dtype == torch.float32
    assert backend.info.extras["dtype"] == "int8"

    done = backend.generate(PROMPT, SamplingParams(max_output_tokens=5, temperature=0))
    assert done.output_tokens == 5 and done.finish_reason == "MAX_TOKENS"
    assert (
        done.text
        == backend.generate(PROMPT, SamplingParams(max_output_tokens=5, temperature=0)).text
    )


def test_int8_is_cpu_only() -> None:
    from sightd.engine.transformers.device import quantizes, resolve_dtype

    assert resolve_dtype("int8", torch.device("cpu")) == "auto"  # the checkpoint's own
    assert quantizes("int8", torch.device("cpu"))
    assert not quantizes("float32", torch.device("cpu"))
    with pytest.raises(InvalidArgument):
        resolve_dtype("int8", torch.device("cuda"))
    with pytest.raises(InvalidArgument):
        resolve_dtype("int4", torch.device("cpu"))


def test_quantizes_a_bfloat16_checkpoint_into_float32_and_int8(tiny_dirs: dict[str, Path]) -> None:
    """Real checkpoints are bfloat16: each Linear is quantized from its own weights and the
    rest is widened, so no whole float32 copy is ever built."""
    from transformers import AutoModelForImageTextToText

    from sightd.engine.transformers.quantize import is_quantized_linear, quantize_text_model

    model: Any = AutoModelForImageTextToText.from_pretrained(
        str(tiny_dirs["qwen3-vl"]), dtype=torch.bfloat16
    ).eval()
    linears = sum(type(m) is torch.nn.Linear for m in model.get_decoder().modules()) + 1
    assert quantize_text_model(model) == linears
    assert is_quantized_linear(model.get_output_embeddings())
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    with torch.inference_mode():
        out = model.generate(input_ids=torch.tensor([[1, 2, 3]]), max_new_tokens=3, do_sample=False)
    assert out.shape == (1, 6)
