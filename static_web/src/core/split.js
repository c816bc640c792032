// @ts-check
// Size limits of protocol.md: one delta message < 256 KiB, snapshot doc chunks <= 512 KiB.
// Sizes are measured as the UTF-8 bytes of the JSON encoding, which is what goes on the wire.

/** @import { Change } from "./delta.js" */
import { LIMITS } from "./contract.js";

export const DELTA_BUDGET = LIMITS.deltaChangesBytes; // bytes of JSON for a delta's inserts, envelope excluded
export const SNAPSHOT_CHUNK_BUDGET = LIMITS.snapshotChunkBytes; // bytes of JSON for one snapshot chunk's doc
export const CHANGE_OVERHEAD = LIMITS.deltaChangeOverheadBytes; // "[1234567890,1234567890,\"\"]," and friends

/** UTF-8 bytes of one UTF-16 unit once JSON-escaped (a surrogate pair costs 4 for two units). */
function unitCost(/** @type {number} */ code) {
  if (code === 0x22 || code === 0x5c) return 2; // \" and \\
  if (code < 0x20) return code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d ? 2 : 6;
  if (code < 0x80) return 1;
  if (code < 0x800) return 2;
  if (code >= 0xd800 && code <= 0xdfff) return 6; // a lone surrogate is escaped as \uXXXX
  return 3;
}

function isPairAt(/** @type {string} */ s, /** @type {number} */ i) {
  const hi = s.charCodeAt(i);
  if (hi < 0xd800 || hi > 0xdbff || i + 1 >= s.length) return false;
  const lo = s.charCodeAt(i + 1);
  return lo >= 0xdc00 && lo <= 0xdfff;
}

/**
 * UTF-8 bytes of a string as sent, e.g. the output of JSON.stringify (which escapes lone
 * surrogates, so every surrogate there is half of a pair).
 */
export function utf8Bytes(/** @type {string} */ s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (isPairAt(s, i)) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** JSON byte size of a string's contents (without the quotes). */
export function jsonStringBytes(/** @type {string} */ s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    if (isPairAt(s, i)) {
      n += 4;
      i++;
    } else {
      n += unitCost(s.charCodeAt(i));
    }
  }
  return n;
}

/**
 * Largest end index e > start such that s.slice(start, e) costs <= budget bytes, never ending
 * between the two halves of a surrogate pair (always at least one code point).
 * @param {string} s
 * @param {number} start
 * @param {number} budget
 */
export function cutPoint(s, start, budget) {
  let bytes = 0;
  let i = start;
  while (i < s.length) {
    const isPair = isPairAt(s, i);
    const width = isPair ? 2 : 1;
    const cost = isPair ? 4 : unitCost(s.charCodeAt(i));
    if (bytes + cost > budget && i > start) break;
    bytes += cost;
    i += width;
  }
  return i;
}

/** Split a string into consecutive pieces of at most `budget` JSON bytes each. */
export function chunkString(/** @type {string} */ s, budget = SNAPSHOT_CHUNK_BUDGET) {
  if (s.length === 0) return [""];
  const out = [];
  for (let i = 0; i < s.length; ) {
    const end = cutPoint(s, i, budget);
    out.push(s.slice(i, end));
    i = end;
  }
  return out;
}

/**
 * Group sequential changes into batches whose JSON stays within budget. A change whose insert
 * alone is too big becomes a replace of its range followed by appends at the advancing end;
 * applying every batch in order gives exactly the same document as the original list.
 * @param {Change[]} changes
 * @returns {Change[][]}
 */
export function splitChanges(changes, budget = DELTA_BUDGET, overhead = CHANGE_OVERHEAD) {
  /** @type {Change[][]} */
  const batches = [];
  /** @type {Change[]} */
  let current = [];
  let used = 0;
  const push = (/** @type {Change} */ change, /** @type {number} */ cost) => {
    if (current.length > 0 && used + cost > budget) {
      batches.push(current);
      current = [];
      used = 0;
    }
    current.push(change);
    used += cost;
  };
  for (const [from, to, insert] of changes) {
    const cost = jsonStringBytes(insert) + overhead;
    if (cost <= budget) {
      push([from, to, insert], cost);
      continue;
    }
    let pos = from;
    let first = true;
    for (let i = 0; i < insert.length; ) {
      const end = cutPoint(insert, i, budget - overhead);
      const piece = insert.slice(i, end);
      push([pos, first ? to : pos, piece], jsonStringBytes(piece) + overhead);
      pos += piece.length;
      first = false;
      i = end;
    }
  }
  if (current.length > 0 || batches.length === 0) batches.push(current);
  return batches;
}
