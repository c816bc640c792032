// @ts-check
import { test } from "node:test";
import assert from "node:assert/strict";
import { Batcher } from "../src/core/batcher.js";

test("the first change after quiet goes at once; a burst waits for the window", () => {
  const b = new Batcher(50);
  let r = b.push(1000, [[0, 0, "a"]], [1, 1]);
  assert.deepEqual(r.flush, { changes: [[0, 0, "a"]], sel: [1, 1] });
  assert.equal(r.timerAt, 1050);
  r = b.push(1010, [[1, 1, "b"]], [2, 2]);
  assert.equal(r.flush, null);
  r = b.push(1049, [[2, 2, "c"]], [3, 3]);
  assert.equal(r.flush, null);
  assert.equal(r.timerAt, 1050);
  r = b.onTimer(1050);
  assert.deepEqual(r.flush, { changes: [[1, 1, "b"], [2, 2, "c"]], sel: [3, 3] });
  assert.equal(r.timerAt, 1100, "a new window starts after a flush");
  r = b.onTimer(1100);
  assert.equal(r.flush, null);
  assert.equal(r.timerAt, null, "an empty window ends the burst");
  r = b.push(2000, [[3, 3, "d"]], [4, 4]);
  assert.deepEqual(r.flush.changes, [[3, 3, "d"]], "quiet again: leading edge");
});

test("an early timer does nothing; a late change after the window flushes at once", () => {
  const b = new Batcher(50);
  b.push(0, [[0, 0, "a"]], null);
  b.push(10, [[1, 1, "b"]], null);
  assert.equal(b.onTimer(30).flush, null);
  const r = b.push(60, [[2, 2, "c"]], null);
  assert.deepEqual(r.flush.changes, [[1, 1, "b"], [2, 2, "c"]]);
});

test("selection-only moves are batched too, and drain empties the batch", () => {
  const b = new Batcher(50);
  b.push(0, [], [5, 5]);
  b.push(5, [], [6, 9]);
  assert.deepEqual(b.drain(6), { changes: [], sel: [6, 9] });
  assert.equal(b.drain(7), null);
  assert.equal(b.onTimer(56).timerAt, null);
});
