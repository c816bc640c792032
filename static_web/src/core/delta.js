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
