// @ts-check
// The watcher's side of protocol.md as pure state: messages and clock ticks in, actions out.
// The page shell performs the actions (set the editor text, apply changes, send `sync`).
//
// Phases: "waiting" (no usable document yet, or a gap: deltas are buffered until a snapshot)
// and "synced" (deltas apply in order). The document itself lives in the editor; this machine
// tracks only its identity (epoch, v) and length, which is enough to validate every change.
import { LIMITS, WATCHER } from "./contract.js";
import { checkChanges, DeltaError } from "./delta.js";
/** @import { Change } from "./delta.js" */

/**
 * What the page does for the machine: show a document (reset), apply changes, send `sync`,
 * show the stream's state, its language or title.
 * @typedef {{ type: "reset", doc: string, lang: unknown, title: unknown, sel: [number, number] | null }
 *   | { type: "apply", changes: Change[], sel?: [number, number] }
 *   | { type: "sync", data: { streamId: string, have: { epoch: string, v: number } | null } }
 *   | { type: "stream", state: "live" | "offline" | "ended" }
 *   | { type: "lang", lang: string }
 *   | { type: "title", title: string }} WatcherAction
 */
/** @typedef {any} Message  parsed JSON off the wire: every field is checked before use */

export const SYNC_MIN_INTERVAL_MS = WATCHER.syncMinIntervalMs; // the server allows one sync per second per connection
export const SYNC_RETRY_MS = WATCHER.syncRetryMs; // no snapshot by then: ask again...
export const SYNC_RETRY_MAX_MS = WATCHER.syncRetryMaxMs; // ...waiting twice as long each time, up to this
export const MAX_BUFFERED = WATCHER.maxBufferedDeltas; // deltas held while waiting; beyond that the snapshot covers them
export const MAX_CHUNKS = LIMITS.snapshotChunks; // the server refuses snapshots of more chunks

const isInt = (/** @type {unknown} */ x) => Number.isInteger(x) && /** @type {number} */ (x) >= 0;

export class WatcherState {
  /**
   * @param {string} streamId
   * @param {object} [contract]  the contract's values (a test may run the machine under others)
   * @param {Readonly<typeof WATCHER>} [contract.watcher]  sync pacing, buffer size
   * @param {Readonly<typeof LIMITS>} [contract.limits]  the snapshot chunk count
   */
  constructor(streamId, { watcher = WATCHER, limits = LIMITS } = {}) {
    this.streamId = streamId;
    this.pacing = {
      syncMinIntervalMs: watcher.syncMinIntervalMs,
      syncRetryMs: watcher.syncRetryMs,
      syncRetryMaxMs: watcher.syncRetryMaxMs,
      maxBuffered: watcher.maxBufferedDeltas,
      maxChunks: limits.snapshotChunks,
    };
    /** @type {"waiting" | "synced"} */
    this.phase = "waiting";
    /** @type {string | null} */
    this.epoch = null;
    this.v = 0;
    this.length = 0;
    this.hasDoc = false;
    /** @type {Message[]} deltas held while waiting */
    this.buffer = [];
    /** @type {{ key: string, parts: string[], got: number } | null} */
    this.chunks = null;
    /** @type {"live" | "offline" | "ended" | "unknown"} */
    this.stream = "unknown";
    this.lastSyncAt = -Infinity;
    this.syncWanted = false; // a sync is owed but held back by the rate limit
    /** @type {number | null} when the last sync went out without an answer yet */
    this.awaitingSince = null;
    // a busy streamer answers late, not never: repeating at a fixed pace only adds to its queue
    this.retryMs = this.pacing.syncRetryMs;
  }

  get have() {
    return this.hasDoc && this.epoch !== null ? { epoch: this.epoch, v: this.v } : null;
  }

  /** A (new) connection is up: ask for the document, keep showing what we have. */
  /** @returns {WatcherAction[]} */
  connected(/** @type {number} */ now) {
    this.phase = "waiting";
    return this.#requestSync(now);
  }

