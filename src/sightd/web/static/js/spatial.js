// Spatial answers: Gemini's `[{"box_2d": [ymin, xmin, ymax, xmax], "label", "mask"?}]` (0-1000,
// y first) parsed totally (garbage → not spatial), drawn as SVG over the image in its own pixels.

import { h, s, clear } from "./dom.js";

const PALETTE = [
  "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
  "#42d4f4", "#f032e6", "#9a6324", "#469990", "#800000",
];
const MASK_URL = /^data:image\/png;base64,[A-Za-z0-9+/]+={0,2}$/;
const MASK_THRESHOLD = 127;

/** Keeps an integer literal beyond 2^53 as written (JSON.stringify emits it unchanged) instead
 * of the nearest double: the page shows the model's answer, not a rounded copy of it. */
function exactIntegers(_key, value, context) {
  if (
    typeof value === "number" &&
    !Number.isSafeInteger(value) &&
    context && typeof context.source === "string" && /^-?\d+$/.test(context.source) &&
    typeof JSON.rawJSON === "function"
  ) {
    return JSON.rawJSON(context.source);
  }
  return value;
}

/** The JSON inside an answer: bare, or in a ```json fence; `undefined` when it is not JSON. */
export function parseJson(text) {
  const trimmed = String(text).trim();
  const fenced = /^```(?:json)?\s*\n?([\s\S]*?)\n?```$/i.exec(trimmed);
  try {
    return JSON.parse(fenced ? fenced[1] : trimmed, exactIntegers);
  } catch {
    return undefined;
  }
}

/** Valid items of a spatial answer, or null when `value` is not one. Invalid items are dropped. */
export function spatialItems(value) {
  const list = Array.isArray(value) ? value : value && Array.isArray(value.items) ? value.items : null;
  if (!list) return null;
  const items = [];
  for (const raw of list) {
    if (!raw || typeof raw !== "object" || !Array.isArray(raw.box_2d) || raw.box_2d.length !== 4) continue;
    const box = raw.box_2d.map(Number);
    if (!box.every(Number.isFinite)) continue;
    const label = typeof raw.label === "string" ? raw.label : raw.label === undefined ? "" : String(raw.label);
    const mask = typeof raw.mask === "string" && MASK_URL.test(raw.mask) ? raw.mask : null;
    items.push({ box, label, mask });
  }
  return items.length || list.length === 0 ? items : null;
}

const clamp = (v) => Math.min(1000, Math.max(0, v));

/** `box_2d` (y first, 0-1000) → {x0, y0, x1, y1} pixels of a width × height image, the way the
 * docs' examples convert (`int(v / 1000 * size)`). */
export function toPixels(box, width, height) {
  const [ya, xa, yb, xb] = box.map(clamp);
  const [y0, y1] = ya <= yb ? [ya, yb] : [yb, ya];
  const [x0, x1] = xa <= xb ? [xa, xb] : [xb, xa];
  return {
    x0: Math.trunc((x0 / 1000) * width),
    y0: Math.trunc((y0 / 1000) * height),
    x1: Math.trunc((x1 / 1000) * width),
    y1: Math.trunc((y1 / 1000) * height),
  };
}

/** One colour per distinct label, in order of first appearance. */
export function colours(items) {
  const byLabel = new Map();
  for (const item of items) {
    if (!byLabel.has(item.label)) byLabel.set(item.label, PALETTE[byLabel.size % PALETTE.length]);
  }
  return byLabel;
}

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("mask did not decode"));
    img.src = src;
  });
}

/** The mask's probability map resized to the box, thresholded and coloured, as a PNG data URL. */
async function colourMask(maskUrl, width, height, colour) {
  const img = await loadImage(maskUrl);
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, width);
  canvas.height = Math.max(1, height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const [r, g, b] = hexToRgb(colour);
  const data = pixels.data;
  for (let i = 0; i < data.length; i += 4) {
    const on = data[i] > MASK_THRESHOLD;
    data[i] = r;
    data[i + 1] = g;
    data[i + 2] = b;
    data[i + 3] = on ? 255 : 0;
  }
  ctx.putImageData(pixels, 0, 0);
  return canvas.toDataURL("image/png");
}

/** The legend: one button per item (label, colour, box); hovering or focusing it calls
 * `highlight(index, on)`. Returns the buttons. */
