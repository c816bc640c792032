// @ts-check
// The watcher's side of protocol.md as pure state: messages, the stored join state and clock
// ticks in, actions out. The page shell performs the actions (set the editor text, apply
// changes, send `sync`) and fetches the join state.
//
// Phases: "waiting" (no usable document yet, or a gap: deltas are buffered until a snapshot
// or a catchup) and "synced" (deltas apply in order). The document itself lives in the
// editor; this machine tracks only its identity (epoch, v) and length, which is enough to
// validate every change. Joining from storage, the page fetches the join state while it
// connects; the machine shows it at once and holds its first `sync` (at most `storedWaitMs`)
// so that it can ask with have = the stored head: the streamer then sends only what is
// missing (a catchup) instead of the whole document.
import { LIMITS, WATCHER } from "./contract.js";
import { checkChanges, DeltaError } from "./delta.js";
import { replayJoinState } from "./join.js";
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
// the client's own pacing: how long a connected watcher waits for the stored join state
// before it asks for the document without it
export const STORED_WAIT_MS = 3000;

const isInt = (/** @type {unknown} */ x) => Number.isInteger(x) && /** @type {number} */ (x) >= 0;

export class WatcherState {
  /**
   * @param {string} streamId
   * @param {object} [contract]  the contract's values (a test may run the machine under others)
   * @param {Readonly<typeof WATCHER>} [contract.watcher]  sync pacing, buffer size
   * @param {Readonly<typeof LIMITS>} [contract.limits]  the snapshot chunk count
   * @param {boolean} [contract.storage]  the page fetches the stored join state (stored())
   * @param {number} [contract.storedWaitMs]
   */
  constructor(streamId, { watcher = WATCHER, limits = LIMITS, storage = false, storedWaitMs = STORED_WAIT_MS } = {}) {
    this.streamId = streamId;
    this.pacing = {
      syncMinIntervalMs: watcher.syncMinIntervalMs,
      syncRetryMs: watcher.syncRetryMs,
      syncRetryMaxMs: watcher.syncRetryMaxMs,
      maxBuffered: watcher.maxBufferedDeltas,
      maxChunks: limits.snapshotChunks,
      storedWaitMs,
    };
    /** @type {"none" | "pending" | "late" | "done"} the stored join state: not used, awaited, awaited past its deadline, in */
    this.storage = storage ? "pending" : "none";
    /** @type {number | null} until when a connected watcher waits for it */
    this.storageDeadline = null;
    this.fromStorage = false; // what it shows came from storage (no live message since)
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
    if (this.storage === "pending") this.storageDeadline ??= now + this.pacing.storedWaitMs;
    return this.#requestSync(now);
  }

  /**
   * The stored join state came (the parsed answer of GET /api/streams/{id}), or null: nothing
   * stored (404) or it could not be read. A document is shown at once when none is yet.
   * @param {number} now
   * @param {unknown} state
   * @returns {WatcherAction[]}
   */
  stored(now, state) {
    if (this.storage !== "pending" && this.storage !== "late") return [];
    const late = this.storage === "late";
    this.storage = "done";
    this.storageDeadline = null;
    const found = state === null ? null : replayJoinState(state);
    /** @type {WatcherAction[]} */
    const actions = [];
    if (found && !this.hasDoc && this.stream !== "ended") {
      this.epoch = found.epoch;
      this.v = found.v;
      this.length = found.doc.length;
      this.hasDoc = true;
      this.fromStorage = true;
      actions.push({ type: "reset", doc: found.doc, lang: found.lang, title: found.title, sel: found.sel });
      if (found.ended) {
        this.stream = "ended";
        actions.push({ type: "stream", state: "ended" });
        return actions;
      }
    }
    // a sync held back for this goes now, asking after the stored head
    if (this.syncWanted && !late) actions.push(...this.#requestSync(now));
    return actions;
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
      case "catchup":
        return this.#onCatchup(now, msg);
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
    if (this.storageDeadline !== null && now >= this.storageDeadline) {
      // too slow: ask without it; a late answer is still shown while nothing else is (a join
      // storm's group catchup then makes it current), but asks nothing more
      this.storage = "late";
      this.storageDeadline = null;
    }
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
    if (this.syncWanted && this.storage === "pending" && this.storageDeadline !== null) return this.storageDeadline;
    if (this.syncWanted) return this.lastSyncAt + this.pacing.syncMinIntervalMs;
    if (this.awaitingSince !== null && this.stream !== "offline") return this.awaitingSince + this.retryMs;
    return null;
  }

  /** The first sync waits for the stored join state (until its deadline). */
  #holding(/** @type {number} */ now) {
    return this.storage === "pending" && this.storageDeadline !== null && now < this.storageDeadline;
  }

