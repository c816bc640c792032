// @ts-check
// Markers and the "Record this stream" setting, the streamer's side (protocol.md, "Replay"),
// pure: the label check the server makes (codestream/markers.py, same vectors), the list of
// markers this page dropped with how each one fared, the setting's transitions and the embed
// code. StreamerState sends a marker both ways (a live control event and a segment control);
// this module decides nothing about the wire.
import { LIMITS } from "./contract.js";

/**
 * Refused in a label: C0, DEL, C1, U+2028/U+2029, bidi embeddings/overrides/isolates, and
 * lone surrogates (checked separately: a regex over code points sees them as one unit).
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/**
 * The label as the server keeps it, or why it is refused (the server's code and a sentence
 * for the streamer).
 * @param {unknown} raw
 * @param {{ markerChars: number }} [limits]
 * @returns {{ ok: true, label: string } | { ok: false, code: "bad_schema" | "too_large", message: string }}
 */
export function checkLabel(raw, limits = LIMITS) {
  if (typeof raw !== "string") return { ok: false, code: "bad_schema", message: "A marker label is text." };
  const label = raw.trim();
  if (!label) return { ok: false, code: "bad_schema", message: "Give the marker a label." };
  const points = [...label];
  if (points.length > limits.markerChars) {
    return { ok: false, code: "too_large", message: `A marker label has at most ${limits.markerChars} characters (this one has ${points.length}).` };
  }
  if (FORBIDDEN.test(label) || points.some((p) => p.length === 1 && p.charCodeAt(0) >= 0xd800 && p.charCodeAt(0) <= 0xdfff)) {
    return { ok: false, code: "bad_schema", message: "A marker label cannot hold line breaks, control or text-direction characters." };
  }
  return { ok: true, label };
}

/**
 * @typedef {"queued" | "sent" | "refused" | "not sent"} LiveState
 *   queued: waits for a connection; not sent: the send failed (storage still has it)
 * @typedef {{ n: number, label: string, at: number, live: LiveState, error?: string }} Marker
 *   n counts this page's markers from 1; `at` wall-clock ms when it was dropped
 */

/**
 * The markers this page dropped. Each goes live exactly once: queued while offline, handed
 * out once when a connection is up (the client's own retries keep its ackId, which the service
 * deduplicates), never handed out again whatever happens to that send.
 */
export class MarkerList {
  constructor() {
    /** @type {Marker[]} */
    this.items = [];
  }

  /** The default label of the next marker. */
  get nextLabel() {
    return `Marker ${this.items.length + 1}`;
  }

  /** A new marker (its label already checked); returns it. */
  add(/** @type {number} */ at, /** @type {string} */ label) {
    /** @type {Marker} */
    const m = { n: this.items.length + 1, label, at, live: "queued" };
    this.items.push(m);
    return m;
  }

  /** The queued markers, now marked as handed out: send each once. */
  takeQueued() {
    const out = this.items.filter((m) => m.live === "queued");
    for (const m of out) m.live = "sent";
    return out;
  }

  /** How a live send ended (a refusal carries the server's message). */
  settled(/** @type {number} */ n, /** @type {{ refused?: boolean, error?: string } | null} */ failure) {
    const m = this.items[n - 1];
    if (!m || m.live !== "sent" || !failure) return;
    m.live = failure.refused ? "refused" : "not sent";
    if (failure.error) m.error = failure.error;
  }
}

/**
 * The "Record this stream" setting: what a change asks for. Turning it off discards the
 * recording so far (the server prunes to the new keyframe), so it needs the streamer's
 * confirmation; turning it on needs none. Either way a keyframe carries the new value.
 * @param {boolean} current
 * @param {boolean} wanted
 * @returns {{ change: false } | { change: true, confirm: string | null }}
 */
export function recordChange(current, wanted) {
  if (current === wanted) return { change: false };
  return {
    change: true,
    confirm: wanted ? null : "Stop recording? The recording so far will be discarded: storage keeps only the latest document, so late joiners can still join. Markers are kept.",
  };
}

const escapeAttr = (/** @type {string} */ s) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

/**
 * The HTML a site pastes to embed the stream: the embed page, lazily loaded, full width,
 * titled, with no extra permissions.
 * @param {string} origin  the site's origin (no trailing slash)
 * @param {string} streamId
 * @param {string} title  the stream's title ("" for none)
 * @param {number} [height]
 */
export function embedCode(origin, streamId, title, height = 450) {
  const name = title.trim() ? `CodeStream: ${title.trim()}` : "CodeStream: Live code";
  const src = `${origin}/embed.html#${encodeURIComponent(streamId)}`;
  return `<iframe src="${escapeAttr(src)}" width="100%" height="${height}" loading="lazy" title="${escapeAttr(name)}" style="border:0"></iframe>`;
}

/** The record setting a stored join state (or recording index) shows: on unless it says off. */
export function storedRecord(/** @type {unknown} */ state) {
  const s = /** @type {{ record?: unknown, keyframe?: { record?: unknown } } | null} */ (state && typeof state === "object" ? state : null);
  return !(s?.record === false || (s?.record === undefined && s?.keyframe?.record === false));
}
