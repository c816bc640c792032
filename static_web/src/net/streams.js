// @ts-check
// The stream storage endpoints (protocol.md, "Storage"), as thin calls: the streamer's
// uploads, with the owner key in `Authorization: Bearer` (never in a URL), and the join
// state a watcher (or a resuming streamer) reads. What to send and what an answer means is
// decided by the pure cores (core/history.js, core/join.js).
/** @import { UploadResult } from "../core/history.js" */
import { API_BASE } from "../config.js";

const streamUrl = (/** @type {string} */ streamId, base = API_BASE) => `${base}/api/streams/${encodeURIComponent(streamId)}`;

/** The `{"error": {"code"}}` of an answer body, or null (protocol.md, "Refusals"). */
const errorCode = (/** @type {any} */ body) => (typeof body?.error?.code === "string" ? /** @type {string} */ (body.error.code) : null);

/**
 * POST a keyframe or segment; never throws: a request that did not complete is status 0.
 * @param {object} o
 * @param {string} o.streamId
 * @param {string} o.ownerKey
 * @param {"keyframes" | "segments"} o.kind
 * @param {unknown} o.body
 * @param {boolean} [o.keepalive]  the page is going: the request outlives it
 * @param {string} [o.base]  the API's origin (the build's by default; the bench's Node driver names it)
 * @returns {Promise<UploadResult>}
 */
export async function uploadHistory({ streamId, ownerKey, kind, body, keepalive = false, base = API_BASE }) {
  let res;
  try {
    res = await fetch(`${streamUrl(streamId, base)}/${kind}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ownerKey}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
      keepalive,
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    return { status: 0 };
  }
  /** @type {any} */
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON: the status says enough */
  }
  const seconds = Number(res.headers.get("Retry-After"));
  /** @type {UploadResult} */
  const result = { status: res.status };
  const code = errorCode(data);
  if (code) result.code = code;
  if (Number.isFinite(seconds) && seconds > 0) result.retryAfterMs = seconds * 1000;
  const head = data?.head;
  if (head && typeof head.epoch === "string" && Number.isInteger(head.v)) result.head = { epoch: head.epoch, v: head.v };
  return result;
}

/**
 * GET the join state: the parsed answer, or null when nothing is stored or it could not be
 * read (the caller then joins without it). The browser revalidates (`no-cache`, ETag).
 * @param {string} streamId
 * @param {{ signal?: AbortSignal, base?: string, onBytes?: (n: number) => void }} [options]
 *   onBytes: the answer's size on the wire (its Content-Length), for the bench
 * @returns {Promise<unknown>}
 */
export async function loadJoinState(streamId, { signal, base = API_BASE, onBytes } = {}) {
  try {
    const res = await fetch(streamUrl(streamId, base), { credentials: "omit", signal });
    onBytes?.(Number(res.headers.get("Content-Length") ?? 0));
    if (res.status !== 200) return null;
    return await res.json();
  } catch {
    return null;
  }
}

/** Where the recording's download (JSON Lines) is. */
export const recordingDownloadUrl = (/** @type {string} */ streamId, base = API_BASE) => `${streamUrl(streamId, base)}/recording.jsonl`;

/**
 * DELETE the recording with the owner key (in `Authorization`, never in the URL); never
 * throws: the status (204 done, 0 no answer) and the error code, if any.
 * @param {{ streamId: string, ownerKey: string, base?: string }} o
 * @returns {Promise<{ status: number, code?: string }>}
 */
export async function deleteRecording({ streamId, ownerKey, base = API_BASE }) {
  try {
    const res = await fetch(streamUrl(streamId, base), {
      method: "DELETE",
      headers: { Authorization: `Bearer ${ownerKey}` },
      credentials: "omit",
      cache: "no-store",
    });
    if (res.status === 204) return { status: 204 };
    /** @type {any} */
    const data = await res.json().catch(() => null);
    const code = errorCode(data);
    return code ? { status: res.status, code } : { status: res.status };
  } catch {
    return { status: 0 };
  }
}

/**
 * A recording read (protocol.md, "Replay"): the index or one blob, as `{status, body}`;
 * never throws (a request that did not complete is status 0, a body that is not JSON null).
 * The index revalidates (`no-cache`); blobs are immutable and cached by the browser.
 * @param {string} streamId
 * @param {string | null} name  a blob name from the index, or null for the index itself
 * @param {{ base?: string }} [options]
 * @returns {Promise<{ status: number, body: unknown, code: string | null }>}
 */
export async function readRecording(streamId, name, { base = API_BASE } = {}) {
  const url = name === null ? `${streamUrl(streamId, base)}/recording` : `${streamUrl(streamId, base)}/blobs/${name}`;
  let res;
  try {
    res = await fetch(url, { credentials: "omit", cache: name === null ? "no-cache" : "default" });
  } catch {
    return { status: 0, body: null, code: null };
  }
  /** @type {any} */
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON: the status says enough */
  }
  const code = res.status === 200 ? null : errorCode(body);
  return { status: res.status, body: res.status === 200 ? body : null, code };
}
