// @ts-check
// Protocol changes as plain data: each [from, to, insert] replaces [from, to) of the document
// as left by the previous change. Offsets are UTF-16 code units (JavaScript string indices),
// the same rule the server side applies, so one function decides what a delta means.

/** @typedef {[number, number, string]} Change  [from, to, insert] */

/** Why a change list cannot apply: offsets out of range or a malformed entry. */
export class DeltaError extends Error {}

/**
 * Check a change list against a document length; return the length after applying it.
 * @param {number} length
 * @param {unknown} changes  anything (it may come off the wire)
 * @returns {number}
 */
export function checkChanges(length, changes) {
  if (!Array.isArray(changes)) throw new DeltaError("changes must be an array");
  let len = length;
  for (const c of changes) {
    if (!Array.isArray(c) || c.length !== 3) throw new DeltaError("a change is [from, to, insert]");
    const [from, to, insert] = c;
    if (!Number.isInteger(from) || !Number.isInteger(to) || typeof insert !== "string") {
      throw new DeltaError("a change is [int, int, string]");
    }
    // the editor (CodeMirror) stores "\r\n" and "\r" as one "\n": a "\r" would make the page's
    // document shorter than these offsets count; real documents never contain one
    if (insert.includes("\r")) throw new DeltaError("a change inserts a \\r; line breaks are \\n");
    if (from < 0 || to < from || to > len) {
      throw new DeltaError(`change [${from}, ${to}] outside document of length ${len}`);
    }
    len += insert.length - (to - from);
  }
  return len;
}

/** Apply changes in order to a string; throws DeltaError (and changes nothing) if any is invalid. */
/**
 * @param {string} doc
 * @param {Change[]} changes
 */
export function applyChanges(doc, changes) {
  checkChanges(doc.length, changes);
  let out = doc;
  for (const [from, to, insert] of changes) {
    out = out.slice(0, from) + insert + out.slice(to);
  }
  return out;
}

/**
 * Turn an editor change set (CodeMirror's iterChanges: positions in the OLD document, ascending)
 * into sequential protocol changes. Applied in ascending order, every earlier change has already
 * shifted the text before this one, so its start is exactly its position in the NEW document
 * (fromB); its length in the old document is unchanged.
 *
 * @param {Array<[number, number, number, number, string]>} spans [fromA, toA, fromB, toB, inserted]
 * @returns {Change[]}
 */
export function spansToChanges(spans) {
  return spans.map(([fromA, toA, fromB, , inserted]) => /** @type {Change} */ ([fromB, fromB + (toA - fromA), inserted]));
}

/**
 * Read a CodeMirror ChangeSet (duck-typed, no import) into protocol changes.
 * @param {{ iterChanges(f: (fromA: number, toA: number, fromB: number, toB: number, inserted: { toString(): string }) => void): void }} changeSet
 * @returns {Change[]}
 */
export function changeSetToChanges(changeSet) {
  /** @type {Array<[number, number, number, number, string]>} */
  const spans = [];
  changeSet.iterChanges((fromA, toA, fromB, toB, inserted) => {
    spans.push([fromA, toA, fromB, toB, inserted.toString()]);
  });
  return spansToChanges(spans);
}

/**
 * Merge two consecutive changes into one when the second touches what the first inserted (or
 * lies right beside it): typing "a", "b", "c" becomes one insert of "abc", and a backspace
 * eats into the insert before it. Returns null when they do not touch. Exact: applying the
 * result equals applying `a` then `b`, without needing the document's text.
 * @param {Change} a
 * @param {Change} b
 * @returns {Change | null}
 */
export function mergeChanges(a, b) {
  const [f1, t1, s1] = a;
  const [f2, t2, s2] = b;
  const e1 = f1 + s1.length; // end of a's insert in the document a leaves
  if (f2 > e1 || t2 < f1) return null;
  const head = f2 > f1 ? s1.slice(0, f2 - f1) : "";
  const tail = t2 < e1 ? s1.slice(t2 - f1) : "";
  return [Math.min(f1, f2), t1 + Math.max(0, t2 - e1), head + s2 + tail];
}

/**
 * A sequential change list, shorter where neighbours merge (mergeChanges); an empty change
 * ([x, x, ""]) is dropped. Applying the result equals applying the original list.
 * @param {Change[]} changes
 * @returns {Change[]}
 */
export function compactChanges(changes) {
  /** @type {Change[]} */
  const out = [];
  for (const c of changes) {
    if (c[0] === c[1] && c[2] === "") continue;
    const last = out.length ? out[out.length - 1] : null;
    const merged = last ? mergeChanges(last, c) : null;
    if (merged) {
      if (merged[0] === merged[1] && merged[2] === "") out.pop();
      else out[out.length - 1] = merged;
    } else {
      out.push([c[0], c[1], c[2]]);
    }
  }
  return out;
}
