// @ts-check
// The streamer's numbered deltas not yet acknowledged, in version order, pure. Only the oldest
// is ever in flight, so the service sees versions in order and none is lost or reordered; a
// batch queued behind it folds into the never-sent tail (deltas.js queueBatch).
//
// Why the head never changes once it has been handed out: a send that failed may still have
// reached the service, and its retry carries the same ack id so that the service can drop it
// as a duplicate; a retry with other changes under that id would be dropped with them.
/** @import { Batch, DeltaMessage } from "./deltas.js" */
import { queueBatch } from "./deltas.js";
import { CHANGE_OVERHEAD, DELTA_BUDGET } from "./split.js";

/** Our own ack ids start far from the SDK's (which count from 1), so the two never collide. */
export const FIRST_ACK_ID = 1_000_000_000;

/** @typedef {{ msg: DeltaMessage, ackId: number, at: number }} OutboxEntry  at: when it was numbered */

export class Outbox {
  /**
   * @param {object} options
   * @param {string} options.epoch  the epoch the first deltas are numbered in
   * @param {number} [options.firstAckId]
   * @param {number} [options.budget]  bytes of JSON for a delta's changes (contract)
   * @param {number} [options.overhead]  bytes counted per change on top of its insert (contract)
   */
  constructor({ epoch, firstAckId = FIRST_ACK_ID, budget = DELTA_BUDGET, overhead = CHANGE_OVERHEAD }) {
    this.epoch = epoch;
    this.v = 0; // the last version numbered
    this.sealed = 0; // the last version a snapshot was taken at: no more changes may join it
    /** @type {OutboxEntry[]} */
    this.entries = [];
    /** @type {number | null} the ack id of the entry in flight */
    this.inFlight = null;
    this.nextAckId = firstAckId;
    this.budget = budget;
    this.overhead = overhead;
  }

  /**
   * Number a batch (fold it into the never-sent tail when it can); returns what was numbered.
   * @param {Batch} batch
   * @param {number} [at]  the time (a folded tail takes the newer one)
   */
  queue(batch, at = 0) {
    // only entries[0] may have been sent: a later one can still take more changes
    const tail = this.entries.length > 1 ? this.entries[this.entries.length - 1].msg : null;
    const queued = queueBatch(tail, this.epoch, this.v, batch, {
      sealed: this.sealed,
      budget: this.budget,
      overhead: this.overhead,
    });
    if (queued.replace) this.entries.pop();
    this.v = queued.v;
    const added = queued.deltas.map((msg) => ({ msg, ackId: this.nextAckId++, at }));
    this.entries.push(...added);
    return added;
  }

  /** A snapshot is taken now: the versions numbered so far are final. */
  seal() {
    this.sealed = this.v;
    return { epoch: this.epoch, v: this.v };
  }

  /** The entry to send now, or null (one is in flight already, or nothing is queued). */
  next() {
    if (this.inFlight !== null || this.entries.length === 0) return null;
    this.inFlight = this.entries[0].ackId;
    return this.entries[0];
  }

  /** The service acknowledged `ackId`; returns the entry if it was the one in flight. */
  acked(/** @type {number} */ ackId) {
    if (ackId !== this.inFlight) return null;
    this.inFlight = null;
    return this.entries.shift() ?? null;
  }

  /** Sending `ackId` failed; true if it was the one in flight (it stays queued, to retry). */
  failed(/** @type {number} */ ackId) {
    if (ackId !== this.inFlight) return false;
    this.inFlight = null;
    return true;
  }

  /** Start numbering again from version 1 of `epoch`; whatever was queued is dropped. */
  restart(/** @type {string} */ epoch) {
    this.entries = [];
    this.inFlight = null;
    this.epoch = epoch;
    this.v = 0;
    this.sealed = 0;
  }

  get size() {
    return this.entries.length;
  }
}
