// The watcher's side of protocol.md as pure state: messages and clock ticks in, actions out.
// The page shell performs the actions (set the editor text, apply changes, send `sync`).
//
// Phases: "waiting" (no usable document yet, or a gap: deltas are buffered until a snapshot)
// and "synced" (deltas apply in order). The document itself lives in the editor; this machine
// tracks only its identity (epoch, v) and length, which is enough to validate every change.
import { LIMITS, WATCHER } from "./contract.js";
import { checkChanges, DeltaError } from "./delta.js";

export const SYNC_MIN_INTERVAL_MS = WATCHER.syncMinIntervalMs; // the server allows one sync per second per connection
export const SYNC_RETRY_MS = WATCHER.syncRetryMs; // no snapshot by then: ask again...
export const SYNC_RETRY_MAX_MS = WATCHER.syncRetryMaxMs; // ...waiting twice as long each time, up to this
export const MAX_BUFFERED = WATCHER.maxBufferedDeltas; // deltas held while waiting; beyond that the snapshot covers them
export const MAX_CHUNKS = LIMITS.snapshotChunks; // the server refuses snapshots of more chunks

const isInt = (x) => Number.isInteger(x) && x >= 0;

export class WatcherState {
  constructor(streamId) {
    this.streamId = streamId;
    this.phase = "waiting";
    this.epoch = null;
    this.v = 0;
    this.length = 0;
    this.hasDoc = false;
    this.buffer = [];
    this.chunks = null; // {key, parts: [], got, n}
    this.stream = "unknown"; // live | offline | ended | unknown
    this.lastSyncAt = -Infinity;
    this.syncWanted = false; // a sync is owed but held back by the rate limit
    this.awaitingSince = null; // when the last sync went out without an answer yet
    // a busy streamer answers late, not never: repeating at a fixed pace only adds to its queue
    this.retryMs = SYNC_RETRY_MS;
  }

  get have() {
    return this.hasDoc ? { epoch: this.epoch, v: this.v } : null;
  }

  /** A (new) connection is up: ask for the document, keep showing what we have. */
  connected(now) {
    this.phase = "waiting";
    return this.#requestSync(now);
  }

  /** Any message from the server or the group (already parsed JSON). */
  receive(now, msg) {
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
  tick(now) {
    if (this.stream === "ended" || this.phase !== "waiting") return [];
    if (this.syncWanted && now - this.lastSyncAt >= SYNC_MIN_INTERVAL_MS) return this.#requestSync(now);
    if (this.stream !== "offline" && this.awaitingSince !== null && now - this.awaitingSince >= this.retryMs) {
      this.retryMs = Math.min(this.retryMs * 2, SYNC_RETRY_MAX_MS);
      return this.#requestSync(now);
    }
    return [];
  }

  /** When the shell should call tick() next (null: no timer needed). */
  nextTick() {
    if (this.stream === "ended" || this.phase !== "waiting") return null;
    if (this.syncWanted) return this.lastSyncAt + SYNC_MIN_INTERVAL_MS;
    if (this.awaitingSince !== null && this.stream !== "offline") return this.awaitingSince + this.retryMs;
    return null;
  }

  #requestSync(now) {
    if (now - this.lastSyncAt < SYNC_MIN_INTERVAL_MS) {
      this.syncWanted = true;
      return [];
    }
    this.syncWanted = false;
    this.lastSyncAt = now;
    this.awaitingSince = now;
    return [{ type: "sync", data: { streamId: this.streamId, have: this.have } }];
  }

  #onDelta(now, msg) {
    const { epoch, v, changes } = msg;
    if (typeof epoch !== "string" || !isInt(v) || v < 1 || !Array.isArray(changes)) return [];
    const lead = this.stream === "live" ? [] : [{ type: "stream", state: "live" }];
    this.stream = "live";
    if (this.phase === "waiting") {
      if (this.buffer.length >= MAX_BUFFERED) this.buffer.shift();
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

  #apply(msg) {
    try {
      this.length = checkChanges(this.length, msg.changes);
    } catch (e) {
      if (e instanceof DeltaError) return null;
      throw e;
    }
    this.v = msg.v;
    const action = { type: "apply", changes: msg.changes };
    if (validSel(msg.sel, this.length)) action.sel = msg.sel;
    return [action];
  }

  #onSnapshot(now, msg) {
    const { epoch, v, doc, chunk } = msg;
    if (typeof epoch !== "string" || !isInt(v) || typeof doc !== "string") return [];
    const [i, n] = Array.isArray(chunk) ? chunk : [0, 1];
    if (!isInt(i) || !isInt(n) || n < 1 || n > MAX_CHUNKS || i >= n) return [];
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
    this.retryMs = SYNC_RETRY_MS;
    this.stream = "live";
    const actions = [{ type: "reset", doc: full, lang: msg.lang, title: msg.title, sel: null }];
    if (validSel(msg.sel, full.length)) actions[0].sel = msg.sel;
    actions.push({ type: "stream", state: "live" });
    return actions.concat(this.#drainBuffer(now));
  }

  #drainBuffer(now) {
    const later = this.buffer
      .filter((d) => d.epoch === this.epoch && d.v > this.v)
      .sort((a, b) => a.v - b.v);
    const newerEpoch = this.buffer.some((d) => d.epoch !== this.epoch);
    this.buffer = [];
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

  #gap(now, keep) {
    this.phase = "waiting";
    this.buffer = keep;
    return this.#requestSync(now);
  }

  #onControl(msg) {
    const actions = [];
    if (typeof msg.lang === "string") actions.push({ type: "lang", lang: msg.lang });
    if (typeof msg.title === "string") actions.push({ type: "title", title: msg.title });
    if (msg.ended === true) {
      this.stream = "ended";
      actions.push({ type: "stream", state: "ended" });
    }
    return actions;
  }

  #onStatus(now, msg) {
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

function validSel(sel, length) {
  return (
    Array.isArray(sel) &&
    sel.length === 2 &&
    sel.every((x) => Number.isInteger(x) && x >= 0 && x <= length)
  );
}
