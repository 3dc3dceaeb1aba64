"""Spatial understanding: model-native boxes and masks → Gemini's `box_2d` form.

Owns the conversions between each model family's grounding output and what Gemini clients
expect: a bare JSON list of `{"box_2d": [ymin, xmin, ymax, xmax], "label": ...}` (integers,
0–1000 of the oriented original image), plus `mask` (a PNG probability map as a data URL,
cropped to the box) for segmentation.

- `detections`: the validated `Box1000` / `Detection` types and the Gemini JSON writer;
- `boxes`: geometry (pixels, normalised and native frames ↔ 0–1000, y-first);
- `parse`: total parsers of model text (Qwen3-VL, Qwen2.5-VL, Florence-2, PaliGemma): garbage
  in, empty list and a log line out;
- `native`: per-family prompts and constrained-decoding schemas for native grounding;
- `intent`: whether a prompt asks for boxes or masks, and of what;
- `select`: which detector boxes to answer with (threshold, best guesses, de-duplication);
- `masks`: probability maps → cropped grayscale PNG data URLs.

No torch here: the detector and segmenter models live in `sightd.engine.transformers`.
"""
