"""Which detector boxes to answer with: threshold, best guesses, de-duplication, cap.

An open-vocabulary detector scores every candidate box against every query. Answering only
boxes over a confidence threshold would often answer `[]` for a clear photo whose objects the
detector scores modestly, which is unhelpful for a "detect the items" prompt. The policy:

1. keep every box scoring at least `threshold`;
2. if fewer than `best_guesses` boxes are kept, add the next best ones scoring at least `floor`
   (the model's best guesses rather than nothing; below the floor nothing is kept);
3. drop boxes overlapping a better-scoring one with the same label (IoU > `iou_limit`);
4. answer at most `max_items`, best first.
"""

from __future__ import annotations

from collections.abc import Sequence

from sightd.grounding.boxes import iou
from sightd.grounding.detections import Detection

BEST_GUESSES = 3
FLOOR = 0.02
IOU_LIMIT = 0.5


def select(
    candidates: Sequence[Detection],
    *,
    threshold: float,
    max_items: int,
    best_guesses: int = BEST_GUESSES,
    floor: float = FLOOR,
    iou_limit: float = IOU_LIMIT,
) -> list[Detection]:
    """Apply the policy above to scored candidates (unscored ones count as score 0)."""
    ranked = sorted(candidates, key=lambda d: d.score or 0.0, reverse=True)
    kept: list[Detection] = []
    for cand in ranked:
        score = cand.score or 0.0
        if score < floor or len(kept) >= max_items:
            break
        if score < threshold and len(kept) >= best_guesses:
            break
        if any(k.label == cand.label and iou(k.box, cand.box) > iou_limit for k in kept):
            continue
        kept.append(cand)
    return kept
