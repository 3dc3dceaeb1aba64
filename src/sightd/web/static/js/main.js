// The playground: wires the Ask form, the answer view, the Files panel and the model status to
// sightd's Gemini REST API. Untrusted strings reach the DOM only as text (see dom.js).

import { api, eventText, getKey, setKey, streamGenerate } from "./api.js";
import { clipFields, clipOptions, videoMetadata } from "./clip.js";
import { $, h, clear, humanBytes } from "./dom.js";
import { FilesPanel } from "./files.js";
import { InspectView } from "./inspect.js";
import { ModelPanel } from "./model.js";
import { drawSpatial, listItems, parseJson, pretty, spatialItems, withShortMasks } from "./spatial.js";
import { mimeOf, pastedFiles, uploadFile } from "./upload.js";

const state = {
  attachments: [], // {id, kind: "file"|"url", name, mimeType, fileUri, previewUrl, state, ...}
  previews: new Map(), // File resource name → object URL of the bytes picked in this tab
  running: null, // AbortController of the answer being streamed
  counting: null, // AbortController of the pending countTokens
  countTimer: 0,
  nextId: 1,
};

const ui = {};

function showStatus(message, kind = "") {
  ui.status.textContent = message;
  ui.status.className = `status ${kind}`;
}

function showError(err) {
  if (err && err.needsKey) showKeyForm(err);
  showStatus(String(err && err.message !== undefined ? err : "Unexpected error"), "error");
}

// --- API key and model -------------------------------------------------------------------
function showKeyForm(err) {
  ui.keyForm.hidden = false;
  if (err) ui.modelName.textContent = "An API key is needed";
}

async function connect() {
  let body;
  try {
    body = await api.listModels();
  } catch (err) {
    if (err.needsKey) {
      showKeyForm(err);
      showStatus(String(err), "error");
    } else {
      ui.modelName.textContent = "Cannot reach the server";
      showError(err);
    }
    return;
  }
  ui.keyForm.hidden = !getKey();
  showStatus("");
  models.show(body);
  models.poll();
  files.refresh();
  scheduleCount();
}

// --- attachments ---------------------------------------------------------------------------
function isVideo(att) {
  return att.mimeType.startsWith("video/") || /youtu\.?be/i.test(att.fileUri || "");
}

function renderAttachment(att) {
  const preview = att.previewUrl
    ? att.mimeType.startsWith("video/")
      ? h("video", { src: att.previewUrl, muted: true, preload: "metadata", class: "thumb" })
      : h("img", { src: att.previewUrl, alt: "", class: "thumb" })
    : h("span", { class: "thumb thumb-url", "aria-hidden": "true" }, att.kind === "url" ? "URL" : "file");
  att.progressEl = h("progress", { max: Math.max(1, att.size || 1), value: 0, class: "upload-progress", "aria-label": `Upload of ${att.name}` });
  att.progressEl.hidden = att.kind !== "upload";
  att.stateEl = h("span", { class: "state" }, att.state);
  const clip = isVideo(att) ? clipFields(att, scheduleCount, () => reinspect(att)) : null;
  const remove = h("button", { type: "button", class: "remove", "aria-label": `Remove ${att.name}` }, "×");
  remove.addEventListener("click", () => removeAttachment(att));
  att.el = h(
    "li",
    { class: "attachment", "data-id": att.id },
    preview,
    h("div", { class: "att-body" },
      h("span", { class: "att-name" }, att.name),
      h("span", { class: "muted" }, [att.mimeType, att.size ? humanBytes(att.size) : ""].filter(Boolean).join(" · ")),
      att.progressEl,
      clip),
    att.stateEl,
    remove,
  );
  ui.attachments.append(att.el);
}

function setAttState(att, value) {
  att.state = value;
  att.stateEl.textContent = value;
  att.stateEl.className = `state state-${String(value).toLowerCase()}`;
  att.el.dataset.state = value;
}

function removeAttachment(att) {
  if (att.abort) att.abort.abort();
  state.attachments = state.attachments.filter((a) => a !== att);
  att.el.remove();
  scheduleCount();
}

/** Files pasted from the clipboard (a screenshot, a copied image) are added like dropped ones;
 * a paste without files (text into a field) is left alone. */
function onPaste(e) {
  const pasted = pastedFiles(e.clipboardData);
  if (!pasted.length) return;
  e.preventDefault();
  addFiles(pasted);
  showStatus(`Pasted ${pasted.length} file${pasted.length > 1 ? "s" : ""}.`);
}

