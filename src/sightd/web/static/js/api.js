// A small client of sightd's Gemini REST API, relative to the page (so it works under any
// --path-prefix): the API key from sessionStorage in `x-goog-api-key`, errors as ApiError.

const KEY_STORAGE = "sightd.apiKey";
const VERSION = "v1beta";

export class ApiError extends Error {
  constructor(code, status, message, reason = "") {
    super(message);
    this.code = code;
    this.status = status;
    this.reason = reason;
  }

  /** The key is missing or wrong: ask the user for one. */
  get needsKey() {
    return this.code === 401 || this.reason === "API_KEY_INVALID" || this.reason === "API_KEY_MISSING";
  }

  toString() {
    return this.status ? `${this.status}: ${this.message}` : this.message;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

export function authHeaders(extra = {}) {
  const key = getKey();
  return key ? { "x-goog-api-key": key, ...extra } : { ...extra };
}

/** An ApiError from a Gemini error envelope (or whatever the body is). */
export async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return envelopeError(body, response.status, response.statusText);
}

export function envelopeError(body, code = 500, fallback = "error") {
  const err = body && typeof body === "object" ? body.error : null;
  if (err && typeof err === "object") {
    const details = Array.isArray(err.details) ? err.details : [];
    const info = details.find((d) => d && typeof d.reason === "string");
    return new ApiError(
      Number(err.code) || code,
      String(err.status || ""),
      String(err.message || fallback),
      info ? info.reason : "",
    );
  }
  return new ApiError(code, "", `HTTP ${code} ${fallback}`);
}

export async function call(method, path, body = undefined, signal = undefined) {
  const headers = authHeaders(body === undefined ? {} : { "Content-Type": "application/json" });
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    credentials: "omit",
  });
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

export const api = {
  listModels: () => call("GET", `${VERSION}/models?pageSize=100`),
  modelStatus: () => call("GET", "web/model.json"),
  countTokens: (model, request, signal) =>
    call("POST", `${VERSION}/${model}:countTokens`, { generateContentRequest: { model, ...request } }, signal),
  async listFiles() {
    const files = [];
    let token = "";
    for (let page = 0; page < 20; page += 1) {
      const query = `pageSize=100${token ? `&pageToken=${encodeURIComponent(token)}` : ""}`;
      const body = await call("GET", `${VERSION}/files?${query}`);
      files.push(...(Array.isArray(body.files) ? body.files : []));
      token = body.nextPageToken || "";
      if (!token) break;
    }
    return files;
  },
  getFile: (name) => call("GET", `${VERSION}/${fileName(name)}`),
  deleteFile: (name) => call("DELETE", `${VERSION}/${fileName(name)}`),
};

/** `files/abc` from a File resource name; anything else is refused. */
function fileName(name) {
  if (!/^files\/[a-z0-9-]{1,40}$/.test(name)) throw new ApiError(400, "INVALID_ARGUMENT", `bad file name ${name}`);
  return name;
}

/**
 * streamGenerateContent?alt=sse: calls `onEvent(json)` per event; resolves when the stream ends.
 * An `{"error": …}` event (an error after the stream started) rejects with its ApiError.
 */
export async function streamGenerate(model, request, onEvent, signal) {
  const response = await fetch(`${VERSION}/${model}:streamGenerateContent?alt=sse`, {
    method: "POST",
    headers: authHeaders({ "Content-Type": "application/json" }),
    body: JSON.stringify(request),
    signal,
    credentials: "omit",
  });
  if (!response.ok) throw await errorFrom(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const flush = (block) => {
    const data = block
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trimStart())
      .join("\n");
    if (!data) return;
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return; // a garbled event is skipped, never fatal
    }
    if (event && event.error) throw envelopeError(event, 500);
    onEvent(event);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const blocks = buffer.split(/\r?\n\r?\n/);
    buffer = blocks.pop();
    for (const block of blocks) flush(block);
  }
  buffer += decoder.decode();
  if (buffer.trim()) flush(buffer);
}

/** The text of an event's first candidate (thought parts left out). */
export function eventText(event) {
  const candidate = event && Array.isArray(event.candidates) ? event.candidates[0] : null;
  const parts = candidate && candidate.content && Array.isArray(candidate.content.parts) ? candidate.content.parts : [];
  return parts
    .filter((p) => p && typeof p.text === "string" && !p.thought)
    .map((p) => p.text)
    .join("");
}
