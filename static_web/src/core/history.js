// @ts-check
// The streamer's stored history (protocol.md, "Storage"), pure: what to upload and when.
// StreamerState feeds it every final delta (acknowledged by the service, or sealed when the
// page goes) and every control change, and performs its uploads through the page shell,
// which reports how each ended. The live stream never waits for it: nothing here is on the
// path of a delta.
//
// - Segments: the final deltas with their times (ms after the segment's t0) and the control
//   changes made meanwhile; cut every `segmentMs` of editing or at `segmentBytes` of JSON.
// - Keyframes: the whole document at a final version. One starts every epoch; another comes
//   when the segments since the last one outweigh max(`keyframeMinBytes`, that keyframe's
//   document), so a join reads at most about twice the document, and before the tail reaches
//   `tailMaxSegments`. A keyframe is queued as a placeholder and taken when it is its turn to
//   go, at the version then final: it covers everything recorded meanwhile, which is
//   therefore not kept.
// - One upload in flight, in order. Network errors, 5xx, 429 and `conflict` are retried with
//   backoff (Retry-After when given); `out_of_order` and the other refusals of a segment are
//   recovered from with a keyframe at the current version; `history_full`, a refused owner
//   key or a refused keyframe stop storing (live streaming goes on).
// - At most `maxQueuedBytes` wait; beyond that the queue is replaced by a keyframe: a gap in
//   the stored history, never in the live stream.
// - `flush` (the page is going): what is pending, at most `keepaliveBytes`, as one upload
//   for fetch(..., {keepalive: true}).
/** @import { Change } from "./delta.js" */
/** @import { DeltaMessage, Selection } from "./deltas.js" */
import { LIMITS, STORAGE } from "./contract.js";
import { jsonStringBytes, utf8Bytes } from "./split.js";

/** The client's own pacing of uploads (not wire limits: the contract has those). */
export const HISTORY_TIMING = Object.freeze({
  retryMs: 1000, // first retry after a failed upload...
  retryMaxMs: 8000, // ...doubling up to this
});

/**
 * @typedef {{ lang?: string, title?: string, ended?: true, marker?: string }} ControlFields
 * @typedef {{ epoch: string, v: number, t: number, doc: string, lang?: string, title?: string, record?: boolean }} KeyframeBody
 * @typedef {{ epoch: string, from: number, to: number, t0: number,
 *             deltas: [number, Change[], Selection | null][], controls: [number, ControlFields][] }} SegmentBody
 * @typedef {{ kind: "keyframes", body: KeyframeBody | null, bytes: number }
 *   | { kind: "segments", body: SegmentBody, bytes: number }} Upload  a null body: a placeholder
 * @typedef {{ epoch: string, v: number, doc: string, lang: string, title: string, record?: boolean }} KeyframeSource
 *   the document at the latest final version, as the streamer has it (and the record setting)
 * @typedef {{ type: "upload", serial: number, kind: "keyframes" | "segments",
 *             body: KeyframeBody | SegmentBody, keepalive: boolean }} UploadAction
 * @typedef {{ status: number, code?: string, retryAfterMs?: number, head?: { epoch: string, v: number } }} UploadResult
 *   status 0: the request did not complete (network)
 * @typedef {"waiting" | "saved" | "saving" | "retrying" | "stopped"} HistoryStatus
 */

/**
 * @typedef {object} OpenSegment
 * @property {string} epoch
 * @property {number} from
 * @property {number} t0  in the caller's clock (ms)
 * @property {[number, Change[], Selection | null][]} deltas
 * @property {[number, ControlFields][]} controls
 * @property {number} bytes  about the JSON of deltas and controls
 * @property {number} lastDt
 * @property {number} lastControlDt
 */

const isPlaceholder = (/** @type {Upload} */ u) => u.kind === "keyframes" && u.body === null;

