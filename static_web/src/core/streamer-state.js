// @ts-check
// The streamer's side of protocol.md as pure state: edits, clock ticks, the outcome of every
// send, connection changes and the server's messages in; actions out. The page shell
// (streamer.js) performs the actions (send a delta or a snapshot chunk, send a control event,
// show a status) and reports back how each send ended; it owns no protocol state. The
// benchmark's Node driver (harness/node/bench-peers.mjs) runs this same class.
//
// What it holds: a mirror of the editor's document (a snapshot is the document at a numbered
// version, so it is taken here), the batcher (leading edge + window), the outbox (numbered
// deltas, one in flight, acknowledged), the snapshot answer policy (SnapshotQueue) and the
// snapshots being sent chunk by chunk (one chunk in flight per watcher).
//
// Room to grow: an acknowledged delta comes out of the outbox in deltaSent() (where a bounded
// history of sent deltas, or an upload of history segments, would take it), and every
// `sync-request` goes through #answerSync (where a request whose `have` that history covers
// could be answered with the missing deltas instead of a snapshot).
/** @import { Change } from "./delta.js" */
/** @import { Batch, DeltaMessage, Selection } from "./deltas.js" */
import { Batcher } from "./batcher.js";
import { LIMITS, STREAMER } from "./contract.js";
import { applyChanges } from "./delta.js";
import { newEpoch } from "./deltas.js";
import { FIRST_ACK_ID, Outbox } from "./outbox.js";
import { SnapshotQueue } from "./snapshot-queue.js";
import { chunkString } from "./split.js";

/** The client's own pacing (not wire limits: the contract has those). */
export const TIMING = Object.freeze({
  retryMs: 1000, // a delta that did not go out (network): try again after this
  refusedRetryMs: 2000, // after the service refused one: a new epoch, sent after this
  titleDelayMs: 400, // the title is sent once typing in its field pauses this long
});

/**
 * @typedef {"live" | "reconnecting" | "ended" | "moved"} StreamerStatus
 * @typedef {{ streamId: string, to: string, epoch: string, v: number, doc: string,
 *             lang: string, title: string, chunk: [number, number] }} SnapshotData
 * @typedef {{ streamId: string, lang?: string, title?: string, ended?: true }} ControlData
 * @typedef {{ type: "delta", group: string, ackId: number, msg: DeltaMessage }
 *   | { type: "snapshot", to: string, ticket: number, data: SnapshotData }
 *   | { type: "control", data: ControlData }
 *   | { type: "status", state: StreamerStatus }
 *   | { type: "watchers", count: number }
 *   | { type: "epoch", epoch: string, reason: string }
 *   | { type: "warn", what: string, detail?: unknown }
 *   | { type: "restart" }
 *   | { type: "stop" }} StreamerAction
 *   delta: sendToGroup(group, msg, noEcho, ackId), then deltaSent/deltaFailed(ackId);
 *   snapshot: the `snapshot` event, then snapshotSent/snapshotFailed(to, ticket);
 *   control: the `control` event; restart: start the client again; stop: stop it once the
 *   controls already handed out went (the `ended` one last).
 * @typedef {{ ticket: number, parts: string[], next: number, at: { epoch: string, v: number },
 *             lang: string, title: string }} SnapshotSend
 */

export class StreamerState {
  /**
   * @param {object} [options]
   * @param {string} [options.doc]  the editor's document at start (as the editor holds it)
   * @param {Selection | null} [options.sel]  its selection
   * @param {string} [options.lang]
   * @param {string} [options.title]
   * @param {() => string} [options.makeEpoch]  a fresh random epoch
   * @param {Readonly<typeof LIMITS>} [options.limits]  the contract's limits
   * @param {Readonly<typeof STREAMER>} [options.streamer]  the contract's streamer pacing
   * @param {number} [options.firstAckId]
   * @param {Partial<typeof TIMING>} [options.timing]
   */
  constructor({
    doc = "",
    sel = null,
    lang = "",
    title = "",
    makeEpoch = newEpoch,
    limits = LIMITS,
    streamer = STREAMER,
    firstAckId = FIRST_ACK_ID,
    timing = {},
  } = {}) {
    this.limits = limits;
    this.timing = { ...TIMING, ...timing };
    this.makeEpoch = makeEpoch;
    this.doc = doc;
    this.sel = sel;
    this.lang = lang;
    this.title = title.slice(0, limits.titleChars);
    /** @type {string | null} the stream the connection belongs to */
    this.streamId = null;
    this.online = false;
    this.ended = false;
    this.batcher = new Batcher(streamer.batchWindowMs);
    this.outbox = new Outbox({
      epoch: makeEpoch(),
      firstAckId,
      budget: limits.deltaChangesBytes,
      overhead: limits.deltaChangeOverheadBytes,
    });
    this.snapshots = new SnapshotQueue(); // at most one snapshot (and one follow-up) per watcher
    /** @type {Map<string, SnapshotSend>} connection id -> its snapshot being sent */
    this.sending = new Map();
    /** @type {number | null} when to try the outbox again after a failed send */
    this.retryAt = null;
    /** @type {number | null} when to send the title typed last */
    this.titleAt = null;
  }