export function listItems(legend, items, palette = colours(items), highlight = () => {}) {
  clear(legend);
  return items.map((item, index) => {
    const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.backgroundColor = palette.get(item.label);
    const button = h(
      "button",
      { type: "button", class: "legend-item", "data-index": index },
      swatch,
      h("span", { class: "legend-label" }, item.label || "(no label)"),
      h("span", { class: "muted" }, ` [${item.box.join(", ")}]`),
    );
    for (const [event, on] of [["mouseenter", true], ["mouseleave", false], ["focus", true], ["blur", false]]) {
      button.addEventListener(event, () => highlight(index, on));
    }
    legend.append(h("li", {}, button));
    return button;
  });
}

/**
 * Draw `items` over `image` (an <img> whose natural size is the picture's own, EXIF rotation
 * applied) inside `stage`, list them in `legend`; `opacity` is the mask-opacity slider.
 * Returns a promise that settles once every mask is drawn.
 */
export function drawSpatial({ stage, legend, opacity }, image, items) {
  clear(stage);
  clear(legend);
  const width = image.naturalWidth;
  const height = image.naturalHeight;
  const svg = s("svg", {
    id: "overlay",
    class: "overlay",
    viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: "none",
    "aria-hidden": "true",
    "data-width": width,
    "data-height": height,
  });
  const masks = s("g", { class: "masks", opacity: opacity.value });
  const boxes = s("g", { class: "boxes" });
  svg.append(masks, boxes);
  stage.append(image, svg);
  const palette = colours(items);
  const fontSize = Math.max(10, Math.round(Math.max(width, height) / 45));
  const groups = [];
  const entries = [];
  const pending = [];

  const highlight = (index, on) => {
    groups[index].classList.toggle("hl", on);
    entries[index].classList.toggle("hl", on);
    svg.classList.toggle("has-hl", on);
  };
  entries.push(...listItems(legend, items, palette, highlight));

  items.forEach((item, index) => {
    const colour = palette.get(item.label);
    const { x0, y0, x1, y1 } = toPixels(item.box, width, height);
    const group = s("g", { class: "det", "data-index": index });
    const rect = s("rect", {
      class: "box",
      x: x0, y: y0, width: x1 - x0, height: y1 - y0,
      stroke: colour, fill: "none", "stroke-width": 2, "vector-effect": "non-scaling-stroke",
      "data-index": index,
    });
    const text = s("text", {
      class: "label", x: x0 + 2, y: Math.max(fontSize, y0 - 3), fill: colour,
      "font-size": fontSize, stroke: "#fff", "stroke-width": Math.max(1, fontSize / 6),
      "paint-order": "stroke",
    }, item.label);
    group.append(rect, text);
    boxes.append(group);
    groups.push(group);
    group.addEventListener("mouseenter", () => highlight(index, true));
    group.addEventListener("mouseleave", () => highlight(index, false));

    if (item.mask) {
      const placeholder = s("image", {
        class: "mask", x: x0, y: y0, width: x1 - x0, height: y1 - y0,
        preserveAspectRatio: "none", "data-index": index,
      });
      masks.append(placeholder);
      pending.push(
        colourMask(item.mask, x1 - x0, y1 - y0, colour).then(
          (url) => placeholder.setAttribute("href", url),
          () => placeholder.remove(),
        ),
      );
    }
  });
  const sync = () => masks.setAttribute("opacity", opacity.value);
  opacity.oninput = sync;
  return Promise.all(pending).then(() => {
    stage.dataset.drawn = String(items.length);
  });
}

/** Swap each long mask data URL for a short note, so the JSON stays readable. */
export function withShortMasks(value) {
  if (!Array.isArray(value)) return value;
  return value.map((item) =>
    item && typeof item === "object" && typeof item.mask === "string" && item.mask.length > 80
      ? { ...item, mask: `${item.mask.slice(0, 40)}… (${item.mask.length} chars)` }
      : item,
  );
}

/** JSON.stringify with 2-space indents, arrays of numbers (boxes, points) kept on one line.
 * Strings never hold a raw newline in JSON text, so only real layout is collapsed. */
export function pretty(value) {
  return JSON.stringify(value, null, 2).replace(
    /\[\n\s*(-?[\d.eE+-]+(?:,\n\s*-?[\d.eE+-]+)*)\n\s*\]/g,
    (_, numbers) => `[${numbers.split(/,\n\s*/).join(", ")}]`,
  );
}
