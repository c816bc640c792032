// @ts-check
// Catch-ups: the recent deltas held in memory, the catchup built from them, and the
// compaction of change lists (with a fast-check property: it never changes what they do).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { planCatchup, RecentDeltas } from "../src/core/catchup.js";
import { applyChanges, compactChanges, mergeChanges } from "../src/core/delta.js";
import { utf8Bytes } from "../src/core/split.js";
import { rawChanges, RUNS, text, validChanges } from "./arbitraries.js";

/** @import { DeltaMessage } from "../src/core/deltas.js" */

const ENVELOPE = { streamId: "s", to: "c1", ticket: "t" };
/** @returns {DeltaMessage} */
const d = (/** @type {number} */ v, /** @type {[number, number, string][]} */ changes, epoch = "e1") => ({ type: "delta", epoch, v, changes, sel: [v, v] });

test("mergeChanges: typing, backspacing and overwriting what was just typed merge; apart they do not", () => {
  assert.deepEqual(mergeChanges([5, 5, "a"], [6, 6, "b"]), [5, 5, "ab"]);
  assert.deepEqual(mergeChanges([5, 5, "ab"], [6, 7, ""]), [5, 5, "a"], "backspace");
  assert.deepEqual(mergeChanges([5, 5, "ab"], [4, 6, "X"]), [4, 5, "Xb"], "reaches before the insert");
  assert.deepEqual(mergeChanges([5, 7, "ab"], [7, 9, "c"]), [5, 9, "abc"], "reaches past it");
  assert.deepEqual(mergeChanges([5, 5, ""], [5, 5, "z"]), [5, 5, "z"]);
  assert.equal(mergeChanges([5, 5, "a"], [7, 7, "b"]), null);
  assert.equal(mergeChanges([5, 5, "a"], [0, 4, ""]), null);
});

test("compactChanges: a typed word becomes one insert; typed and erased becomes nothing", () => {
  const typed = [..."hello"].map((ch, i) => /** @type {[number, number, string]} */ ([10 + i, 10 + i, ch]));
  assert.deepEqual(compactChanges(typed), [[10, 10, "hello"]]);
  const erased = typed.concat([14, 13, 12, 11, 10].map((at) => /** @type {[number, number, string]} */ ([at, at + 1, ""])));
  assert.deepEqual(compactChanges(erased), []);
  assert.deepEqual(compactChanges([[0, 0, "a"], [0, 0, ""], [5, 6, "b"]]), [[0, 0, "a"], [5, 6, "b"]]);
});

test("compactChanges applies exactly as the list it compacts (any document, any changes)", () => {
  fc.assert(
    fc.property(text(40), fc.array(rawChanges, { maxLength: 6 }), (doc, batches) => {
      let at = doc;
      /** @type {[number, number, string][]} */
      const all = [];
      for (const raw of batches) {
        const changes = validChanges(at, raw);
        at = applyChanges(at, changes);
        all.push(...changes);
      }
      const compact = compactChanges(all);
      assert.equal(applyChanges(doc, compact), at);
      assert.ok(compact.length <= all.length);
    }),
    { numRuns: RUNS },
  );
});

test("RecentDeltas keeps the newest deltas within its byte budget, and restarts on a jump", () => {
  const r = new RecentDeltas(200);
  r.reset("e1");
  for (let v = 1; v <= 10; v++) r.push(d(v, [[0, 0, "x".repeat(20)]]));
  assert.equal(r.lastV, 10);
  assert.ok(r.bytes <= 200);
  assert.equal(r.firstV, 10 - r.after(r.firstV - 1).length + 1);
  assert.deepEqual(r.after(8).map((x) => x.v), [9, 10]);
  r.push(d(12, [])); // not the next version: what came before it no longer leads here
  assert.deepEqual([r.firstV, r.lastV], [12, 12]);
  r.push(d(1, [], "e2"));
  assert.deepEqual([r.epoch, r.firstV, r.lastV], ["e2", 1, 1]);
});

test("planCatchup: the missing deltas of the current epoch, compacted, with the ticket's envelope", () => {
  const r = new RecentDeltas();
  r.reset("e1");
  r.push(d(1, []));
  r.push(d(2, [[0, 0, "a"]]));
  r.push(d(3, [[1, 1, "b"]]));
  const pending = [d(4, [[2, 2, "c"]])];
  const data = planCatchup({ have: { epoch: "e1", v: 1 }, epoch: "e1", v: 4, recent: r, pending, envelope: ENVELOPE });
  assert.deepEqual(data, { ...ENVELOPE, epoch: "e1", from: 1, v: 4, changes: [[0, 0, "abc"]], sel: [4, 4] });
  // current: from == v, no changes
  assert.deepEqual(planCatchup({ have: { epoch: "e1", v: 4 }, epoch: "e1", v: 4, recent: r, pending, envelope: ENVELOPE }), {
    ...ENVELOPE,
    epoch: "e1",
    from: 4,
    v: 4,
    changes: [],
  });
  // from the start of the epoch (v 0): every delta
  assert.equal(planCatchup({ have: { epoch: "e1", v: 0 }, epoch: "e1", v: 4, recent: r, pending, envelope: ENVELOPE })?.from, 0);
  // another epoch, a version ahead, or pending deltas that do not follow: null (a snapshot)
  for (const have of [{ epoch: "e0", v: 1 }, { epoch: "e1", v: 5 }]) {
    assert.equal(planCatchup({ have, epoch: "e1", v: 4, recent: r, pending, envelope: ENVELOPE }), null);
  }
  assert.equal(planCatchup({ have: { epoch: "e1", v: 1 }, epoch: "e1", v: 5, recent: r, pending: [d(5, [])], envelope: ENVELOPE }), null);
});

test("planCatchup: deltas no longer held, or a catchup over the byte limit, mean a snapshot", () => {
  const r = new RecentDeltas(100);
  r.reset("e1");
  for (let v = 1; v <= 20; v++) r.push(d(v, [[0, 0, "yy"]]));
  assert.equal(planCatchup({ have: { epoch: "e1", v: 1 }, epoch: "e1", v: 20, recent: r, pending: [], envelope: ENVELOPE }), null);
  assert.ok(planCatchup({ have: { epoch: "e1", v: r.firstV - 1 }, epoch: "e1", v: 20, recent: r, pending: [], envelope: ENVELOPE }));
  const big = new RecentDeltas();
  big.reset("e1");
  big.push(d(1, [[0, 0, "€".repeat(5000)]]));
  const at = (/** @type {number} */ maxBytes) => planCatchup({ have: { epoch: "e1", v: 0 }, epoch: "e1", v: 1, recent: big, pending: [], envelope: ENVELOPE, maxBytes });
  const fits = at(100_000);
  assert.ok(fits);
  const size = utf8Bytes(JSON.stringify(fits));
  assert.ok(at(size), "exactly at the limit: sent");
  assert.equal(at(size - 1), null, "one byte over: a snapshot");
});