  get epoch() {
    return this.outbox.epoch;
  }

  get v() {
    return this.outbox.v;
  }

  /** Deltas not yet acknowledged (the one in flight included). */
  get queued() {
    return this.outbox.size;
  }

  // ---- the editor ----

  /**
   * The editor changed: `changes` (sequential protocol changes, maybe none for a selection
   * move) and the selection after them.
   * @param {number} now
   * @param {Change[]} changes
   * @param {Selection | null} sel
   * @returns {StreamerAction[]}
   */
  edit(now, changes, sel) {
    if (changes.length) this.doc = applyChanges(this.doc, changes);
    if (sel) this.sel = sel;
    const { flush } = this.batcher.push(now, changes, sel);
    return flush ? this.#enqueue(flush) : [];
  }

  /** @returns {StreamerAction[]} */
  setTitle(/** @type {number} */ now, /** @type {string} */ title) {
    this.title = title.slice(0, this.limits.titleChars); // the server refuses longer ones
    this.titleAt = now + this.timing.titleDelayMs;
    return [];
  }

  /** @returns {StreamerAction[]} */
  setLang(/** @type {number} */ now, /** @type {string} */ lang) {
    this.lang = lang;
    return this.#control({ lang });
  }

  // ---- the clock ----

  /** @returns {StreamerAction[]} */
  tick(/** @type {number} */ now) {
    /** @type {StreamerAction[]} */
    const actions = [];
    const windowEnd = this.batcher.windowEnd;
    if (windowEnd !== null && now >= windowEnd) {
      const { flush } = this.batcher.onTimer(now);
      if (flush) actions.push(...this.#enqueue(flush));
    }
    if (this.retryAt !== null && now >= this.retryAt) {
      this.retryAt = null;
      actions.push(...this.#pump());
    }
    if (this.titleAt !== null && now >= this.titleAt) {
      this.titleAt = null;
      actions.push(...this.#control({ title: this.title }));
    }
    return actions;
  }

  /** When the shell should call tick() next (null: no timer needed). */
  nextTick() {
    const due = [this.batcher.windowEnd, this.retryAt, this.titleAt].filter((t) => t !== null);
    return due.length ? Math.min(...due) : null;
  }

  // ---- the connection ----

  /**
   * A new connection is up (the SDK's `connected`), for stream `streamId`.
   * @returns {StreamerAction[]}
   */
  connected(/** @type {number} */ now, /** @type {string} */ streamId) {
    if (this.ended) return [];
    this.online = true;
    this.streamId = streamId;
    // sends in flight on the old connection are lost; their watchers ask again
    this.snapshots.clear();
    this.sending.clear();
    /** @type {StreamerAction[]} */
    const actions = [{ type: "status", state: "live" }];
    if (this.outbox.v === 0 && this.outbox.size === 0) {
      actions.push(...this.#enqueue({ changes: [], sel: this.sel })); // announce this epoch
    }
    return actions.concat(this.#pump());
  }

  /** The same connection came back (the service replays what it missed). */
  recovered(/** @type {number} */ now) {
    if (this.ended) return [];
    this.online = true;
    return [/** @type {StreamerAction} */ ({ type: "status", state: "live" }), ...this.#pump()];
  }

  /** The socket closed (it may recover) or the connection ended (a new one will be made). */
  dropped(/** @type {number} */ now) {
    this.online = false;
    return this.ended ? [] : [/** @type {StreamerAction} */ ({ type: "status", state: "reconnecting" })];
  }

  /** The client gave up reconnecting on its own: start it again. */
  stopped(/** @type {number} */ now) {
    this.online = false;
    if (this.ended) return [];
    return /** @type {StreamerAction[]} */ ([{ type: "status", state: "reconnecting" }, { type: "restart" }]);
  }

  /** The streamer ends the stream for everyone. */
  end(/** @type {number} */ now) {
    if (this.ended) return [];
    const actions = this.#control({ ended: true });
    this.ended = true;
    this.retryAt = null;
    this.titleAt = null;
    return actions.concat([{ type: "stop" }, { type: "status", state: "ended" }]);
  }

  /** Another tab of this browser took the stream over. */
  moved(/** @type {number} */ now) {
    if (this.ended) return [];
    this.ended = true;
    this.online = false;
    this.retryAt = null;
    this.titleAt = null;
    return /** @type {StreamerAction[]} */ ([{ type: "stop" }, { type: "status", state: "moved" }]);
  }

  // ---- what the server sends (already parsed JSON) ----

  /** @returns {StreamerAction[]} */
  receive(/** @type {number} */ now, /** @type {unknown} */ msg) {
    if (!msg || typeof msg !== "object") return [];
    const m = /** @type {Record<string, unknown>} */ (msg);
    switch (m.type) {
      case "watchers":
        return Number.isInteger(m.count) ? [{ type: "watchers", count: /** @type {number} */ (m.count) }] : [];
      case "sync-request":
        return this.#answerSync(now, m);
      case "error":
        return [{ type: "warn", what: "server refused a message", detail: { code: m.code, message: m.message } }];
      default:
        return [];
    }
  }

  // ---- how each send ended ----

  /** The delta sent with `ackId` was acknowledged: send the next one. */
  deltaSent(/** @type {number} */ now, /** @type {number} */ ackId) {
    if (!this.outbox.acked(ackId)) return [];
    return this.#pump();
  }

  /**
   * The delta sent with `ackId` did not go through. `refused`: the service said no (not a
   * network problem), so a new epoch starts and every watcher resynchronizes from a snapshot
   * instead of waiting for a version that will never come; otherwise it is sent again later
   * (a new connection or a recovery sends at once).
   * @param {number} now
   * @param {number} ackId
   * @param {{ refused?: boolean, detail?: unknown }} [how]
   * @returns {StreamerAction[]}
   */
  deltaFailed(now, ackId, { refused = false, detail } = {}) {
    if (!this.outbox.failed(ackId)) return [];
    if (!refused) {
      this.retryAt = now + this.timing.retryMs;
      return [];
    }
    this.retryAt = now + this.timing.refusedRetryMs;
    return [{ type: "warn", what: "delta refused", detail }, ...this.#restartEpoch("refused")];
  }

  /** A chunk of the snapshot for `to` went out: send the next, or the follow-up, or nothing. */
  snapshotSent(/** @type {number} */ now, /** @type {string} */ to, /** @type {number} */ ticket) {
    const s = this.sending.get(to);
    if (!s || s.ticket !== ticket) return []; // it outlived its connection
    s.next += 1;
    if (s.next < s.parts.length) return [this.#chunk(to, s)];
    this.sending.delete(to);
    return this.snapshots.finished(to, ticket) ? this.#startSnapshot(now, to) : [];
  }

  /** A chunk for `to` failed (watcher gone, refused, offline): forget it; it asks again. */
  snapshotFailed(/** @type {number} */ now, /** @type {string} */ to, /** @type {number} */ ticket, /** @type {unknown} */ detail) {
    const s = this.sending.get(to);
    if (s && s.ticket === ticket) {
      this.sending.delete(to);
      this.snapshots.failed(to, ticket);
    }
    return [/** @type {StreamerAction} */ ({ type: "warn", what: "snapshot", detail })];
  }

  // ---- inside ----

  /** @returns {StreamerAction[]} */
  #enqueue(/** @type {Batch} */ batch) {
    this.outbox.queue(batch);
    return this.#pump();
  }

  /** The next delta to send, if one may go now (one at a time, in order, each acknowledged). */
  #pump() {
    if (!this.online || this.streamId === null || this.ended) return [];
    const next = this.outbox.next();
    if (!next) return [];
    return [/** @type {StreamerAction} */ ({ type: "delta", group: this.streamId, ackId: next.ackId, msg: next.msg })];
  }

  /** @returns {StreamerAction[]} */
  #restartEpoch(/** @type {string} */ reason) {
    const epoch = this.makeEpoch();
    this.outbox.restart(epoch);
    this.outbox.queue({ changes: [], sel: this.sel }); // announce it
    return [{ type: "epoch", epoch, reason }];
  }

  /** @returns {StreamerAction[]} */
  #control(/** @type {Omit<ControlData, "streamId">} */ fields) {
    // offline, nothing is sent: snapshots carry lang and title for later joiners
    if (!this.online || this.streamId === null || this.ended) return [];
    return [{ type: "control", data: { streamId: this.streamId, ...fields } }];
  }

  /** @returns {StreamerAction[]} */
  #answerSync(/** @type {number} */ now, /** @type {Record<string, unknown>} */ req) {
    if (typeof req.connectionId !== "string" || this.streamId === null || this.ended) return [];
    const current = { epoch: this.outbox.epoch, v: this.outbox.v };
    if (this.snapshots.request(req.connectionId, req.have, current) !== "start") return [];
    return this.#startSnapshot(now, req.connectionId);
  }

  /** Take a snapshot for `to` at a numbered version (pending edits are numbered first). */
  #startSnapshot(/** @type {number} */ now, /** @type {string} */ to) {
    const flush = this.batcher.drain(now);
    const actions = flush ? this.#enqueue(flush) : [];
    const parts = chunkString(this.doc, this.limits.snapshotChunkBytes);
    const at = this.outbox.seal();
    const ticket = this.snapshots.started(to, at);
    /** @type {SnapshotSend} */
    const send = { ticket, parts, next: 0, at, lang: this.lang, title: this.title };
    this.sending.set(to, send);
    actions.push(this.#chunk(to, send));
    return actions;
  }

  /** @returns {StreamerAction} */
  #chunk(/** @type {string} */ to, /** @type {SnapshotSend} */ s) {
    const data = {
      streamId: /** @type {string} */ (this.streamId),
      to,
      epoch: s.at.epoch,
      v: s.at.v,
      doc: s.parts[s.next],
      lang: s.lang,
      title: s.title,
      chunk: /** @type {[number, number]} */ ([s.next, s.parts.length]),
    };
    return { type: "snapshot", to, ticket: s.ticket, data };
  }
}