export class StreamHistory {
  /**
   * @param {object} [options]
   * @param {Readonly<typeof STORAGE>} [options.storage]
   * @param {Readonly<typeof LIMITS>} [options.limits]
   * @param {(now: number) => number} [options.wall]  the caller's clock to wall-clock ms
   * @param {Partial<typeof HISTORY_TIMING>} [options.timing]
   */
  constructor({ storage = STORAGE, limits = LIMITS, wall = (now) => Math.round(now), timing = {} } = {}) {
    this.storage = storage;
    this.limits = limits;
    this.wall = wall;
    this.timing = { ...HISTORY_TIMING, ...timing };
    this.open = false; // the stream is known: uploads may go
    /** @type {string | null} why storing stopped, for good */
    this.stopped = null;
    /** the last final version recorded */
    this.recorded = { epoch: "", v: 0 };
    /** @type {Upload[]} in order; queue[0] is in flight when `inFlight` is set */
    this.queue = [];
    /** @type {number | null} serial of the upload in flight */
    this.inFlight = null;
    this.serials = 0;
    /** @type {OpenSegment | null} */
    this.segment = null;
    /** @type {number | null} when to try again after a failed upload */
    this.retryAt = null;
    /** @type {number} */
    this.backoffMs = this.timing.retryMs;
    this.sinceKeyframeBytes = 0; // segments queued since the last keyframe
    this.tailSegments = 0;
    this.keyframeDocBytes = 0;
    /** @type {{ ended?: true, markers?: string[] }} controls recorded while a keyframe placeholder waits */
    this.afterKeyframe = {};
    this.deleted = false; // the owner deleted the recording: uploads answer 409 deleted
    /** @type {{ epoch: string, v: number } | null} the stored head, as the last answer said */
    this.stored = null;
    this.uploads = 0; // accepted
    this.failures = 0; // since the last accepted one
  }

  /** @returns {HistoryStatus} */
  get status() {
    if (this.stopped) return "stopped";
    if (!this.open) return "waiting";
    if (this.retryAt !== null) return "retrying";
    return this.queue.length || this.segment ? "saving" : "saved";
  }

  /** Bytes waiting to go (the upload in flight excluded). */
  get queuedBytes() {
    let n = 0;
    for (let i = this.inFlight === null ? 0 : 1; i < this.queue.length; i++) n += this.queue[i].bytes;
    return n;
  }

  // ---- what the streamer records ----

  /** A new epoch starts at version 0: its first upload is a keyframe. */
  startEpoch(/** @type {number} */ now, /** @type {string} */ epoch) {
    this.#cut(now);
    // a placeholder waiting for the old epoch is no longer needed: the new one has its own
    const last = this.queue.length - 1;
    if (last >= 0 && isPlaceholder(this.queue[last]) && !(last === 0 && this.inFlight !== null)) this.queue.pop();
    this.recorded = { epoch, v: 0 };
    this.afterKeyframe = {};
    this.queue.push({ kind: "keyframes", body: null, bytes: 0 });
  }

  /**
   * A final delta: acknowledged by the service (or sealed as the page goes). `at` is when it
   * was numbered (the caller's clock).
   */
  record(/** @type {number} */ at, /** @type {DeltaMessage} */ msg) {
    const r = this.recorded;
    if (msg.epoch === r.epoch && msg.v <= r.v) return; // recorded already
    if (msg.epoch !== r.epoch || msg.v !== r.v + 1) {
      // not the next version: only a keyframe can continue from here
      this.recorded = { epoch: msg.epoch, v: msg.v };
      this.#replaceByKeyframe(at);
      return;
    }
    this.recorded = { epoch: r.epoch, v: msg.v };
    if (this.stopped || this.#keyframeWaits()) return; // the keyframe will hold it
    const entry = /** @type {[number, Change[], Selection | null]} */ ([0, msg.changes, msg.sel ?? null]);
    const bytes = entryBytes(entry);
    const s = this.segment;
    if (s && (at - s.t0 >= this.storage.segmentMs || s.bytes + bytes > this.storage.segmentBytes)) this.#cut(at);
    const open = this.#open(at, msg.v);
    const dt = Math.max(open.lastDt, Math.round(at - open.t0), 0);
    entry[0] = dt;
    open.lastDt = dt;
    open.deltas.push(entry);
    open.bytes += bytes;
    if (open.bytes >= this.storage.segmentBytes) this.#cut(at);
  }