  /** Any message from the server or the group (already parsed JSON). */
  /** @returns {WatcherAction[]} */
  receive(/** @type {number} */ now, /** @type {Message} */ msg) {
    if (!msg || typeof msg !== "object" || this.stream === "ended") return [];
    switch (msg.type) {
      case "delta":
        return this.#onDelta(now, msg);
      case "snapshot":
        return this.#onSnapshot(now, msg);
      case "control":
        return this.#onControl(msg);
      case "status":
        return this.#onStatus(now, msg);
      default:
        return [];
    }
  }

  /** Clock tick: send an owed sync once allowed, or repeat one that got no answer. */
  /** @returns {WatcherAction[]} */
  tick(/** @type {number} */ now) {
    if (this.stream === "ended" || this.phase !== "waiting") return [];
    if (this.syncWanted && now - this.lastSyncAt >= this.pacing.syncMinIntervalMs) return this.#requestSync(now);
    if (this.stream !== "offline" && this.awaitingSince !== null && now - this.awaitingSince >= this.retryMs) {
      this.retryMs = Math.min(this.retryMs * 2, this.pacing.syncRetryMaxMs);
      return this.#requestSync(now);
    }
    return [];
  }

  /** When the shell should call tick() next (null: no timer needed). */
  nextTick() {
    if (this.stream === "ended" || this.phase !== "waiting") return null;
    if (this.syncWanted) return this.lastSyncAt + this.pacing.syncMinIntervalMs;
    if (this.awaitingSince !== null && this.stream !== "offline") return this.awaitingSince + this.retryMs;
    return null;
  }