async function addFiles(fileList) {
  for (const file of Array.from(fileList || [])) {
    const att = {
      id: state.nextId++,
      kind: "upload",
      name: file.name,
      mimeType: mimeOf(file.name, file.type),
      size: file.size,
      previewUrl: URL.createObjectURL(file),
      state: "UPLOADING",
      abort: new AbortController(),
    };
    state.attachments.push(att);
    renderAttachment(att);
    uploadFile(file, {
      signal: att.abort.signal,
      onProgress: (sent) => { att.progressEl.value = sent; },
      onState: (value) => setAttState(att, value),
    }).then(
      (resource) => {
        att.fileUri = resource.uri;
        att.mimeType = resource.mimeType || att.mimeType;
        att.resource = resource.name;
        att.abort = null;
        state.previews.set(resource.name, att.previewUrl);
        setAttState(att, resource.state);
        if (resource.state === "ACTIVE" && isVideo(att)) reinspect(att);
        if (resource.state === "FAILED" && resource.error) showStatus(`${att.name}: ${resource.error.message}`, "error");
        files.refresh();
        scheduleCount();
      },
      (err) => {
        setAttState(att, "FAILED");
        showError(err);
      },
    );
  }
}

function guessUrlMime(url) {
  if (/youtu\.?be/i.test(url)) return "video/*";
  const path = url.split(/[?#]/)[0];
  const type = mimeOf(path, "");
  return type === "application/octet-stream" ? "" : type;
}

function addUrl(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    showStatus("That is not a URL.", "error");
    return;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    showStatus("Only http(s) URLs can be fetched by the server.", "error");
    return;
  }
  const att = { id: state.nextId++, kind: "url", name: parsed.href, mimeType: guessUrlMime(parsed.href), fileUri: parsed.href, state: "ACTIVE" };
  state.attachments.push(att);
  renderAttachment(att);
  setAttState(att, "URL");
  scheduleCount();
}

function attachListed(file) {
  const att = {
    id: state.nextId++,
    kind: "file",
    name: String(file.displayName || file.name),
    mimeType: String(file.mimeType || ""),
    size: Number(file.sizeBytes) || 0,
    fileUri: String(file.uri),
    resource: file.name,
    previewUrl: state.previews.get(file.name) || "",
    state: String(file.state),
  };
  state.attachments.push(att);
  renderAttachment(att);
  setAttState(att, att.state);
  scheduleCount();
}

/** The Settings panel's fps and clip, the default of every video. */
function clipDefaults() {
  return { fps: num("fps"), start: num("clip-start"), end: num("clip-end") };
}

/** Show what the model sees of a video file, sampled as `clip` says ({fps, start, end}). */
function inspectVideo(name, videoUrl, displayName, clip) {
  const options = { ...clip };
  const level = $("media-resolution").value.toLowerCase().replace("media_resolution_", "");
  if (level) options.resolution = level;
  inspector.show(name, options, videoUrl, displayName);
}

/** Inspect an attached video file with its own sampling. */
function reinspect(att) {
  if (att.kind === "url" || att.state !== "ACTIVE" || !att.resource) return;
  inspectVideo(att.resource, att.previewUrl || "", att.name, clipOptions(att, clipDefaults()));
}

function inspectListed(file) {
  const att = state.attachments.find((a) => a.resource === file.name);
  const clip = att ? clipOptions(att, clipDefaults()) : clipDefaults();
  inspectVideo(String(file.name), state.previews.get(file.name) || "", String(file.displayName || file.name), clip);
}

// --- the request ---------------------------------------------------------------------------
function num(id) {
  const raw = $(id).value.trim();
  if (raw === "") return undefined;
  const value = Number(raw);
  return Number.isFinite(value) ? value : undefined;
}

/** The GenerateContentRequest the form describes; throws Error with a message on bad input. */
function buildRequest() {
  const parts = [];
  const defaults = clipDefaults();
  for (const att of state.attachments) {
    if (att.kind !== "url" && att.state !== "ACTIVE") throw new Error(`${att.name} is ${att.state}, not ACTIVE yet.`);
    const fileData = { fileUri: att.fileUri };
    if (att.mimeType && att.mimeType !== "video/*") fileData.mimeType = att.mimeType;
    const part = { fileData };
    const meta = isVideo(att) ? videoMetadata(clipOptions(att, defaults)) : undefined;
    if (meta) part.videoMetadata = meta;
    parts.push(part);
  }
  const prompt = ui.prompt.value;
  if (prompt.trim()) parts.push({ text: prompt });
  if (!parts.length) throw new Error("Write a prompt or attach media first.");
  const request = { contents: [{ role: "user", parts }] };
  if (ui.system.value.trim()) request.systemInstruction = { parts: [{ text: ui.system.value }] };
  const config = {};
  const temperature = num("temperature");
  const maxTokens = num("max-tokens");
  if (temperature !== undefined) config.temperature = temperature;
  if (maxTokens !== undefined) config.maxOutputTokens = Math.trunc(maxTokens);
  if ($("media-resolution").value) config.mediaResolution = $("media-resolution").value;
  const responseType = $("response-type").value;
  if (responseType) {
    config.responseMimeType = responseType;
    const schema = parseSchema();
    if (schema !== undefined) config[$("schema-kind").value] = schema;
  }
  if (Object.keys(config).length) request.generationConfig = config;
  return request;
}

function parseSchema() {
  const text = ui.schema.value.trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`The schema is not valid JSON: ${err.message}`);
  }
}