  /** The language, the title or the end changed. */
  control(/** @type {number} */ now, /** @type {ControlFields} */ fields) {
    if (this.stopped) return;
    if (this.#keyframeWaits()) {
      // the keyframe carries lang and title; markers and the end need a segment after it
      if (fields.marker !== undefined) this.#keepMarkers([fields.marker]);
      if (fields.ended) this.afterKeyframe.ended = true;
      return;
    }
    const open = this.#open(now, this.recorded.v + 1);
    const dt = Math.max(open.lastControlDt, Math.round(now - open.t0), 0);
    open.lastControlDt = dt;
    open.controls.push([dt, { ...fields }]);
    open.bytes += utf8Bytes(JSON.stringify(fields)) + 12;
    if (fields.ended) this.#cut(now); // no more edits will come: store the end now
  }

  /**
   * The "Record this stream" setting changed: a keyframe (at the version final when it goes,
   * carrying the source's `record`) follows what is queued.
   */
  recordChanged(/** @type {number} */ now) {
    if (this.stopped) return;
    this.#cut(now);
    if (!this.#keyframeWaits()) this.queue.push({ kind: "keyframes", body: null, bytes: 0 });
  }

  /** The stream is known (its first connection): uploads may start. */
  start() {
    this.open = true;
  }

  /** Storing ends for good (another page took the stream over, or it cannot be stored). */
  stop(/** @type {string} */ why) {
    this.stopped ??= why;
    this.queue = this.inFlight === null ? [] : this.queue.slice(0, 1);
    this.segment = null;
    this.retryAt = null;
  }

  // ---- the clock and the uploads ----

  /**
   * Cut a segment that is due, retry when due, and hand out the next upload.
   * @param {number} now
   * @param {() => KeyframeSource} source
   * @returns {UploadAction[]}
   */
  tick(now, source) {
    if (this.segment && now - this.segment.t0 >= this.storage.segmentMs) this.#cut(now);
    if (this.retryAt !== null && now >= this.retryAt) this.retryAt = null;
    return this.pump(now, source);
  }

  /** When tick() is due next (null: no timer needed). */
  nextTick() {
    const due = [];
    if (this.segment && !this.stopped) due.push(this.segment.t0 + this.storage.segmentMs);
    if (this.retryAt !== null) due.push(this.retryAt);
    return due.length ? Math.min(...due) : null;
  }

  /** Cut the segment being filled now (the page is hidden: it may not come back). */
  cutNow(/** @type {number} */ now) {
    this.#cut(now);
  }

  /**
   * The next upload, if one may go now.
   * @param {number} now
   * @param {() => KeyframeSource} source
   * @returns {UploadAction[]}
   */
  pump(now, source) {
    if (!this.open || this.stopped || this.inFlight !== null || this.retryAt !== null) return [];
    const next = this.queue[0];
    if (!next) return [];
    if (isPlaceholder(next)) {
      const src = source();
      const body = keyframeBody(this.wall(now), src);
      if (!body) return [];
      const bytes = utf8Bytes(JSON.stringify(body));
      if (bytes > this.limits.keyframeBytes) {
        this.stop("the document is larger than a stored keyframe may be");
        return [];
      }
      this.#tookKeyframe(src);
      this.queue[0] = { kind: "keyframes", body, bytes };
      const { ended, markers = [] } = this.afterKeyframe;
      this.afterKeyframe = {};
      for (const marker of markers) this.control(now, { marker });
      if (ended) this.control(now, { ended: true });
    }
    const item = /** @type {Upload & { body: KeyframeBody | SegmentBody }} */ (this.queue[0]);
    this.inFlight = ++this.serials;
    return [{ type: "upload", serial: this.inFlight, kind: item.kind, body: item.body, keepalive: false }];
  }

  /**
   * How the upload `serial` ended.
   * @param {number} now
   * @param {number} serial
   * @param {UploadResult} result
   * @param {() => KeyframeSource} source
   * @returns {UploadAction[]}
   */
  uploaded(now, serial, result, source) {
    if (serial !== this.inFlight) return [];
    this.inFlight = null;
    const item = this.queue[0];
    const { status, code } = result;
    if (status === 200) {
      this.queue.shift();
      this.stored = result.head ?? this.stored;
      this.uploads += 1;
      this.failures = 0;
      this.backoffMs = this.timing.retryMs;
      return this.pump(now, source);
    }
    this.failures += 1;
    if (status === 0 || status >= 500 || status === 429 || code === "conflict") {
      this.retryAt = now + Math.max(result.retryAfterMs ?? 0, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, this.timing.retryMaxMs);
      return [];
    }
    if (code === "deleted") {
      this.deleted = true;
      this.stop("the recording was deleted");
    } else if (code === "history_full") {
      this.stop("the stream's stored history is full");
    } else if (status === 401 || status === 403) {
      this.stop("the server refused the owner key");
    } else if (item?.kind === "keyframes") {
      // a keyframe refused: this page's epoch is over, or its history disagrees with storage
      this.stop(`a keyframe was refused (${code ?? status})`);
    } else {
      // out_of_order, no_stream, bad_delta...: continue from a keyframe at the current version
      const refused = this.queue.shift();
      if (refused) this.#keepMarkers(markersOf(refused));
      this.#replaceByKeyframe(now);
    }
    return this.pump(now, source);
  }

  /**
   * The page is going: what is pending, as at most one upload of at most `keepaliveBytes`,
   * for fetch(..., {keepalive: true}). Its outcome is never known; should the page stay after
   * all, the next upload finds out (a 409 leads to a keyframe).
   * @param {number} now
   * @param {() => KeyframeSource} source
   * @returns {UploadAction[]}
   */
  flush(now, source) {
    if (!this.open || this.stopped) return [];
    this.#cut(now);
    const pending = this.queue.slice(this.inFlight === null ? 0 : 1);
    if (!pending.length) return [];
    const budget = this.storage.keepaliveBytes;
    const merged = mergeSegments(pending);
    /** @type {{ kind: "keyframes" | "segments", body: KeyframeBody | SegmentBody } | null} */
    let send = null;
    // segments only follow the stored head when the last answer was an acceptance: after a
    // failure, the upload waiting to be retried may have been stored all the same
    if (merged && this.inFlight === null && this.failures === 0 && merged.bytes <= budget) {
      send = { kind: "segments", body: merged.body };
    } else {
      // a keyframe at the current version is accepted whatever happens to the one in flight
      const src = source();
      const body = keyframeBody(this.wall(now), src);
      if (body && utf8Bytes(JSON.stringify(body)) <= budget) {
        this.#tookKeyframe(src);
        send = { kind: "keyframes", body };
      } else if (merged && merged.bytes <= budget) {
        send = { kind: "segments", body: merged.body };
      }
    }
    this.queue = this.inFlight === null ? [] : this.queue.slice(0, 1);
    if (!send) return [];
    return [{ type: "upload", serial: ++this.serials, kind: send.kind, body: send.body, keepalive: true }];
  }

  // ---- inside ----

  /** A keyframe placeholder is queued: what is recorded now, it will hold. */
  #keyframeWaits() {
    const last = this.queue[this.queue.length - 1];
    return Boolean(last && isPlaceholder(last));
  }

