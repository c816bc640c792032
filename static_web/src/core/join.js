// @ts-check
// The stored join state (GET /api/streams/{id}, protocol.md "Read endpoint") turned into a
// document, pure: the latest keyframe with every segment after it applied in order, with the
// same delta application as live deltas (delta.js). Anything that does not add up gives
// null, and the watcher joins the old way (a snapshot from the streamer).
/** @import { Change } from "./delta.js" */
import { applyChanges, DeltaError } from "./delta.js";

/**
 * @typedef {{ epoch: string, v: number, doc: string, lang: string | null, title: string | null,
 *             ended: boolean, sel: [number, number] | null }} StoredDocument
 */

const isNat = (/** @type {unknown} */ x) => Number.isInteger(x) && /** @type {number} */ (x) >= 0;
const isObject = (/** @type {unknown} */ x) => Boolean(x) && typeof x === "object" && !Array.isArray(x);

/** @returns {sel is [number, number]} */
function isSel(/** @type {unknown} */ sel, /** @type {number} */ length) {
  return Array.isArray(sel) && sel.length === 2 && sel.every((x) => isNat(x) && x <= length);
}

/**
 * @param {unknown} state  the parsed JSON answer
 * @returns {StoredDocument | null}
 */
export function replayJoinState(state) {
  if (!isObject(state)) return null;
  const s = /** @type {Record<string, any>} */ (state);
  const kf = s.keyframe;
  if (!isObject(kf) || typeof kf.epoch !== "string" || !isNat(kf.v) || typeof kf.doc !== "string") return null;
  if (kf.doc.includes("\r") || !Array.isArray(s.segments)) return null;
  let doc = /** @type {string} */ (kf.doc);
  let v = /** @type {number} */ (kf.v);
  /** @type {unknown} */
  let sel = null;
  try {
    for (const seg of s.segments) {
      if (!isObject(seg) || seg.epoch !== kf.epoch || seg.from !== v + 1 || !Array.isArray(seg.deltas)) return null;
      if (seg.to !== seg.from + seg.deltas.length - 1) return null;
      for (const d of seg.deltas) {
        if (!Array.isArray(d) || d.length !== 3) return null;
        doc = applyChanges(doc, /** @type {Change[]} */ (d[1]));
        sel = d[2] ?? sel;
      }
      v = seg.to;
    }
  } catch (e) {
    if (e instanceof DeltaError) return null;
    throw e;
  }
  const head = s.head;
  if (isObject(head) && (head.epoch !== kf.epoch || head.v !== v)) return null; // not what it says
  return {
    epoch: kf.epoch,
    v,
    doc,
    lang: typeof s.lang === "string" ? s.lang : null,
    title: typeof s.title === "string" ? s.title : null,
    ended: s.ended === true,
    sel: isSel(sel, doc.length) ? sel : null,
  };
}
