// @ts-check
// Catch-ups (protocol.md, "Late join from storage"), pure: the streamer keeps the deltas it
// sent most recently in memory, bounded by bytes, so that a watcher who already holds an
// older version of the current epoch (the stored head, or what it had before a gap) gets only
// the deltas it misses, concatenated and compacted, instead of the whole document.
/** @import { Change } from "./delta.js" */
/** @import { DeltaMessage, Selection } from "./deltas.js" */
import { LIMITS, STORAGE } from "./contract.js";
import { compactChanges } from "./delta.js";
import { jsonStringBytes, utf8Bytes } from "./split.js";

/** @typedef {{ v: number, changes: Change[], sel: Selection | null, bytes: number }} Recent */

/** JSON bytes a delta's changes cost, about: inserts plus a fixed overhead per change. */
export function changeBytes(/** @type {Change[]} */ changes, overhead = LIMITS.deltaChangeOverheadBytes) {
  let n = 0;
  for (const c of changes) n += jsonStringBytes(c[2]) + overhead;
  return n;
}

/** The acknowledged deltas of the current epoch, newest last, at most `maxBytes` of changes. */
export class RecentDeltas {
  constructor(maxBytes = STORAGE.historyMaxBytes) {
    this.maxBytes = maxBytes;
    /** @type {string | null} */
    this.epoch = null;
    /** @type {Recent[]} held from index `start` on (older ones are dropped lazily) */
    this.items = [];
    this.start = 0;
    this.bytes = 0;
    this.lastV = 0;
  }

  /** A new epoch begins at version 0: nothing of the old one can answer a catchup. */
  reset(/** @type {string} */ epoch, v = 0) {
    this.epoch = epoch;
    this.items = [];
    this.start = 0;
    this.bytes = 0;
    this.lastV = v;
  }

  /** The delta after the last one held; anything else restarts the record from it. */
  push(/** @type {DeltaMessage} */ msg) {
    if (msg.epoch !== this.epoch || msg.v !== this.lastV + 1) this.reset(msg.epoch, msg.v - 1);
    const bytes = changeBytes(msg.changes);
    this.items.push({ v: msg.v, changes: msg.changes, sel: msg.sel ?? null, bytes });
    this.bytes += bytes;
    this.lastV = msg.v;
    while (this.bytes > this.maxBytes && this.start < this.items.length) {
      this.bytes -= this.items[this.start].bytes;
      this.start += 1;
    }
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
  }

  /** The first version held (lastV + 1 when none is). */
  get firstV() {
    return this.start < this.items.length ? this.items[this.start].v : this.lastV + 1;
  }

  /** The held deltas after version `v` (which must be covered: v >= firstV - 1). */
  after(/** @type {number} */ v) {
    const from = this.start + (v - this.firstV + 1);
    return this.items.slice(Math.max(from, this.start));
  }
}

/**
 * A catchup taking a watcher from `have` to `v`, or null when it cannot (another epoch, not
 * covered by what is held, or too big: then the answer is a snapshot). `pending` are the
 * numbered deltas not yet acknowledged, right after `recent.lastV`, up to `v`.
 * @param {object} o
 * @param {{ epoch: string, v: number }} o.have
 * @param {string} o.epoch  the streamer's current epoch
 * @param {number} o.v  its latest numbered version
 * @param {RecentDeltas} o.recent
 * @param {DeltaMessage[]} o.pending
 * @param {Record<string, unknown>} o.envelope  streamId, to, ticket: the rest of the event
 * @param {number} [o.maxBytes]
 * @returns {Record<string, unknown> | null}  the catchup event's data
 */
export function planCatchup({ have, epoch, v, recent, pending, envelope, maxBytes = LIMITS.catchupBytes }) {
  if (have.epoch !== epoch || recent.epoch !== epoch || have.v > v) return null;
  if (have.v < recent.firstV - 1) return null; // dropped from memory already
  /** @type {Recent[]} */
  const missing = have.v < recent.lastV ? recent.after(have.v) : [];
  for (const m of pending) {
    if (m.v > have.v) missing.push({ v: m.v, changes: m.changes, sel: m.sel ?? null, bytes: changeBytes(m.changes) });
  }
  // exactly the versions have.v + 1 .. v, in order
  let next = have.v + 1;
  let raw = 0;
  for (const m of missing) {
    if (m.v !== next) return null;
    next += 1;
    raw += m.bytes;
  }
  if (next !== v + 1) return null;
  // a long way behind: even before compaction it is far too big to be worth building
  if (raw > 4 * maxBytes) return null;
  /** @type {Change[]} */
  const all = [];
  /** @type {Selection | null} */
  let sel = null;
  for (const m of missing) {
    for (const c of m.changes) all.push(c);
    if (m.sel) sel = m.sel;
  }
  /** @type {Record<string, unknown>} */
  const data = { ...envelope, epoch, from: have.v, v, changes: have.v === v ? [] : compactChanges(all) };
  if (sel && have.v !== v) data.sel = sel;
  return utf8Bytes(JSON.stringify(data)) <= maxBytes ? data : null;
}

/**
 * One catchup for the whole group (protocol.md, "Group catchup"): the deltas after `from` up
 * to `v`, one entry per version, uncompacted, so that every watcher holding any version
 * from..v of the epoch applies just the ones after its own and a watcher already past them
 * ignores them. A join storm then costs the streamer one message per window, not one per
 * watcher. `from` is raised (the oldest entries left out) until it fits `maxBytes`; null when
 * not even the newest version can be covered (then each watcher is answered alone).
 * @param {object} o
 * @param {number} o.from  the oldest version a waiting watcher holds
 * @param {string} o.epoch
 * @param {number} o.v
 * @param {RecentDeltas} o.recent
 * @param {DeltaMessage[]} o.pending
 * @param {Record<string, unknown>} o.envelope  streamId, lang, title
 * @param {number} [o.maxBytes]
 * @returns {Record<string, unknown> | null}  the group message
 */
export function planGroupCatchup({ from, epoch, v, recent, pending, envelope, maxBytes = LIMITS.catchupBytes }) {
  if (recent.epoch !== epoch || from > v) return null;
  from = Math.max(from, recent.firstV - 1);
  /** @type {Recent[]} */
  const missing = from < recent.lastV ? recent.after(from) : [];
  for (const m of pending) {
    if (m.v > from) missing.push({ v: m.v, changes: m.changes, sel: m.sel ?? null, bytes: changeBytes(m.changes) });
  }
  let next = from + 1;
  for (const m of missing) {
    if (m.v !== next) return null;
    next += 1;
  }
  if (next !== v + 1) return null;
  const head = { type: "catchup", ...envelope, epoch, from, v, deltas: [] };
  let size = utf8Bytes(JSON.stringify(head));
  /** @type {unknown[][]} newest first while building, so the cut drops the oldest */
  const entries = [];
  for (let i = missing.length - 1; i >= 0; i--) {
    const m = missing[i];
    const entry = m.sel ? [m.v, m.changes, m.sel] : [m.v, m.changes];
    const bytes = utf8Bytes(JSON.stringify(entry)) + 1;
    if (size + bytes > maxBytes) break;
    size += bytes;
    entries.push(entry);
  }
  if (entries.length < missing.length && entries.length === 0) return null;
  entries.reverse();
  const first = entries.length ? /** @type {number} */ (entries[0][0]) - 1 : v;
  return { ...head, from: first, deltas: entries };
}
