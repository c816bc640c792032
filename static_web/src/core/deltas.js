// @ts-check
// Numbering of outgoing deltas: a batch becomes one or more consecutive delta messages, each
// within the size limit, each taking the document from version v-1 to v.
/** @import { Change } from "./delta.js" */
import { splitChanges, CHANGE_OVERHEAD, DELTA_BUDGET } from "./split.js";

/** @typedef {[number, number]} Selection  [anchor, head] */
/** @typedef {{ changes: Change[], sel: Selection | null }} Batch  what the editor did in one go */
/** @typedef {{ type: "delta", epoch: string, v: number, changes: Change[], sel?: Selection }} DeltaMessage */

/** Random epoch (a fresh one per page start) from a crypto-quality source. */
export function newEpoch(getRandomValues = (/** @type {Uint8Array<ArrayBuffer>} */ a) => crypto.getRandomValues(a)) {
  const bytes = getRandomValues(new Uint8Array(9));
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_");
}

/**
 * Build the delta messages for a batch starting after version `v`.
 * The selection travels with the last piece (the one after which it is true).
 * @param {string} epoch
 * @param {number} v
 * @param {Batch} batch
 * @param {number} [budget]
 * @param {number} [overhead]
 * @returns {DeltaMessage[]}
 */
export function batchToDeltas(epoch, v, batch, budget = DELTA_BUDGET, overhead = CHANGE_OVERHEAD) {
  const pieces = splitChanges(batch.changes, budget, overhead);
  return pieces.map((changes, i) => {
    /** @type {DeltaMessage} */
    const msg = { type: "delta", epoch, v: v + i + 1, changes };
    if (i === pieces.length - 1 && batch.sel) msg.sel = batch.sel;
    return msg;
  });
}

/**
 * Number a batch for the outbox. `tail` is the last queued delta if it has never been sent
 * (only the oldest delta is ever in flight), else null. The batch is then folded into it, so
 * a slow acknowledgement (a long round trip, a reconnect) yields a few larger deltas instead of
 * a queue of one-keystroke deltas drained one round trip each. Versions up to `sealed` are
 * final (a snapshot was taken at that version: its receivers drop that delta as already seen).
 * Returns {replace: whether the tail is replaced, deltas: the messages to queue, v: new version}.
 * @param {DeltaMessage | null} tail
 * @param {string} epoch
 * @param {number} v
 * @param {Batch} batch
 * @param {{ sealed?: number, budget?: number, overhead?: number }} [options]
 * @returns {{ replace: boolean, deltas: DeltaMessage[], v: number }}
 */
export function queueBatch(tail, epoch, v, batch, { sealed = 0, budget = DELTA_BUDGET, overhead = CHANGE_OVERHEAD } = {}) {
  if (!tail || tail.epoch !== epoch || tail.v !== v || tail.v <= sealed) {
    const deltas = batchToDeltas(epoch, v, batch, budget, overhead);
    return { replace: false, deltas, v: v + deltas.length };
  }
  const folded = { changes: tail.changes.concat(batch.changes), sel: batch.sel ?? tail.sel ?? null };
  const deltas = batchToDeltas(epoch, tail.v - 1, folded, budget, overhead);
  return { replace: true, deltas, v: tail.v - 1 + deltas.length };
}
