// DOM helpers that cannot inject markup: strings only ever become text nodes.

const SVG_NS = "http://www.w3.org/2000/svg";

/** `h("li", {class: "x"}, "text", child)`: attributes are set one by one (never `on*`), string
 * children become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** The same in the SVG namespace. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (/^on/i.test(name)) throw new Error(`refusing event attribute ${name}`);
    el.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

export function clear(el) {
  el.replaceChildren();
}

/** 1536 → "1.5 KB". */
export function humanBytes(n) {
  const size = Number(n);
  if (!Number.isFinite(size)) return "?";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = size;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i += 1;
  }
  return `${i === 0 ? value : value.toFixed(1)} ${units[i]}`;
}

/** "in 47 h" / "in 12 min" / "expired" for an RFC 3339 time. */
export function relativeTime(iso, now = Date.now()) {
  const when = Date.parse(iso);
  if (!Number.isFinite(when)) return "";
  const minutes = Math.round((when - now) / 60000);
  if (minutes <= 0) return "expired";
  if (minutes < 120) return `in ${minutes} min`;
  return `in ${Math.round(minutes / 60)} h`;
}
