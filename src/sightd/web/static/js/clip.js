// Per-video sampling: each video attachment carries its own fps and clip start/end, sent as that
// part's `videoMetadata`. A field left empty falls back to the Settings panel's value.

import { h } from "./dom.js";

const FIELDS = [
  // [key, label, input attributes]
  ["fps", "fps", { min: "0.01", max: "24", step: "0.01" }],
  ["start", "start s", { min: "0", step: "0.1" }],
  ["end", "end s", { min: "0", step: "0.1" }],
];

function value(input) {
  const raw = input ? input.value.trim() : "";
  if (raw === "") return undefined;
  const number = Number(raw);
  return Number.isFinite(number) ? number : undefined;
}

/** The fps / start / end fields of one video attachment (kept on `att.clip`; empty means the
 * Settings' value); `onInput` runs on every edit, `onChange` once an edit is committed. */
export function clipFields(att, onInput, onChange) {
  att.clip = {};
  const row = h("fieldset", { class: "clip" }, h("legend", { class: "visually-hidden" }, `Sampling of ${att.name}`));
  for (const [key, label, attrs] of FIELDS) {
    const input = h("input", {
      type: "number",
      inputmode: "decimal",
      class: `clip-${key}`,
      placeholder: "default",
      "aria-label": `${label} for ${att.name}`,
      ...attrs,
    });
    input.addEventListener("input", onInput);
    input.addEventListener("change", onChange);
    att.clip[key] = input;
    row.append(h("label", { class: "clip-field" }, label, input));
  }
  return row;
}

/** This video's sampling: its own fields over `defaults` ({fps, start, end}, each optional). */
export function clipOptions(att, defaults) {
  const own = att.clip || {};
  const options = {};
  for (const [key] of FIELDS) {
    const v = value(own[key]);
    const chosen = v !== undefined ? v : defaults[key];
    if (chosen !== undefined) options[key] = chosen;
  }
  return options;
}

/** Gemini's `videoMetadata` for these options, or undefined when none is set. */
export function videoMetadata(options) {
  const meta = {};
  if (options.fps !== undefined) meta.fps = options.fps;
  if (options.start !== undefined) meta.startOffset = `${options.start}s`;
  if (options.end !== undefined) meta.endOffset = `${options.end}s`;
  return Object.keys(meta).length ? meta : undefined;
}
