// The Files API's resumable upload, as the SDKs speak it: a `start` request returns an upload
// URL, the bytes follow in chunks (XMLHttpRequest, for upload progress), the last one with
// `upload, finalize`; then the File is polled until it leaves PROCESSING.

import { ApiError, api, authHeaders, envelopeError, errorFrom } from "./api.js";

const DEFAULT_CHUNK = 8 * 1024 * 1024;
const MAX_DISPLAY_NAME = 512;

const EXTENSION_TYPES = {
  jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp",
  heic: "image/heic", heif: "image/heif", gif: "image/gif",
  mp4: "video/mp4", mov: "video/mov", webm: "video/webm", mpeg: "video/mpeg", mpg: "video/mpg",
  avi: "video/avi", flv: "video/x-flv", wmv: "video/wmv", "3gp": "video/3gpp",
};

/** The MIME type of a picked file (browsers leave some empty, e.g. HEIC). */
export function mimeOf(name, type = "") {
  if (type) return type;
  const ext = String(name).toLowerCase().split(".").pop();
  return EXTENSION_TYPES[ext] || "application/octet-stream";
}

/** Same-origin path of an absolute upload URL (the CSP allows only this server). */
function sameOrigin(url) {
  const parsed = new URL(url, location.href);
  return parsed.pathname + parsed.search;
}

function sendChunk(url, blob, offset, last, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("X-Goog-Upload-Command", last ? "upload, finalize" : "upload");
    xhr.setRequestHeader("X-Goog-Upload-Offset", String(offset));
    xhr.upload.onprogress = (e) => onProgress(offset + e.loaded);
    xhr.onload = () => {
      let body = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({ status: xhr.getResponseHeader("x-goog-upload-status"), body });
      } else {
        reject(envelopeError(body, xhr.status, xhr.statusText));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, "UNAVAILABLE", "network error during upload"));
    xhr.onabort = () => reject(new ApiError(0, "CANCELLED", "upload cancelled"));
    if (signal) signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(blob);
  });
}

/**
 * Upload `file` (a File or Blob with a name): `onProgress(sentBytes)` as bytes go out,
 * `onState(state)` with UPLOADING, then the File's PROCESSING / ACTIVE / FAILED. Resolves to the
 * File resource once it is ACTIVE or FAILED.
 */
export async function uploadFile(file, { onProgress = () => {}, onState = () => {}, signal } = {}) {
  const mimeType = mimeOf(file.name, file.type);
  onState("UPLOADING");
  onProgress(0);
  const start = await fetch("upload/v1beta/files", {
    method: "POST",
    headers: authHeaders({
      "Content-Type": "application/json",
      "X-Goog-Upload-Protocol": "resumable",
      "X-Goog-Upload-Command": "start",
      "X-Goog-Upload-Header-Content-Length": String(file.size),
      "X-Goog-Upload-Header-Content-Type": mimeType,
    }),
    body: JSON.stringify({ file: { displayName: String(file.name).slice(0, MAX_DISPLAY_NAME) } }),
    signal,
    credentials: "omit",
  });
  if (!start.ok) throw await errorFrom(start);
  const uploadUrl = start.headers.get("x-goog-upload-url");
  if (!uploadUrl) throw new ApiError(500, "INTERNAL", "the server gave no upload URL");
  const granularity = Number(start.headers.get("x-goog-upload-chunk-granularity")) || DEFAULT_CHUNK;
  const url = sameOrigin(uploadUrl);
  let offset = 0;
  let reply = null;
  do {
    const end = Math.min(file.size, offset + granularity);
    const last = end >= file.size;
    reply = await sendChunk(url, file.slice(offset, end), offset, last, onProgress, signal);
    offset = end;
    onProgress(offset);
  } while (offset < file.size);
  let resource = reply.body && reply.body.file;
  if (!resource) throw new ApiError(500, "INTERNAL", "the upload finished without a File");
  onState(resource.state);
  for (let i = 0; resource.state === "PROCESSING" && i < 600; i += 1) {
    await new Promise((r) => setTimeout(r, i < 10 ? 500 : 2000));
    if (signal && signal.aborted) throw new ApiError(0, "CANCELLED", "cancelled");
    resource = await api.getFile(resource.name);
    onState(resource.state);
  }
  return resource;
}

/** The files in a paste's clipboardData (none for pasted text); a clipboard image without a name
 * (a screenshot) is named `pasted-N.<subtype>`. */
export function pastedFiles(data) {
  if (!data) return [];
  let files = Array.from(data.files || []);
  if (!files.length) {
    files = Array.from(data.items || []).filter((i) => i.kind === "file").map((i) => i.getAsFile()).filter(Boolean);
  }
  return files.map((file, i) => {
    if (file.name) return file;
    const ext = (file.type.split("/")[1] || "bin").replace(/[^a-z0-9]/gi, "");
    return new File([file], `pasted-${i + 1}.${ext}`, { type: file.type });
  });
}
