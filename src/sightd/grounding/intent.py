"""Does a prompt ask for boxes or masks, and of what? Pure text rules, table-tested.

Gemini answers spatial prompts ("Detect the prominent items... box_2d ...", "Show bounding
boxes of all green objects", "Give the segmentation masks for the wooden and glass items")
with its own JSON. Open models must be asked in their own words, so the prompt is split into:

- the task: `segment` (segmentation / masks), `detect` (box_2d, bounding boxes, an imperative
  detect/locate), or none — plain questions that merely mention a mask or detecting are not
  spatial requests;
- the target phrase ("green objects", "wooden and glass items"), or generic ("prominent
  items", "everything") when no particular kind of object is named;
- instructions to keep ("Label the items with the allergens they can contain.").
Sentences about the output format (box_2d, JSON, normalised coordinates, keys) are dropped:
sightd produces that format itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Task = Literal["detect", "segment"]

_SEGMENT = re.compile(r"\bsegment(?:ation|ations|s|ed)?\b|[\"'`]mask[\"'`]", re.IGNORECASE)
_DETECT = re.compile(
    r"\bbox_2d\b|\bbounding[\s_-]*box(?:es)?\b|\bbbox(?:es|_2d)?\b"
    r"|(?:^|[.!?\n:]\s*)(?:please\s+)?(?:detect|locate)\b",
    re.IGNORECASE,
)
_FORMAT_SENTENCE = re.compile(
    r"box_2d|bbox|\bjson\b|normali[sz]ed|0\s*-\s*1000|\[\s*y|\bkeys?\b|\bymin\b|\bxmin\b"
    r"|\bcoordinates\b|\bformat\b|\boutput\b",
    re.IGNORECASE,
)
_LABEL_CLAUSE = re.compile(r"\band\s+(label\b.*?)[.!]?$", re.IGNORECASE)
_INSTRUCTION = re.compile(r"^\s*(?:please\s+)?(?:label|use\b.*\blabels?\b|name)\b", re.I)
_TARGET_PATTERNS = (
    re.compile(
        r"\b(?:bounding[\s_-]*box(?:es)?|boxes|bbox(?:es)?|segmentation\s+masks?|masks?)"
        r"\s+(?:of|for|around|on|to)\s+(?P<t>[^.;:!?\n]+)",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:detect|locate|find|segment|identify|outline|highlight|box)\s+(?P<t>[^.;:!?\n]+)",
        re.IGNORECASE,
    ),
)
_TRAILING = re.compile(
    r"\s+(?:in|on|from|within|of)\s+(?:this|the|that|my|an?)\s+"
    r"(?:image|picture|photo|photograph|scene|frame|shot|img)\b.*$"
    r"|\s+(?:that|which|you)\s+(?:can|could|are|is)\b.*$"
    r"|\s+(?:with|and\s+(?:give|output|return|label|provide))\s+.*$",
    re.IGNORECASE,
)
_LEADING = re.compile(
    r"^(?:(?:all|each|every|any|some|the|a|an|of|these|those|visible|of\s+the)\s+)+",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"\s*,\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+|\s*&\s*|\s*/\s*")
GENERIC_WORDS = frozenset(
    """all every each any the of in this image picture photo prominent main key notable
    visible salient important major primary distinct different individual separate other
    various interesting relevant objects object items item things thing stuff everything
    entities entity elements element instances instance regions region""".split()  # noqa: SIM905
)
MAX_TARGETS = 16
# The vocabulary an open-vocabulary detector is asked for when the prompt names no kind of
# object ("Detect the prominent items"): the 80 COCO categories.
COMMON_OBJECTS = tuple(
    word.replace("_", " ")
    for word in """person bicycle car motorcycle airplane bus train truck boat traffic_light
    fire_hydrant stop_sign parking_meter bench bird cat dog horse sheep cow elephant bear zebra
    giraffe backpack umbrella handbag tie suitcase frisbee skis snowboard sports_ball kite
    baseball_bat baseball_glove skateboard surfboard tennis_racket bottle wine_glass cup fork
    knife spoon bowl banana apple sandwich orange broccoli carrot hot_dog pizza donut cake chair
    couch potted_plant bed dining_table toilet tv laptop mouse remote keyboard cell_phone
    microwave oven toaster sink refrigerator book clock vase scissors teddy_bear hair_drier
    toothbrush""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class SpatialRequest:
    """What a spatial prompt asks for, in words a grounding model or a detector can take."""

    task: Task
    target: str  # the object phrase as written ("green objects"), or "" when generic
    phrases: tuple[str, ...]  # the target split into detector queries; () when generic
    instructions: str  # sentences to pass on (labelling), format sentences removed

    @property
    def generic(self) -> bool:
        return not self.phrases


def spatial_task(text: str) -> Task | None:
    """`segment`, `detect` or None for the user's text."""
    if _SEGMENT.search(text):
        return "segment"
    if _DETECT.search(text):
        return "detect"
    return None


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip() for p in parts if p.strip()]


def _clean_target(raw: str) -> str:
    target = _TRAILING.sub("", raw.strip())
    previous = None
    while previous != target:
        previous = target
        target = _LEADING.sub("", target).strip(" ,\"'`")
    return target


def _phrases(target: str) -> tuple[str, ...]:
    """Detector queries: "wooden and glass items" → ("wooden items", "glass items")."""
    parts = [_LEADING.sub("", p.strip(" ,\"'`")) for p in _SPLIT.split(target)]
    parts = [p for p in parts if p]
    if len(parts) > 1 and all(" " not in p for p in parts[:-1]) and " " in parts[-1]:
        head = parts[-1].rsplit(" ", 1)[1]
        parts = [f"{p} {head}" for p in parts[:-1]] + [parts[-1]]
    return tuple(dict.fromkeys(parts))[:MAX_TARGETS]


def _is_generic(target: str) -> bool:
    words = re.findall(r"[a-z]+", target.lower())
    return all(w in GENERIC_WORDS for w in words)


def spatial_request(text: str) -> SpatialRequest | None:
    """The spatial request in `text`, or None when it asks for no boxes or masks."""
    task = spatial_task(text)
    if task is None:
        return None
    instructions: list[str] = []
    target = ""
    for sentence in _sentences(text):
        if _INSTRUCTION.match(sentence):
            instructions.append(sentence)
            continue
        if _FORMAT_SENTENCE.search(sentence) and not target_in(sentence):
            continue
        clause = _LABEL_CLAUSE.search(sentence)
        if clause:
            instructions.append(clause.group(1)[0].upper() + clause.group(1)[1:])
        if not target:
            target = target_in(sentence)
    if _is_generic(target):
        target = ""
    phrases = _phrases(target) if target else ()
    return SpatialRequest(task, target, phrases, " ".join(instructions))


def target_in(sentence: str) -> str:
    """The object phrase a sentence names ("Show bounding boxes of all green objects" →
    "green objects"), or "" when it names none."""
    for pattern in _TARGET_PATTERNS:
        match = pattern.search(sentence)
        if match:
            target = _clean_target(match.group("t"))
            if target and not re.search(r"box_2d|\bjson\b|\bkeys?\b", target, re.I):
                return target
    return ""
