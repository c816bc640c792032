// @ts-check
// The streamer's side of protocol.md as pure state: edits, clock ticks, the outcome of every
// send and upload, connection changes and the server's messages in; actions out. The page
// shell (streamer.js) performs the actions (send a delta, a snapshot chunk, a catchup, a
// control event, ask for the watcher count, upload history, show a status) and reports back
// how each send ended; it owns no protocol state. The benchmark's Node driver
// (harness/node/bench-peers.mjs) runs this same class.
//
// What it holds: a mirror of the editor's document (a snapshot is the document at a numbered
// version, so it is taken here), the batcher (leading edge + window), the outbox (numbered
// deltas, one in flight, acknowledged), the snapshot answer policy (SnapshotQueue) and the
// snapshots being sent chunk by chunk (one chunk in flight per watcher); the document at the
// last final version (acknowledged) with the recent deltas before it, which answer catchups
// (catchup.js), and the stored history (history.js), which uploads it. Storage is beside the
// live path, never on it: a delta never waits for an upload, and an upload failure changes
// nothing that is sent live.
/** @import { Change } from "./delta.js" */
/** @import { Batch, DeltaMessage, Selection } from "./deltas.js" */
/** @import { KeyframeSource, UploadAction, UploadResult } from "./history.js" */
/** @import { OutboxEntry } from "./outbox.js" */
import { Batcher } from "./batcher.js";
import { planCatchup, planGroupCatchup, RecentDeltas } from "./catchup.js";
import { LIMITS, STORAGE, STREAMER } from "./contract.js";
import { applyChanges } from "./delta.js";
import { newEpoch } from "./deltas.js";
import { StreamHistory } from "./history.js";
import { MarkerList } from "./markers.js";
import { FIRST_ACK_ID, Outbox } from "./outbox.js";
import { SnapshotQueue } from "./snapshot-queue.js";
import { chunkString } from "./split.js";
import { WatcherCountPacer } from "./watcher-count.js";

/** The client's own pacing (not wire limits: the contract has those). */
export const TIMING = Object.freeze({
  retryMs: 1000, // a delta that did not go out (network): try again after this
  refusedRetryMs: 2000, // after the service refused one: a new epoch, sent after this
  titleDelayMs: 400, // the title is sent once typing in its field pauses this long
  // a sync-request this soon after a catchup waits (at most this long) with the others that
  // come meanwhile, and one group catchup answers them all (protocol.md, "Group catchup")
  catchupGroupMs: 200,
});