  /** @returns {OpenSegment} */
  #open(/** @type {number} */ now, /** @type {number} */ from) {
    this.segment ??= { epoch: this.recorded.epoch, from, t0: now, deltas: [], controls: [], bytes: 64, lastDt: 0, lastControlDt: 0 };
    return this.segment;
  }

  /** The segment being filled goes into the queue (and a keyframe after it when one is due). */
  #cut(/** @type {number} */ now) {
    const s = this.segment;
    if (!s) return;
    this.segment = null;
    if (this.stopped) return;
    /** @type {SegmentBody} */
    const body = { epoch: s.epoch, from: s.from, to: s.from + s.deltas.length - 1, t0: this.wall(s.t0), deltas: s.deltas, controls: s.controls };
    const bytes = utf8Bytes(JSON.stringify(body));
    this.queue.push({ kind: "segments", body, bytes });
    this.sinceKeyframeBytes += bytes;
    this.tailSegments += 1;
    const heavy = this.sinceKeyframeBytes > Math.max(this.storage.keyframeMinBytes, this.keyframeDocBytes);
    if (heavy || this.tailSegments >= this.storage.tailMaxSegments - 1) this.queue.push({ kind: "keyframes", body: null, bytes: 0 });
    if (this.queuedBytes > this.storage.maxQueuedBytes) this.#replaceByKeyframe(now);
  }

  /**
   * Whatever waits is dropped; a keyframe at the version final when it goes replaces it. The
   * keyframe holds the document, not the markers: those go in the segment after it.
   */
  #replaceByKeyframe(/** @type {number} */ now) {
    const dropped = this.queue.slice(this.inFlight === null ? 0 : 1);
    this.#keepMarkers([...dropped.flatMap(markersOf), ...(this.segment ? markersOf({ kind: "segments", body: this.segment }) : [])]);
    this.segment = null;
    this.queue = this.inFlight === null ? [] : this.queue.slice(0, 1);
    this.queue.push({ kind: "keyframes", body: null, bytes: 0 });
  }

  /** Markers of dropped segments wait for the segment after the next keyframe. */
  #keepMarkers(/** @type {string[]} */ markers) {
    if (markers.length) this.afterKeyframe.markers = [...(this.afterKeyframe.markers ?? []), ...markers];
  }

  /** A keyframe of `src` goes: it holds everything recorded up to its version. */
  #tookKeyframe(/** @type {KeyframeSource} */ src) {
    this.recorded = { epoch: src.epoch, v: src.v };
    this.segment = null;
    this.sinceKeyframeBytes = 0;
    this.tailSegments = 0;
    this.keyframeDocBytes = jsonStringBytes(src.doc) + 2;
  }
}

