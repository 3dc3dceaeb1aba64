// "What the model sees" of a video: `POST web/inspect` (the code path of `sightd inspect`) drawn
// as a strip of frames at their MM:SS, the transcript at its times and the video itself; MM:SS
// times in an answer become buttons that seek that video. Text only ever becomes text nodes.

import { call } from "./api.js";
import { $, h, clear } from "./dom.js";

// 1:05, 01:05, 12:34:56 is left alone (hours are not how Gemini writes times).
const TIME = /(?<![\d:])(\d{1,3}):([0-5]\d)(?![\d:])/g;

export function inspectFile(body) {
  return call("POST", "web/inspect", body);
}

export class InspectView {
  constructor() {
    this.panel = $("inspect-panel");
    this.status = $("inspect-status");
    this.video = $("inspect-video");
    this.strip = $("strip");
    this.transcript = $("transcript");
    this.header = $("inspect-header");
    this.tokens = $("inspect-tokens");
    this.request = 0;
  }

  /** Whether a video is shown that answer times can seek. */
  get active() {
    return !this.panel.hidden && Boolean(this.video.getAttribute("src"));
  }

  seek(seconds) {
    if (!this.active || !Number.isFinite(seconds)) return;
    this.video.currentTime = seconds;
    this.video.dataset.sought = String(seconds);
    this.video.scrollIntoView({ block: "nearest" });
  }

  /** Inspect `file` (`files/<id>`) with these options; `videoUrl` is the picked file's blob URL
   * ("" when this tab has no copy of the bytes). */
  async show(file, options, videoUrl, displayName) {
    const ticket = ++this.request;
    this.panel.hidden = false;
    delete this.panel.dataset.ready;
    this.status.textContent = `Inspecting ${displayName}…`;
    this.status.className = "status busy";
    let body;
    try {
      body = await inspectFile({ file, ...options });
    } catch (err) {
      if (ticket !== this.request) return;
      this.status.textContent = String(err.message || err);
      this.status.className = "status error";
      this.panel.dataset.ready = "error";
      return;
    }
    if (ticket !== this.request) return;
    this.render(body, videoUrl);
  }

  render(body, videoUrl) {
    const frames = Array.isArray(body.frames) ? body.frames : [];
    const speech = Array.isArray(body.transcript) ? body.transcript : [];
    this.status.textContent = `${String(body.name || "")}: ${frames.length} frames, ${Number(body.totalTokens) || 0} prompt tokens`;
    this.status.className = "status";
    this.header.textContent = String(body.header || "");
    const modalities = body.tokensByModality && typeof body.tokensByModality === "object" ? body.tokensByModality : {};
    this.tokens.textContent = Object.entries(modalities).map(([m, n]) => `${m} ${Number(n)}`).join(" · ");
    if (videoUrl) {
      this.video.src = videoUrl;
      this.video.hidden = false;
    } else {
      this.video.removeAttribute("src");
      this.video.hidden = true;
    }
    clear(this.strip);
    for (const frame of frames) {
      const seconds = Number(frame.timeSeconds);
      const img = h("img", { alt: `Frame at ${String(frame.mmss)}`, width: frame.width, height: frame.height });
      if (typeof frame.image === "string" && frame.image.startsWith("data:image/jpeg;base64,")) img.src = frame.image;
      const time = this.timeButton(String(frame.mmss), seconds);
      this.strip.append(h("li", { class: "frame", "data-seconds": seconds }, img, time));
    }
    clear(this.transcript);
    for (const seg of speech) {
      const seconds = Number(seg.startSeconds);
      this.transcript.append(
        h("li", { class: "speech", "data-seconds": seconds }, this.timeButton(String(seg.mmss), seconds), " ", String(seg.text || "")),
      );
    }
    this.panel.dataset.ready = "1";
  }

  timeButton(label, seconds) {
    const button = h("button", { type: "button", class: "seek", "data-seconds": seconds, "aria-label": `Play from ${label}` }, label);
    button.addEventListener("click", () => this.seek(seconds));
    return button;
  }

  /** Rewrite `el`'s text with every MM:SS as a button that seeks the video (text nodes only). */
  linkTimes(el) {
    if (!this.active) return 0;
    const text = el.textContent;
    const pieces = [];
    let last = 0;
    let found = 0;
    for (const match of text.matchAll(TIME)) {
      if (match.index > last) pieces.push(text.slice(last, match.index));
      const seconds = Number(match[1]) * 60 + Number(match[2]);
      pieces.push(this.timeButton(match[0], seconds));
      last = match.index + match[0].length;
      found += 1;
    }
    if (!found) return 0;
    if (last < text.length) pieces.push(text.slice(last));
    clear(el);
    for (const piece of pieces) el.append(piece instanceof Node ? piece : document.createTextNode(piece));
    return found;
  }
}