/**
 * @typedef {"live" | "reconnecting" | "ended" | "moved"} StreamerStatus
 * @typedef {{ streamId: string, to: string, ticket: string, epoch: string, v: number, doc: string,
 *             lang: string, title: string, chunk: [number, number] }} SnapshotData
 * @typedef {{ streamId: string, lang?: string, title?: string, ended?: true, marker?: string }} ControlData
 * @typedef {{ type: "delta", group: string, ackId: number, msg: DeltaMessage }
 *   | { type: "snapshot", to: string, serial: number, data: SnapshotData }
 *   | { type: "catchup", to: string, serial: number, data: Record<string, unknown> }
 *   | { type: "group-catchup", group: string, msg: Record<string, unknown> }
 *   | { type: "control", data: ControlData }
 *   | { type: "marker", n: number, data: ControlData }
 *   | { type: "markers" }
 *   | { type: "deleted" }
 *   | { type: "count", data: { streamId: string } }
 *   | (UploadAction & { streamId: string })
 *   | { type: "status", state: StreamerStatus }
 *   | { type: "watchers", count: number }
 *   | { type: "epoch", epoch: string, reason: string }
 *   | { type: "warn", what: string, detail?: unknown }
 *   | { type: "restart" }
 *   | { type: "stop" }} StreamerAction
 *   delta: sendToGroup(group, msg, noEcho, ackId), then deltaSent/deltaFailed(ackId);
 *   snapshot: the `snapshot` event, then snapshotSent/snapshotFailed(to, serial);
 *   catchup: the `catchup` event, then catchupSent/catchupFailed(to, serial);
 *   group-catchup: sendToGroup(group, msg, noEcho), nothing reported back (a watcher it
 *   missed asks again);
 *   control: the `control` event; count: the `watchers` event (its reply is a message);
 *   upload: POST the body to /api/streams/{streamId}/{kind} with the owner key, then
 *   uploaded(serial, result) (not for keepalive uploads: the page is going);
 *   marker: the `control` event of marker `n`, then markerSent(n) / markerFailed(n, ...);
 *   markers: the marker list changed; deleted: the owner's recording is deleted (uploads stop);
 *   restart: start the client again; stop: stop it once the controls already handed out
 *   went (the `ended` one last).
 * @typedef {{ serial: number, ticket: string, parts: string[], next: number,
 *             at: { epoch: string, v: number }, lang: string, title: string }} SnapshotSend
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
   * @param {Readonly<typeof STORAGE>} [options.storage]  the contract's storage numbers
   * @param {(now: number) => number} [options.wall]  this clock to wall-clock ms (stored times)
   * @param {number} [options.firstAckId]
   * @param {Partial<typeof TIMING>} [options.timing]
   * @param {boolean} [options.record]  the "Record this stream" setting (protocol.md, "Replay")
   */
  constructor({
    doc = "",
    sel = null,
    lang = "",
    title = "",
    makeEpoch = newEpoch,
    limits = LIMITS,
    streamer = STREAMER,
    storage = STORAGE,
    wall = (now) => Math.round(now),
    firstAckId = FIRST_ACK_ID,
    timing = {},
    record = true,
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
    /** @type {Map<string, string>} connection id -> the ticket of its sync-request */
    this.tickets = new Map();
    /** @type {Map<string, { serial: number, have: string }>} catchups not acknowledged yet, per watcher */
    this.catchups = new Map();
    this.catchupSerials = 0;
    // join storms: when the last catchup went, and the sync-requests waiting for one group catchup
    this.lastCatchupAt = -Infinity;
    /** @type {{ due: number, members: Map<string, { ticket: string, have: { epoch: string, v: number } }> } | null} */
    this.group = null;
    // the last final (acknowledged) version and its document: what catchups and keyframes use
    this.finalV = 0;
    this.finalDoc = doc;
    this.recent = new RecentDeltas(storage.historyMaxBytes);
    this.recent.reset(this.outbox.epoch);
    this.history = new StreamHistory({ storage, limits, wall });
    this.history.startEpoch(0, this.outbox.epoch);
    this.counts = new WatcherCountPacer({ countMs: streamer.watcherCountMs, idleMs: streamer.watcherCountIdleMs });
    /** @type {number | null} when to try the outbox again after a failed send */
    this.retryAt = null;
    /** @type {number | null} when to send the title typed last */
    this.titleAt = null;
    this.record = record;
    // keyframes carry `record` once it is off or was turned on here (without it the setting
    // stays as stored, so a stream recording as usual sends keyframes as before)
    /** @type {boolean | undefined} */
    this.recordField = record ? undefined : false;
    this.wall = wall;
    this.markers = new MarkerList();
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
    return flush ? this.#enqueue(now, flush) : [];
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
    this.history.control(now, { lang });
    return this.#control({ lang }).concat(this.#pumpHistory(now));
  }

  // ---- replay controls (markers, the record setting, deletion) ----

  /**
   * The streamer drops a marker (its label checked with checkLabel): live now (or at the
   * next connection) and in the next stored segment, once each.
   * @returns {StreamerAction[]}
   */
  marker(/** @type {number} */ now, /** @type {string} */ label) {
    if (this.ended) return [];
    this.markers.add(this.wall(now), label);
    this.history.control(now, { marker: label });
    return [/** @type {StreamerAction} */ ({ type: "markers" }), ...this.#sendMarkers(), ...this.#pumpHistory(now)];
  }

  /** The live send of marker `n` was acknowledged. */
  markerSent(/** @type {number} */ now, /** @type {number} */ n) {
    this.markers.settled(n, null);
    return [];
  }

  /** The live send of marker `n` failed: not sent again (storage has it); a refusal is shown. */
  markerFailed(/** @type {number} */ now, /** @type {number} */ n, /** @type {{ refused?: boolean, error?: string }} */ failure) {
    this.markers.settled(n, failure);
    return [/** @type {StreamerAction} */ ({ type: "markers" })];
  }

  /** "Record this stream" was turned on or off (confirmed): a keyframe carries the setting. */
  setRecord(/** @type {number} */ now, /** @type {boolean} */ record) {
    if (record === this.record) return [];
    this.record = record;
    this.recordField = record;
    this.history.recordChanged(now);
    return this.#pumpHistory(now);
  }

  /** The owner deleted the recording (DELETE answered 204): nothing more is uploaded. */
  recordingDeleted(/** @type {number} */ now) {
    if (this.history.deleted) return [];
    this.history.deleted = true;
    this.history.stop("the recording was deleted");
    return [/** @type {StreamerAction} */ ({ type: "deleted" })];
  }

  /** @returns {StreamerAction[]} */
  #sendMarkers() {
    if (!this.online || this.streamId === null || this.ended) return [];
    const streamId = this.streamId;
    return this.markers.takeQueued().map((m) => /** @type {StreamerAction} */ ({ type: "marker", n: m.n, data: { streamId, marker: m.label } }));
  }

  // ---- the clock ----

  /** @returns {StreamerAction[]} */
  tick(/** @type {number} */ now) {
    /** @type {StreamerAction[]} */
    const actions = [];
    const windowEnd = this.batcher.windowEnd;
    if (windowEnd !== null && now >= windowEnd) {
      const { flush } = this.batcher.onTimer(now);
      if (flush) actions.push(...this.#enqueue(now, flush));
    }
    if (this.retryAt !== null && now >= this.retryAt) {
      this.retryAt = null;
      actions.push(...this.#pump());
    }
    if (this.titleAt !== null && now >= this.titleAt) {
      this.titleAt = null;
      this.history.control(now, { title: this.title });
      actions.push(...this.#control({ title: this.title }));
    }
    if (this.group !== null && now >= this.group.due) actions.push(...this.#flushGroup(now));
    if (this.online && !this.ended && this.counts.due(now)) actions.push(this.#count());
    actions.push(...this.history.tick(now, this.#source).map((a) => this.#upload(a)));
    return actions;
  }

  /** When the shell should call tick() next (null: no timer needed). */
  nextTick() {
    const count = this.online && !this.ended ? this.counts.nextAt() : null;
    const group = this.group?.due ?? null;
    const due = [this.batcher.windowEnd, this.retryAt, this.titleAt, count, group, this.history.nextTick()].filter((t) => t !== null);
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
    this.tickets.clear();
    this.catchups.clear();
    this.group = null;
    this.history.start();
    this.counts.connected(now);
    /** @type {StreamerAction[]} */
    const actions = [{ type: "status", state: "live" }, this.#count()];
    if (this.outbox.v === 0 && this.outbox.size === 0) {
      actions.push(...this.#enqueue(now, { changes: [], sel: this.sel })); // announce this epoch
    }
    return actions.concat(this.#pump(), this.#sendMarkers(), this.#pumpHistory(now));
  }

  /** The same connection came back (the service replays what it missed). */
  recovered(/** @type {number} */ now) {
    if (this.ended) return [];
    this.online = true;
    this.counts.connected(now);
    return [/** @type {StreamerAction} */ ({ type: "status", state: "live" }), this.#count(), ...this.#pump(), ...this.#sendMarkers()];
  }

  /** The socket closed (it may recover) or the connection ended (a new one will be made). */
  dropped(/** @type {number} */ now) {
    this.online = false;
    this.counts.paused();
    return this.ended ? [] : [/** @type {StreamerAction} */ ({ type: "status", state: "reconnecting" })];
  }

  /** The client gave up reconnecting on its own: start it again. */
  stopped(/** @type {number} */ now) {
    this.online = false;
    this.counts.paused();
    if (this.ended) return [];
    return /** @type {StreamerAction[]} */ ([{ type: "status", state: "reconnecting" }, { type: "restart" }]);
  }

  /** The streamer ends the stream for everyone. */
  end(/** @type {number} */ now) {
    if (this.ended) return [];
    const actions = this.#control({ ended: true });
    if (this.titleAt !== null) this.history.control(now, { title: this.title });
    this.history.control(now, { ended: true }); // the history still goes up after this
    this.ended = true;
    this.retryAt = null;
    this.titleAt = null;
    return actions.concat([{ type: "stop" }, { type: "status", state: "ended" }], this.#pumpHistory(now));
  }

  /** Another tab of this browser took the stream over. */
  moved(/** @type {number} */ now) {
    if (this.ended) return [];
    this.ended = true;
    this.online = false;
    this.retryAt = null;
    this.titleAt = null;
    this.history.stop("another page streams this stream now"); // its epoch is the stored one
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
    const entry = this.outbox.acked(ackId);
    if (!entry) return [];
    this.#final(entry);
    return this.#pump().concat(this.#pumpHistory(now));
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
    return [{ type: "warn", what: "delta refused", detail }, ...this.#restartEpoch(now, "refused")];
  }

  /** A chunk of the snapshot for `to` went out: send the next, or the follow-up, or nothing. */
  snapshotSent(/** @type {number} */ now, /** @type {string} */ to, /** @type {number} */ serial) {
    const s = this.sending.get(to);
    if (!s || s.serial !== serial) return []; // it outlived its connection
    s.next += 1;
    if (s.next < s.parts.length) return [this.#chunk(to, s)];
    this.sending.delete(to);
    if (this.snapshots.finished(to, serial)) return this.#startSnapshot(now, to);
    this.tickets.delete(to);
    return [];
  }

  /** A chunk for `to` failed (watcher gone, refused, offline): forget it; it asks again. */
  snapshotFailed(/** @type {number} */ now, /** @type {string} */ to, /** @type {number} */ serial, /** @type {unknown} */ detail) {
    const s = this.sending.get(to);
    if (s && s.serial === serial) {
      this.sending.delete(to);
      this.tickets.delete(to);
      this.snapshots.failed(to, serial);
    }
    return [/** @type {StreamerAction} */ ({ type: "warn", what: "snapshot", detail })];
  }

  /** The catchup for `to` was taken by the service: a later ask of that watcher is answered anew. */
  catchupSent(/** @type {number} */ now, /** @type {string} */ to, /** @type {number} */ serial) {
    if (this.catchups.get(to)?.serial === serial) this.catchups.delete(to);
    return [];
  }

  /**
   * The catchup for `to` did not go (the service did not take it: offline, overloaded): the
   * watcher asks again and is answered again. (A refusal by the Function App comes as an
   * `error` message instead; a catchup is built within the size it checks.)
   */
  catchupFailed(/** @type {number} */ now, /** @type {string} */ to, /** @type {number} */ serial, /** @type {unknown} */ detail) {
    if (this.catchups.get(to)?.serial === serial) this.catchups.delete(to);
    return [/** @type {StreamerAction} */ ({ type: "warn", what: "catchup", detail })];
  }

  /**
   * How the history upload `serial` ended.
   * @param {number} now
   * @param {number} serial
   * @param {UploadResult} result
   * @returns {StreamerAction[]}
   */
  uploaded(now, serial, result) {
    const before = this.history.stopped;
    const actions = this.history.uploaded(now, serial, result, this.#source).map((a) => this.#upload(a));
    if (!before && this.history.stopped) actions.push({ type: "warn", what: "history not stored", detail: this.history.stopped });
    if (!before && this.history.deleted) actions.push({ type: "deleted" });
    return actions;
  }

  // ---- the page ----

  /** The page is hidden (it may never come back): what is being collected goes up now. */
  hidden(/** @type {number} */ now) {
    this.history.cutNow(now);
    return this.#pumpHistory(now);
  }

  /**
   * The page is going (pagehide): pending edits are numbered and final now (nothing more will
   * fold into them), and what storage has not got yet goes as one keepalive upload.
   * @returns {StreamerAction[]}
   */
  pagehide(/** @type {number} */ now) {
    const flush = this.ended ? null : this.batcher.drain(now);
    const actions = flush ? this.#enqueue(now, flush) : [];
    this.outbox.seal();
    for (const entry of this.outbox.entries) this.#final(entry);
    return actions.concat(this.history.flush(now, this.#source).map((a) => this.#upload(a)));
  }

  // ---- inside ----

  /** @returns {StreamerAction[]} */
  #enqueue(/** @type {number} */ now, /** @type {Batch} */ batch) {
    this.outbox.queue(batch, now);
    return this.#pump();
  }

  /** The next delta to send, if one may go now (one at a time, in order, each acknowledged). */
  #pump() {
    if (!this.online || this.streamId === null || this.ended) return [];
    const next = this.outbox.next();
    if (!next) return [];
    return [/** @type {StreamerAction} */ ({ type: "delta", group: this.streamId, ackId: next.ackId, msg: next.msg })];
  }

  /** A delta is final (acknowledged, or sealed as the page goes): keep it and store it. */
  #final(/** @type {OutboxEntry} */ entry) {
    const msg = entry.msg;
    if (msg.epoch !== this.outbox.epoch || msg.v !== this.finalV + 1) return;
    this.finalDoc = applyChanges(this.finalDoc, msg.changes);
    this.finalV = msg.v;
    this.recent.push(msg);
    this.history.record(entry.at, msg);
  }

  /** The document at the last final version, for a keyframe. */
  #source = /** @returns {KeyframeSource} */ () => ({
    epoch: this.outbox.epoch,
    v: this.finalV,
    doc: this.finalDoc,
    lang: this.lang,
    title: this.title,
    ...(this.recordField === undefined ? {} : { record: this.recordField }),
  });

  /** @returns {StreamerAction[]} */
  #pumpHistory(/** @type {number} */ now) {
    return this.history.pump(now, this.#source).map((a) => this.#upload(a));
  }

  /** @returns {StreamerAction} */
  #upload(/** @type {UploadAction} */ a) {
    return { ...a, streamId: /** @type {string} */ (this.streamId) };
  }

  /** @returns {StreamerAction} */
  #count() {
    return { type: "count", data: { streamId: /** @type {string} */ (this.streamId) } };
  }

  /** @returns {StreamerAction[]} */
  #restartEpoch(/** @type {number} */ now, /** @type {string} */ reason) {
    const epoch = this.makeEpoch();
    // what was queued and what is being batched is part of the new epoch's first document
    this.batcher.drain(now);
    this.outbox.restart(epoch);
    this.finalV = 0;
    this.finalDoc = this.doc;
    this.recent.reset(epoch);
    this.history.startEpoch(now, epoch);
    this.outbox.queue({ changes: [], sel: this.sel }, now); // announce it
    return [/** @type {StreamerAction} */ ({ type: "epoch", epoch, reason })].concat(this.#pumpHistory(now));
  }

  /** @returns {StreamerAction[]} */
  #control(/** @type {Omit<ControlData, "streamId">} */ fields) {
    // offline, nothing is sent: snapshots carry lang and title for later joiners
    if (!this.online || this.streamId === null || this.ended) return [];
    return [{ type: "control", data: { streamId: this.streamId, ...fields } }];
  }

  /** @returns {StreamerAction[]} */
  #answerSync(/** @type {number} */ now, /** @type {Record<string, unknown>} */ req) {
    const to = req.connectionId;
    const ticket = req.ticket;
    if (typeof to !== "string" || typeof ticket !== "string" || this.streamId === null || this.ended) return [];
    this.counts.syncRequest();
    const have = this.#groupable(now, to, req.have);
    if (have) {
      this.group ??= { due: now + this.timing.catchupGroupMs, members: new Map() };
      this.group.members.set(to, { ticket, have });
      return [];
    }
    return this.#answerOne(now, to, ticket, req.have);
  }

  /** A watcher's own answer: a targeted catchup when memory holds what it misses, else a snapshot. */
  #answerOne(/** @type {number} */ now, /** @type {string} */ to, /** @type {string} */ ticket, /** @type {unknown} */ have) {
    const catchup = this.#catchup(to, ticket, have);
    if (catchup?.type === "catchup") this.lastCatchupAt = now;
    if (catchup) return catchup.type === "warn" ? [] : [catchup];
    this.tickets.set(to, ticket);
    const current = { epoch: this.outbox.epoch, v: this.outbox.v };
    if (this.snapshots.request(to, have, current) !== "start") return [];
    return this.#startSnapshot(now, to);
  }

  /**
   * The `have` of a sync-request that joins the group catchup, or null: it must be answerable
   * from memory (this epoch, not older than the deltas held), and come while a group waits or
   * soon after a targeted catchup (a single join keeps its own answer; a storm shares one).
   * @returns {{ epoch: string, v: number } | null}
   */
  #groupable(/** @type {number} */ now, /** @type {string} */ to, /** @type {unknown} */ have) {
    if (this.group === null && now - this.lastCatchupAt >= this.timing.catchupGroupMs) return null;
    // (a snapshot in flight for it does not matter: the group catchup is newer, so the
    // watcher ignores the snapshot when it comes, and no follow-up snapshot is taken)
    if (!this.online) return null;
    const h = /** @type {{ epoch?: unknown, v?: unknown } | null} */ (have);
    if (!h || typeof h !== "object" || h.epoch !== this.outbox.epoch || this.recent.epoch !== h.epoch) return null;
    const v = h.v;
    if (!Number.isInteger(v) || /** @type {number} */ (v) < this.recent.firstV - 1 || /** @type {number} */ (v) > this.outbox.v) return null;
    return { epoch: h.epoch, v: /** @type {number} */ (v) };
  }

  /**
   * One group catchup from the oldest version a waiting watcher holds (cut to the contract's
   * size); each watcher it cannot serve (older than what fits, another epoch by now) gets its
   * own answer as before.
   * @returns {StreamerAction[]}
   */
  #flushGroup(/** @type {number} */ now) {
    const group = /** @type {NonNullable<StreamerState["group"]>} */ (this.group);
    this.group = null;
    if (!this.online || this.streamId === null || this.ended) return []; // they ask again
    const epoch = this.outbox.epoch;
    let from = Infinity;
    for (const m of group.members.values()) if (m.have.epoch === epoch) from = Math.min(from, m.have.v);
    const msg =
      from === Infinity
        ? null
        : planGroupCatchup({
            from,
            epoch,
            v: this.outbox.v,
            recent: this.recent,
            pending: this.outbox.entries.map((e) => e.msg),
            envelope: { streamId: this.streamId, lang: this.lang, title: this.title },
            maxBytes: this.limits.catchupBytes,
          });
    /** @type {StreamerAction[]} */
    const actions = [];
    if (msg) {
      this.outbox.seal();
      this.lastCatchupAt = now;
      actions.push({ type: "group-catchup", group: this.streamId, msg });
    }
    const served = msg ? /** @type {number} */ (msg.from) : Infinity;
    for (const [to, m] of group.members) {
      if (m.have.epoch !== epoch || m.have.v < served) actions.push(...this.#answerOne(now, to, m.ticket, m.have));
    }
    return actions;
  }

  /**
   * Only the deltas `have` misses, when memory holds them and they fit one event; the versions
   * up to the catchup's are final from now on (nothing more folds into them).
   * @returns {StreamerAction | null}
   */
  #catchup(/** @type {string} */ to, /** @type {string} */ ticket, /** @type {unknown} */ have) {
    if (this.snapshots.pending.has(to)) return null; // the snapshot in flight answers it
    const h = /** @type {{ epoch?: unknown, v?: unknown } | null} */ (have);
    if (!h || typeof h !== "object" || typeof h.epoch !== "string" || !Number.isInteger(h.v) || /** @type {number} */ (h.v) < 0) return null;
    // a repeat of the request a catchup in flight answers (a busy service acknowledges late):
    // answering every repeat again would only lengthen the queue it waits in
    const key = `${h.epoch}:${h.v}`;
    if (this.catchups.get(to)?.have === key) return { type: "warn", what: "catchup in flight", detail: to };
    const data = planCatchup({
      have: { epoch: h.epoch, v: /** @type {number} */ (h.v) },
      epoch: this.outbox.epoch,
      v: this.outbox.v,
      recent: this.recent,
      pending: this.outbox.entries.map((e) => e.msg),
      // lang and title as a snapshot has them: what the watcher read from storage may be older
      envelope: { streamId: /** @type {string} */ (this.streamId), to, ticket, lang: this.lang, title: this.title },
      maxBytes: this.limits.catchupBytes,
    });
    if (!data) return null;
    this.outbox.seal();
    const serial = ++this.catchupSerials;
    this.catchups.set(to, { serial, have: key });
    return { type: "catchup", to, serial, data };
  }

  /** Take a snapshot for `to` at a numbered version (pending edits are numbered first). */
  #startSnapshot(/** @type {number} */ now, /** @type {string} */ to) {
    const flush = this.batcher.drain(now);
    const actions = flush ? this.#enqueue(now, flush) : [];
    const parts = chunkString(this.doc, this.limits.snapshotChunkBytes);
    const at = this.outbox.seal();
    const serial = this.snapshots.started(to, at);
    /** @type {SnapshotSend} */
    const send = { serial, ticket: this.tickets.get(to) ?? "", parts, next: 0, at, lang: this.lang, title: this.title };
    this.sending.set(to, send);
    actions.push(this.#chunk(to, send));
    return actions;
  }

  /** @returns {StreamerAction} */
  #chunk(/** @type {string} */ to, /** @type {SnapshotSend} */ s) {
    const data = {
      streamId: /** @type {string} */ (this.streamId),
      to,
      ticket: s.ticket,
      epoch: s.at.epoch,
      v: s.at.v,
      doc: s.parts[s.next],
      lang: s.lang,
      title: s.title,
      chunk: /** @type {[number, number]} */ ([s.next, s.parts.length]),
    };
    return { type: "snapshot", to, serial: s.serial, data };
  }
}