/** The keyframe body of `src` at wall time `t` (null while the streamer has no epoch). */
function keyframeBody(/** @type {number} */ t, /** @type {KeyframeSource} */ src) {
  if (!src.epoch) return null;
  /** @type {KeyframeBody} */
  const body = { epoch: src.epoch, v: src.v, t, doc: src.doc };
  if (src.lang) body.lang = src.lang;
  if (src.title) body.title = src.title;
  if (typeof src.record === "boolean") body.record = src.record;
  return body;
}

/** The marker labels an upload carries (a keyframe: none). */
function markersOf(/** @type {{ kind: string, body: unknown }} */ u) {
  if (u.kind !== "segments") return [];
  const controls = /** @type {{ controls: [number, ControlFields][] }} */ (u.body).controls;
  return controls.flatMap(([, f]) => (f.marker === undefined ? [] : [f.marker]));
}

/** About the JSON bytes of one segment entry `[dt, changes, sel]`. */
function entryBytes(/** @type {[number, Change[], Selection | null]} */ entry) {
  let n = 24;
  for (const c of entry[1]) n += jsonStringBytes(c[2]) + 26;
  return n;
}

/**
 * Consecutive segments of one epoch as one (times re-based to the first's t0), or null when
 * `uploads` are not all segments that follow each other.
 * @param {Upload[]} uploads
 * @returns {{ body: SegmentBody, bytes: number } | null}
 */
export function mergeSegments(uploads) {
  /** @type {SegmentBody | null} */
  let out = null;
  for (const u of uploads) {
    if (u.kind !== "segments") return null;
    const s = u.body;
    if (!out) {
      out = { ...s, deltas: s.deltas.slice(), controls: s.controls.slice() };
      continue;
    }
    if (s.epoch !== out.epoch || s.from !== out.to + 1) return null;
    const shift = s.t0 - out.t0;
    const lastDt = out.deltas.length ? out.deltas[out.deltas.length - 1][0] : 0;
    const lastControl = out.controls.length ? out.controls[out.controls.length - 1][0] : 0;
    for (const [dt, changes, sel] of s.deltas) out.deltas.push([Math.max(lastDt, dt + shift), changes, sel]);
    for (const [dt, fields] of s.controls) out.controls.push([Math.max(lastControl, dt + shift), fields]);
    out.to = s.to;
  }
  return out ? { body: out, bytes: utf8Bytes(JSON.stringify(out)) } : null;
}