function checkSchema() {
  try {
    parseSchema();
    ui.schemaError.textContent = "";
    ui.schema.removeAttribute("aria-invalid");
  } catch (err) {
    ui.schemaError.textContent = err.message;
    ui.schema.setAttribute("aria-invalid", "true");
  }
}

function onResponseType() {
  const type = $("response-type").value;
  if (type === "text/x.enum" && !ui.schema.value.trim()) {
    ui.schema.value = JSON.stringify({ type: "STRING", enum: ["yes", "no", "maybe"] }, null, 2);
    $("schema-kind").value = "responseSchema";
  }
  checkSchema();
  scheduleCount();
}

// --- countTokens -------------------------------------------------------------------------
function scheduleCount() {
  clearTimeout(state.countTimer);
  if (state.counting) state.counting.abort(); // its answer would describe an older form
  state.counting = null;
  delete ui.tokenCount.dataset.tokens; // set again once the count matches the form
  ui.tokenCount.classList.add("stale");
  state.countTimer = setTimeout(countNow, 400);
}

async function countNow() {
  if (!models.model) return;
  let request;
  try {
    request = buildRequest();
  } catch {
    ui.tokenCount.textContent = "";
    return;
  }
  if (state.counting) state.counting.abort();
  const controller = new AbortController();
  state.counting = controller;
  try {
    const body = await api.countTokens(models.model, request, controller.signal);
    if (state.counting !== controller) return;
    ui.tokenCount.textContent = `Prompt: ${body.totalTokens} tokens`;
    ui.tokenCount.dataset.tokens = String(body.totalTokens);
    ui.tokenCount.classList.remove("stale");
  } catch (err) {
    if (err.name === "AbortError" || state.counting !== controller) return;
    ui.tokenCount.textContent = `Tokens: ${err.message}`;
  }
}

// --- answering ---------------------------------------------------------------------------
function resetAnswer() {
  clear(ui.answer);
  ui.answer.className = "answer";
  ui.viewer.hidden = true;
  clear(ui.stage);
  clear(ui.legend);
  delete ui.stage.dataset.drawn;
  ui.raw.hidden = true;
  ui.rawText.textContent = "";
  ui.usage.textContent = "";
  delete ui.answer.dataset.kind;
}

async function send() {
  if (state.running) return;
  let request;
  try {
    request = buildRequest();
  } catch (err) {
    showStatus(err.message, "error");
    return;
  }
  if (!models.model) {
    showStatus("No model yet: is the server reachable?", "error");
    return;
  }
  resetAnswer();
  const controller = new AbortController();
  state.running = controller;
  ui.send.disabled = true;
  ui.stop.disabled = false;
  showStatus("Generating…", "busy");
  let text = "";
  let usage = null;
  let finish = "";
  try {
    await streamGenerate(models.model, request, (event) => {
      const delta = eventText(event);
      if (delta) {
        text += delta;
        ui.answer.append(document.createTextNode(delta));
      }
      if (event.usageMetadata) usage = event.usageMetadata;
      const candidate = Array.isArray(event.candidates) ? event.candidates[0] : null;
      if (candidate && candidate.finishReason) finish = String(candidate.finishReason);
    }, controller.signal);
    showStatus(finish ? `Done (${finish}).` : "Done.");
  } catch (err) {
    if (err.name === "AbortError") showStatus("Stopped.");
    else showError(err);
  } finally {
    state.running = null;
    ui.send.disabled = false;
    ui.stop.disabled = true;
  }
  if (usage) {
    ui.usage.textContent =
      `Usage: prompt ${usage.promptTokenCount ?? "?"} + answer ${usage.candidatesTokenCount ?? 0}` +
      ` = ${usage.totalTokenCount ?? "?"} tokens`;
  }
  await renderFinal(text, request);
  ui.answer.dataset.done = "1";
}