  /** @returns {WatcherAction[]} */
  #requestSync(/** @type {number} */ now) {
    if (this.#holding(now) || now - this.lastSyncAt < this.pacing.syncMinIntervalMs) {
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
      // the streamer streams, but nothing was asked of it (we were told it was offline)
      if (this.awaitingSince === null && !this.syncWanted) return lead.concat(this.#requestSync(now));
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

  /**
   * Only the deltas we miss: applies when it starts exactly where we are (its epoch and
   * `from`); anything else is ignored (the sync retry then brings a snapshot).
   * @returns {WatcherAction[]}
   */
  #onCatchup(/** @type {number} */ now, /** @type {Message} */ msg) {
    if (Array.isArray(msg.deltas)) return this.#onGroupCatchup(now, msg);
    const { epoch, from, v, changes } = msg;
    if (this.phase !== "waiting" || !this.hasDoc || epoch !== this.epoch || from !== this.v) return [];
    if (!isInt(v) || v < from || !Array.isArray(changes) || (v === from && changes.length)) return [];
    let length;
    try {
      length = checkChanges(this.length, changes);
    } catch (e) {
      if (e instanceof DeltaError) return [];
      throw e;
    }
    this.length = length;
    this.v = v;
    this.#synced();
    /** @type {WatcherAction[]} */
    const actions = [{ type: "stream", state: "live" }];
    if (typeof msg.lang === "string") actions.push({ type: "lang", lang: msg.lang });
    if (typeof msg.title === "string") actions.push({ type: "title", title: msg.title });
    const sel = validSel(msg.sel, this.length) ? msg.sel : undefined;
    if (changes.length || sel) actions.push(sel ? { type: "apply", changes, sel } : { type: "apply", changes });
    return actions.concat(this.#drainBuffer(now));
  }

  /**
   * A group catchup (protocol.md, "Group catchup"): one entry per version from..v. A watcher
   * holding any of them applies the ones after its own, as deltas in order, and is current; one
   * already past them ignores them (duplicates); any other (another epoch, older than `from`,
   * no document yet) ignores it and its own sync-request is answered as before.
   * @returns {WatcherAction[]}
   */
  #onGroupCatchup(/** @type {number} */ now, /** @type {Message} */ msg) {
    const { epoch, from, v, deltas } = msg;
    if (!this.hasDoc || epoch !== this.epoch || !isInt(from) || !isInt(v) || this.v < from || this.v > v) return [];
    if (!Array.isArray(deltas) || deltas.length !== v - from) return [];
    const waiting = this.phase === "waiting";
    /** @type {WatcherAction[]} */
    const actions = [];
    let length = this.length;
    /** @type {WatcherAction[]} */
    const applies = [];
    for (const [i, d] of deltas.entries()) {
      if (!Array.isArray(d) || d[0] !== from + i + 1 || !Array.isArray(d[1])) return [];
      if (d[0] <= this.v) continue;
      try {
        length = checkChanges(length, d[1]);
      } catch (e) {
        if (e instanceof DeltaError) return [];
        throw e;
      }
      /** @type {WatcherAction & { type: "apply" }} */
      const apply = { type: "apply", changes: d[1] };
      if (validSel(d[2], length)) apply.sel = d[2];
      applies.push(apply);
    }
    this.length = length;
    this.v = v;
    if (!waiting) return applies;
    this.#synced();
    actions.push({ type: "stream", state: "live" });
    if (typeof msg.lang === "string") actions.push({ type: "lang", lang: msg.lang });
    if (typeof msg.title === "string") actions.push({ type: "title", title: msg.title });
    return actions.concat(applies, this.#drainBuffer(now));
  }

  /** A snapshot or catchup made us current: stop asking. */
  #synced() {
    this.phase = "synced";
    this.awaitingSince = null;
    this.syncWanted = false;
    this.retryMs = this.pacing.syncRetryMs;
    this.stream = "live";
    this.fromStorage = false;
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
    this.epoch = epoch;
    this.v = v;
    this.length = full.length;
    this.hasDoc = true;
    this.#synced();
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
