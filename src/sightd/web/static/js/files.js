// The Files panel: files.list (name, type, size, state, expiry), delete (two clicks), attach.

import { api } from "./api.js";
import { $, h, clear, humanBytes, relativeTime } from "./dom.js";

const CONFIRM_MS = 4000;

export class FilesPanel {
  /** `onAttach(file)` adds a listed File to the prompt; `onInspect(file)` shows what the model
   * sees of a video; `onError(err)` reports a failure. */
  constructor({ onAttach, onInspect, onError }) {
    this.body = $("files").querySelector("tbody");
    this.status = $("files-status");
    this.onAttach = onAttach;
    this.onInspect = onInspect;
    this.onError = onError;
    $("files-refresh").addEventListener("click", () => this.refresh());
  }

  async refresh() {
    this.status.textContent = "Loading…";
    let files;
    try {
      files = await api.listFiles();
    } catch (err) {
      this.status.textContent = "";
      this.onError(err);
      return;
    }
    clear(this.body);
    for (const file of files) this.body.append(this.row(file));
    this.status.textContent = files.length ? `${files.length} file${files.length === 1 ? "" : "s"}` : "No files yet.";
  }

  row(file) {
    const name = file.displayName || file.name;
    const state = h("span", { class: `state state-${String(file.state).toLowerCase()}` }, String(file.state || ""));
    const expires = h("span", { title: String(file.expirationTime || "") }, relativeTime(file.expirationTime));
    const attach = h("button", { type: "button", class: "attach", "aria-label": `Attach ${name}` }, "Attach");
    attach.disabled = file.state !== "ACTIVE";
    attach.addEventListener("click", () => this.onAttach(file));
    const inspect = h("button", { type: "button", class: "inspect", "aria-label": `Inspect ${name}` }, "Inspect");
    inspect.hidden = !String(file.mimeType || "").startsWith("video/");
    inspect.disabled = file.state !== "ACTIVE";
    inspect.addEventListener("click", () => this.onInspect(file));
    const del = h("button", { type: "button", class: "delete", "aria-label": `Delete ${name}` }, "Delete");
    let armed = 0;
    del.addEventListener("click", async () => {
      if (!armed) {
        del.textContent = "Confirm delete";
        del.classList.add("armed");
        armed = setTimeout(() => {
          armed = 0;
          del.textContent = "Delete";
          del.classList.remove("armed");
        }, CONFIRM_MS);
        return;
      }
      clearTimeout(armed);
      del.disabled = true;
      try {
        await api.deleteFile(file.name);
        tr.remove();
        this.status.textContent = `Deleted ${name}.`;
      } catch (err) {
        del.disabled = false;
        this.onError(err);
      }
    });
    const tr = h(
      "tr",
      { "data-name": file.name },
      h("td", { class: "file-name" }, h("span", { class: "display-name" }, name), h("br"), h("small", { class: "muted" }, file.name)),
      h("td", {}, String(file.mimeType || "")),
      h("td", {}, humanBytes(file.sizeBytes)),
      h("td", {}, state),
      h("td", {}, expires),
      h("td", { class: "actions" }, attach, " ", inspect, " ", del),
    );
    return tr;
  }
}