function imageForSpatial(request) {
  const uris = new Set(request.contents[0].parts.filter((p) => p.fileData).map((p) => p.fileData.fileUri));
  return state.attachments.find((a) => uris.has(a.fileUri) && a.previewUrl && a.mimeType.startsWith("image/"));
}

async function renderFinal(text, request) {
  const value = parseJson(text);
  if (value === undefined) {
    const wantedJson = request.generationConfig && request.generationConfig.responseMimeType === "application/json";
    if (wantedJson && text) showStatus(`${ui.status.textContent} The answer is not valid JSON; shown as text.`);
    ui.answer.dataset.kind = "text";
    inspector.linkTimes(ui.answer);
    return;
  }
  ui.rawText.textContent = text;
  ui.raw.hidden = false;
  const items = spatialItems(value);
  ui.answer.textContent = pretty(items ? withShortMasks(value) : value);
  ui.answer.className = "answer json";
  ui.answer.dataset.kind = items ? "spatial" : "json";
  if (!items || !items.length) return;
  ui.viewer.hidden = false;
  const att = imageForSpatial(request);
  $("opacity-row").hidden = true;
  if (!att) {
    ui.stage.append(h("p", { class: "muted" }, "No local preview of this image: boxes are listed in 0–1000."));
    listItems(ui.legend, items);
    ui.stage.dataset.drawn = "0";
    return;
  }
  const img = h("img", { class: "stage-image", alt: `The image: ${att.name}` });
  img.src = att.previewUrl;
  try {
    await img.decode();
  } catch {
    ui.stage.append(h("p", { class: "muted" }, "The browser cannot show this image; boxes are listed below."));
    listItems(ui.legend, items);
    ui.stage.dataset.drawn = "0";
    return;
  }
  $("opacity-row").hidden = !items.some((item) => item.mask);
  await drawSpatial({ stage: ui.stage, legend: ui.legend, opacity: ui.opacity }, img, items);
}

// --- start ---------------------------------------------------------------------------------
let files;
let inspector;
let models;

function init() {
  for (const id of ["status", "answer", "viewer", "stage", "legend", "opacity", "raw", "usage", "prompt", "system", "schema", "send", "stop", "attachments"]) {
    ui[id] = $(id);
  }
  Object.assign(ui, {
    rawText: $("raw-text"),
    schemaError: $("schema-error"),
    tokenCount: $("token-count"),
    keyForm: $("key-form"),
    modelName: $("model-name"),
  });
  inspector = new InspectView();
  models = new ModelPanel({ onLoaded: scheduleCount, onError: showError });
  files = new FilesPanel({ onAttach: attachListed, onInspect: inspectListed, onError: showError });

  const input = $("file-input");
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = "";
  });
  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    document.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
  }
  document.addEventListener("dragleave", (e) => {
    if (!e.relatedTarget) drop.classList.remove("over");
  });
  document.addEventListener("drop", (e) => {
    e.preventDefault(); // a missed drop must not navigate away from the page
    drop.classList.remove("over");
    if (e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
  });
  document.addEventListener("paste", onPaste);
  $("url-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const field = $("url-input");
    if (field.value.trim()) addUrl(field.value.trim());
    field.value = "";
  });
  ui.keyForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const field = $("api-key");
    setKey(field.value.trim());
    field.value = "";
    connect();
  });
  $("key-forget").addEventListener("click", () => {
    setKey("");
    showKeyForm(null);
  });
  ui.send.addEventListener("click", send);
  ui.stop.addEventListener("click", () => state.running && state.running.abort());
  ui.prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send();
  });
  for (const id of ["prompt", "system", "fps", "clip-start", "clip-end", "media-resolution", "schema-kind"]) {
    $(id).addEventListener("input", scheduleCount);
  }
  ui.schema.addEventListener("input", () => {
    checkSchema();
    scheduleCount();
  });
  $("response-type").addEventListener("change", onResponseType);

  performance.mark("sightd-interactive");
  document.documentElement.dataset.ready = "1";
  connect();
}

init();