  /** @returns {WatcherAction[]} */
  #requestSync(/** @type {number} */ now) {
    if (now - this.lastSyncAt < this.pacing.syncMinIntervalMs) {
      this.syncWanted = true;
      return [];
    }
    this.syncWanted = false;
    this.lastSyncAt = now;
    this.awaitingSince = now;
    return [{ type: "sync", data: { streamId: this.streamId, have: this.have } }];
  }

  /** @returns {WatcherAction[]} */
  #onDelta(/** @type {number} */ now, /** @type {Message} */ msg) {
    const { epoch, v, changes } = msg;
    if (typeof epoch !== "string" || !isInt(v) || v < 1 || !Array.isArray(changes)) return [];
    /** @type {WatcherAction[]} */
    const lead = this.stream === "live" ? [] : [{ type: "stream", state: "live" }];
    this.stream = "live";
    if (this.phase === "waiting") {
      if (this.buffer.length >= this.pacing.maxBuffered) this.buffer.shift();
      this.buffer.push(msg);
      return lead;
    }
    if (epoch === this.epoch && v <= this.v) return lead; // duplicate
    if (epoch === this.epoch && v === this.v + 1) {
      const out = this.#apply(msg);
      if (out) return lead.concat(out);
    }
    // gap, new epoch, or a change that does not fit: resynchronize
    this.phase = "waiting";
    this.buffer = [msg];
    return lead.concat(this.#requestSync(now));
  }

  /** @returns {WatcherAction[] | null} */
  #apply(/** @type {Message} */ msg) {
    try {
      this.length = checkChanges(this.length, msg.changes);
    } catch (e) {
      if (e instanceof DeltaError) return null;
      throw e;
    }
    this.v = msg.v;
    /** @type {WatcherAction & { type: "apply" }} */
    const action = { type: "apply", changes: msg.changes };
    if (validSel(msg.sel, this.length)) action.sel = msg.sel;
    return [action];
  }

  /** @returns {WatcherAction[]} */
  #onSnapshot(/** @type {number} */ now, /** @type {Message} */ msg) {
    const { epoch, v, doc, chunk } = msg;
    if (typeof epoch !== "string" || !isInt(v) || typeof doc !== "string") return [];
    const [i, n] = Array.isArray(chunk) ? chunk : [0, 1];
    if (!isInt(i) || !isInt(n) || n < 1 || n > this.pacing.maxChunks || i >= n) return [];
    const key = `${epoch}:${v}:${n}`;
    if (!this.chunks || this.chunks.key !== key) this.chunks = { key, parts: new Array(n), got: 0 };
    if (this.chunks.parts[i] === undefined) {
      this.chunks.parts[i] = doc;
      this.chunks.got++;
    }
    if (this.chunks.got < n) return [];
    const full = this.chunks.parts.join("");
    this.chunks = null;
    if (full.includes("\r")) return []; // see checkChanges: the editor would count it otherwise
    // a snapshot older than what we show (an answer to an earlier sync) changes nothing
    if (this.phase === "synced" && epoch === this.epoch && v <= this.v) return [];
    this.phase = "synced";
    this.epoch = epoch;
    this.v = v;
    this.length = full.length;
    this.hasDoc = true;
    this.awaitingSince = null;
    this.syncWanted = false;
    this.retryMs = this.pacing.syncRetryMs;
    this.stream = "live";
    /** @type {WatcherAction[]} */
    const actions = [{ type: "reset", doc: full, lang: msg.lang, title: msg.title, sel: validSel(msg.sel, full.length) ? msg.sel : null }];
    actions.push({ type: "stream", state: "live" });
    return actions.concat(this.#drainBuffer(now));
  }

  /** @returns {WatcherAction[]} */
  #drainBuffer(/** @type {number} */ now) {
    const later = this.buffer
      .filter((d) => d.epoch === this.epoch && d.v > this.v)
      .sort((a, b) => a.v - b.v);
    const newerEpoch = this.buffer.some((d) => d.epoch !== this.epoch);
    this.buffer = [];
    /** @type {WatcherAction[]} */
    const actions = [];
    for (const d of later) {
      if (d.v <= this.v) continue; // duplicate inside the buffer
      // a gap right after a snapshot: the next snapshot is taken after every delta held here
      // was sent, so it covers them (and a bogus delta "from the future" cannot stay forever)
      if (d.v !== this.v + 1) return actions.concat(this.#gap(now, []));
      const applied = this.#apply(d);
      if (!applied) return actions.concat(this.#gap(now, []));
      actions.push(...applied);
    }
    if (newerEpoch) return actions.concat(this.#gap(now, []));
    return actions;
  }

  /** @returns {WatcherAction[]} */
  #gap(/** @type {number} */ now, /** @type {Message[]} */ keep) {
    this.phase = "waiting";
    this.buffer = keep;
    return this.#requestSync(now);
  }

  /** @returns {WatcherAction[]} */
  #onControl(/** @type {Message} */ msg) {
    /** @type {WatcherAction[]} */
    const actions = [];
    if (typeof msg.lang === "string") actions.push({ type: "lang", lang: msg.lang });
    if (typeof msg.title === "string") actions.push({ type: "title", title: msg.title });
    if (msg.ended === true) {
      this.stream = "ended";
      actions.push({ type: "stream", state: "ended" });
    }
    return actions;
  }

  /** @returns {WatcherAction[]} */
  #onStatus(/** @type {number} */ now, /** @type {Message} */ msg) {
    const state = msg.state;
    if (state === "ended") {
      this.stream = "ended";
      return [{ type: "stream", state: "ended" }];
    }
    if (state === "offline") {
      this.stream = "offline";
      this.awaitingSince = null;
      return [{ type: "stream", state: "offline" }];
    }
    if (state === "live") {
      const wasLive = this.stream === "live";
      this.stream = "live";
      // the streamer (re)connected: its page may have restarted, so check our copy
      /** @type {WatcherAction[]} */
      const actions = [{ type: "stream", state: "live" }];
      if (!wasLive || this.phase === "waiting") {
        this.phase = "waiting";
        actions.push(...this.#requestSync(now));
      }
      return actions;
    }
    return [];
  }
}

/** @returns {sel is [number, number]} */
function validSel(/** @type {unknown} */ sel, /** @type {number} */ length) {
  return (
    Array.isArray(sel) &&
    sel.length === 2 &&
    sel.every((x) => Number.isInteger(x) && x >= 0 && x <= length)
  );
}
