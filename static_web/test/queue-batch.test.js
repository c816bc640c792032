// @ts-check
import { test } from "node:test";
import assert from "node:assert/strict";
import { batchToDeltas, queueBatch } from "../src/core/deltas.js";
import { applyChanges } from "../src/core/delta.js";

/** @import { Batch, DeltaMessage } from "../src/core/deltas.js" */
/** Test data as the core's types (literals would widen to plain arrays and strings). */
const delta = (/** @type {object} */ d) => /** @type {DeltaMessage} */ (d);
const batch = (/** @type {object} */ b) => /** @type {Batch} */ (b);

test("with nothing foldable, a batch becomes the next numbered delta", () => {
  const r = queueBatch(null, "e", 4, batch({ changes: [[0, 0, "a"]], sel: [1, 1] }));
  assert.equal(r.replace, false);
  assert.deepEqual(r.deltas, [{ type: "delta", epoch: "e", v: 5, changes: [[0, 0, "a"]], sel: [1, 1] }]);
  assert.equal(r.v, 5);
});

test("a batch is folded into the never-sent tail: same version, changes in order", () => {
  const tail = delta({ type: "delta", epoch: "e", v: 7, changes: [[0, 0, "ab"]], sel: [2, 2] });
  const r = queueBatch(tail, "e", 7, batch({ changes: [[2, 2, "c"], [0, 1, ""]], sel: [2, 2] }));
  assert.equal(r.replace, true);
  assert.equal(r.v, 7);
  assert.deepEqual(r.deltas, [{ type: "delta", epoch: "e", v: 7, changes: [[0, 0, "ab"], [2, 2, "c"], [0, 1, ""]], sel: [2, 2] }]);
  assert.equal(applyChanges("xyz", r.deltas[0].changes), "bcxyz");
});

test("many keystrokes behind one in-flight delta stay one delta, the same text", () => {
  let v = 1;
  const queue = batchToDeltas("e", 0, batch({ changes: [[0, 0, "x"]], sel: [1, 1] })); // in flight
  let doc = "x";
  for (let i = 0; i < 200; i++) {
    const next = batch({ changes: [[doc.length, doc.length, ["é", "😀", "k"][i % 3]]], sel: null });
    doc = applyChanges(doc, next.changes);
    const tail = queue.length > 1 ? queue[queue.length - 1] : null;
    const r = queueBatch(tail, "e", v, next);
    if (r.replace) queue.pop();
    queue.push(...r.deltas);
    v = r.v;
  }
  assert.equal(queue.length, 2);
  assert.deepEqual(queue.map((d) => d.v), [1, 2]);
  assert.equal(v, 2);
  assert.equal(queue.reduce((d, m) => applyChanges(d, m.changes), ""), doc);
});

test("a folded tail over the size limit splits into consecutive versions", () => {
  const tail = delta({ type: "delta", epoch: "e", v: 3, changes: [[0, 0, "a".repeat(900)]] });
  const r = queueBatch(tail, "e", 3, batch({ changes: [[900, 900, "b".repeat(900)]], sel: [1800, 1800] }), { budget: 1000 });
  assert.equal(r.replace, true);
  assert.deepEqual(r.deltas.map((d) => d.v), [3, 4]);
  assert.equal(r.v, 4);
  assert.deepEqual(r.deltas[1].sel, [1800, 1800]);
});

test("a tail of another epoch or version is never folded into", () => {
  const tail = delta({ type: "delta", epoch: "old", v: 3, changes: [] });
  assert.equal(queueBatch(tail, "new", 0, { changes: [], sel: null }).replace, false);
  assert.equal(queueBatch(delta({ ...tail, epoch: "new" }), "new", 5, { changes: [], sel: null }).replace, false);
});

test("a version a snapshot was taken at is final: the batch gets the next version", () => {
  const tail = delta({ type: "delta", epoch: "e", v: 7, changes: [[0, 0, "ab"]] });
  const r = queueBatch(tail, "e", 7, batch({ changes: [[2, 2, "c"]], sel: [3, 3] }), { sealed: 7 });
  assert.equal(r.replace, false);
  assert.deepEqual(r.deltas, [{ type: "delta", epoch: "e", v: 8, changes: [[2, 2, "c"]], sel: [3, 3] }]);
  assert.equal(queueBatch(tail, "e", 7, { changes: [], sel: null }, { sealed: 6 }).replace, true);
});
