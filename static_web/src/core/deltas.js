// Numbering of outgoing deltas: a batch becomes one or more consecutive delta messages, each
// within the size limit, each taking the document from version v-1 to v.
import { splitChanges, DELTA_BUDGET } from "./split.js";

/** Random epoch (a fresh one per page start) from a crypto-quality source. */
export function newEpoch(getRandomValues = (a) => crypto.getRandomValues(a)) {
  const bytes = getRandomValues(new Uint8Array(9));
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_");
}

/**
 * Build the delta messages for a batch starting after version `v`.
 * The selection travels with the last piece (the one after which it is true).
 */
export function batchToDeltas(epoch, v, batch, budget = DELTA_BUDGET) {
  const pieces = splitChanges(batch.changes, budget);
  return pieces.map((changes, i) => {
    const msg = { type: "delta", epoch, v: v + i + 1, changes };
    if (i === pieces.length - 1 && batch.sel) msg.sel = batch.sel;
    return msg;
  });
}
