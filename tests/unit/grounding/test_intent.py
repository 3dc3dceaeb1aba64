"""Which prompts are spatial, what they ask for, and the plan GenerateService acts on."""

from __future__ import annotations

import pytest
from PIL import Image

from sightd.engine.base import ChoiceOutput, JsonOutput, SamplingParams
from sightd.grounding.intent import spatial_request
from sightd.grounding.native import native_for
from sightd.prompt import ImagePart, Prompt, TextPart, Turn
from sightd.services.spatial import plan_spatial

PAGE_DETECT = (
    "Detect the all of the prominent items in the image. The box_2d should be "
    "[ymin, xmin, ymax, xmax] normalized to 0-1000."
)
PAGE_SEGMENT = """
  Give the segmentation masks for the wooden and glass items.
  Output a JSON list of segmentation masks where each entry contains the 2D
  bounding box in the key "box_2d", the segmentation mask in key "mask", and
  the text label in the key "label". Use descriptive labels.
  """


@pytest.mark.parametrize(
    ("text", "task", "target", "phrases", "instructions"),
    [
        (PAGE_DETECT, "detect", "", (), ""),
        (
            "Show bounding boxes of all green objects in this image",
            "detect",
            "green objects",
            ("green objects",),
            "",
        ),
        (
            "Detect the items on the table and label the items with the allergens they can "
            "contain.",
            "detect",
            "items on the table",
            ("items on the table",),
            "Label the items with the allergens they can contain",
        ),
        (
            PAGE_SEGMENT,
            "segment",
            "wooden and glass items",
            ("wooden items", "glass items"),
            "Use descriptive labels.",
        ),
        (
            "Locate the red car and the blue truck.",
            "detect",
            "red car and the blue truck",
            ("red car", "blue truck"),
            "",
        ),
        (
            "Detect cats, dogs and horses.",
            "detect",
            "cats, dogs and horses",
            ("cats", "dogs", "horses"),
            "",
        ),
        (
            "Segment the person on the left",
            "segment",
            "person on the left",
            ("person on the left",),
            "",
        ),
        ("Draw bounding boxes around every cupcake", "detect", "cupcake", ("cupcake",), ""),
        ("Return box_2d for everything.", "detect", "", (), ""),
    ],
)
def test_spatial_requests(
    text: str, task: str, target: str, phrases: tuple[str, ...], instructions: str
) -> None:
    request = spatial_request(text)
    assert request is not None
    assert (request.task, request.target, request.phrases, request.instructions) == (
        task,
        target,
        phrases,
        instructions,
    )
    assert request.generic == (not phrases)


@pytest.mark.parametrize(
    "text",
    [
        "Caption this image.",
        "What is the mask made of?",
        "Can you detect sarcasm in this sign?",
        "What is different between these two images?",
        "Describe the bounding of the river",
        "",
    ],
)
def test_plain_questions_are_not_spatial(text: str) -> None:
    assert spatial_request(text) is None


def _image() -> ImagePart:
    return ImagePart(Image.new("RGB", (64, 48)), (640, 480))


def _prompt(*parts: object, earlier: tuple[Turn, ...] = ()) -> Prompt:
    return Prompt((*earlier, Turn("user", tuple(parts))))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prompt", "params", "mode", "task"),
    [
        (_prompt(_image(), TextPart(PAGE_DETECT)), SamplingParams(), "auto", "detect"),
        (  # JSON mode without a schema, text before the image (the segmentation seed)
            _prompt(TextPart(PAGE_SEGMENT), _image()),
            SamplingParams(constraint=JsonOutput(None)),
            "auto",
            "segment",
        ),
        (  # the image in an earlier turn, the ask in the last one
            _prompt(
                TextPart("Show bounding boxes of the cups"),
                earlier=(
                    Turn("user", (_image(), TextPart("What is this?"))),
                    Turn("model", (TextPart("A table."),)),
                ),
            ),
            SamplingParams(),
            "detector",
            "detect",
        ),
        (_prompt(_image(), TextPart("Caption this image.")), SamplingParams(), "auto", None),
        (_prompt(_image(), TextPart(PAGE_DETECT)), SamplingParams(), "off", None),
        (_prompt(_image(), _image(), TextPart(PAGE_DETECT)), SamplingParams(), "auto", None),
        (_prompt(TextPart(PAGE_DETECT)), SamplingParams(), "auto", None),  # no image
        (  # the caller's own schema wins
            _prompt(_image(), TextPart(PAGE_DETECT)),
            SamplingParams(constraint=JsonOutput('{"type":"array"}')),
            "auto",
            None,
        ),
        (
            _prompt(_image(), TextPart(PAGE_DETECT)),
            SamplingParams(constraint=ChoiceOutput(("a", "b"))),
            "auto",
            None,
        ),
        (Prompt(()), SamplingParams(), "auto", None),
    ],
)
def test_plan_spatial(prompt: Prompt, params: SamplingParams, mode: str, task: str | None) -> None:
    plan = plan_spatial(prompt, params, mode)
    assert (plan.request.task if plan else None) == task
    if plan:
        assert plan.image.source_size_px == (640, 480)


def test_plan_spatial_is_total() -> None:
    broken = Prompt(None)  # type: ignore[arg-type]
    assert plan_spatial(broken, SamplingParams()) is None


def test_native_prompts_and_grammars() -> None:
    request = spatial_request(PAGE_SEGMENT)
    assert request is not None
    qwen3 = native_for("qwen3-vl")
    qwen25 = native_for("qwen2.5-vl")
    assert qwen3 is not None and qwen25 is not None and native_for("smolvlm2") is None
    text = qwen3.prompt(request)
    assert (
        "wooden and glass items" in text and "bbox_2d" in text and "Use descriptive labels." in text
    )
    assert "prominent object" in qwen3.prompt(spatial_request(PAGE_DETECT))  # type: ignore[arg-type]
    coords = qwen3.schema((644, 476), 7)
    assert coords["maxItems"] == 7
    assert coords["items"]["properties"]["bbox_2d"]["items"]["maximum"] == 1000
    assert qwen25.schema((644, 476), 7)["items"]["properties"]["bbox_2d"]["items"]["maximum"] == 644
