// @ts-check
// Property tests (fast-check) of delta application: a valid change list gives exactly what a
// plain model gives; any other input, however hostile, is refused with a DeltaError before
// anything changes. Never another exception.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ChangeSet, Text } from "@codemirror/state";
import { applyChanges, changeSetToChanges, checkChanges, DeltaError } from "../src/core/delta.js";
import { batchToDeltas } from "../src/core/deltas.js";
import { chunkString } from "../src/core/split.js";
import { junk, rawChanges, RUNS, text, validChanges } from "./arbitraries.js";

/** The model: the document as an array of UTF-16 units, each change a splice. */
function model(doc, changes) {
  const units = doc.split("");
  for (const [from, to, insert] of changes) units.splice(from, to - from, ...insert.split(""));
  return units.join("");
}

test("valid change lists apply exactly as the model, and checkChanges gives the new length", () => {
  fc.assert(
    fc.property(text(), rawChanges, (doc, raw) => {
      const changes = validChanges(doc, raw);
      const out = applyChanges(doc, changes);
      assert.equal(out, model(doc, changes));
      assert.equal(checkChanges(doc.length, changes), out.length);
    }),
    { numRuns: RUNS },
  );
});

const hostileChange = fc.oneof(
  fc.tuple(junk, junk, fc.oneof(junk, text(5))),
  fc.tuple(fc.integer({ min: -5, max: 50 }), fc.integer({ min: -5, max: 50 }), text(5)),
  fc.array(junk, { maxLength: 5 }),
  junk,
);
const hostileChanges = fc.oneof(
  fc.array(hostileChange, { maxLength: 6 }),
  junk,
  fc.tuple(text(), rawChanges, fc.nat(), hostileChange).map(([doc, raw, at, bad]) => {
    const ok = validChanges(doc, raw);
    ok.splice(at % (ok.length + 1), 0, bad);
    return ok;
  }),
);

test("any other input is refused with a DeltaError, all or nothing, and is not modified", () => {
  fc.assert(
    fc.property(text(), hostileChanges, (doc, changes) => {
      const before = JSON.stringify(changes);
      let out;
      try {
        out = applyChanges(doc, changes);
      } catch (e) {
        assert.ok(e instanceof DeltaError, `not a DeltaError: ${e}`);
        assert.throws(() => checkChanges(doc.length, changes), DeltaError);
        assert.equal(JSON.stringify(changes), before);
        return;
      }
      // accepted: then it was a valid list of [int, int, string] within range, step by step
      assert.equal(typeof out, "string");
      assert.equal(out, model(doc, changes));
      assert.equal(JSON.stringify(changes), before);
    }),
    { numRuns: RUNS },
  );
});

test("a huge change list is checked in linear time and refused if one entry is bad", () => {
  /** @type {import("../src/core/delta.js").Change[]} */
  const changes = Array.from({ length: 200_000 }, () => [0, 0, "x"]);
  changes.push([0, -1, ""]);
  const t0 = performance.now();
  assert.throws(() => applyChanges("", changes), DeltaError);
  assert.ok(performance.now() - t0 < 2000);
});

test("a CodeMirror change set becomes sequential changes that rebuild the same document", () => {
  fc.assert(
    fc.property(text(), fc.array(fc.tuple(fc.nat(), fc.nat(), text(6)), { maxLength: 5 }), (doc, raw) => {
      // non-overlapping spans in the OLD document, as CodeMirror's iterChanges reports them
      const doc1 = Text.of(doc.split("\n"));
      const points = [...new Set(raw.flatMap(([a, b]) => [a % (doc.length + 1), b % (doc.length + 1)]))].sort(
        (x, y) => x - y,
      );
      const specs = [];
      for (let i = 0; i + 1 < points.length; i += 2) specs.push({ from: points[i], to: points[i + 1], insert: raw[i % raw.length][2] });
      const cs = ChangeSet.of(specs, doc1.length);
      const expected = cs.apply(doc1).toString();
      assert.equal(applyChanges(doc1.toString(), changeSetToChanges(cs)), expected);
    }),
    { numRuns: RUNS },
  );
});

test("outgoing deltas: any edit splits into numbered pieces within budget that rebuild it", () => {
  const utf8 = (s) => Buffer.byteLength(JSON.stringify(s)) - 2;
  fc.assert(
    fc.property(text(), rawChanges, fc.integer({ min: 40, max: 200 }), (doc, raw, budget) => {
      const changes = validChanges(doc, raw);
      const deltas = batchToDeltas("e", 7, { changes, sel: [0, 0] }, budget);
      assert.deepEqual(deltas.map((d) => d.v), deltas.map((_, i) => 8 + i)); // v-1 -> v each
      let out = doc;
      for (const d of deltas) {
        const bytes = d.changes.reduce((n, [, , insert]) => n + utf8(insert) + 32, 0);
        assert.ok(bytes <= budget, `piece of ${bytes} bytes > ${budget}`);
        out = applyChanges(out, d.changes);
      }
      assert.equal(out, applyChanges(doc, changes));
      assert.deepEqual(deltas.at(-1).sel, [0, 0]);
      chunkString(out, budget).forEach((part) => assert.ok(utf8(part) <= Math.max(budget, 4)));
      assert.equal(chunkString(out, budget).join(""), out);
    }),
    { numRuns: RUNS },
  );
});
