// @ts-check
import { test } from "node:test";
import assert from "node:assert/strict";
import { ChangeSet, EditorState } from "@codemirror/state";
import { applyChanges, checkChanges, changeSetToChanges, DeltaError } from "../src/core/delta.js";

test("changes apply in order, each on the result of the previous", () => {
  // the protocol.md example: [10,12,"ab"] then [0,0,"# "]
  assert.equal(applyChanges("0123456789XYtail", [[10, 12, "ab"], [0, 0, "# "]]), "# 0123456789abtail");
  assert.equal(applyChanges("abc", [[0, 0, "x"], [1, 2, ""]]), "xbc");
  assert.equal(applyChanges("abc", []), "abc");
});

test("offsets are UTF-16 code units", () => {
  const doc = "a😀b"; // the emoji is two units
  assert.equal(doc.length, 4);
  assert.equal(applyChanges(doc, [[1, 3, "é"]]), "aéb");
  assert.equal(applyChanges(doc, [[3, 4, "ß"]]), "a😀ß");
});

test("invalid changes are refused whole and the length is tracked", () => {
  assert.equal(checkChanges(3, [[0, 3, "hello"], [5, 5, "!"]]), 6);
  for (const bad of [[[0, 4, ""]], [[2, 1, ""]], [[-1, 0, ""]], [[0, 0, 5]], [[0, 0]], "x", [[0.5, 1, ""]]]) {
    assert.throws(() => applyChanges("abc", /** @type {any} */ (bad)), DeltaError, JSON.stringify(bad)); // deliberately ill-typed
  }
  // the second change is checked against the length after the first
  assert.throws(() => applyChanges("abc", [[0, 3, ""], [0, 1, ""]]), DeltaError);
});

function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

test("a CodeMirror ChangeSet (old-document positions) maps to sequential changes", () => {
  // several changes in one transaction, as multi-cursor typing or replace-all makes
  const state = EditorState.create({ doc: "one two three four" });
  const cs = state.changes([
    { from: 0, to: 3, insert: "ONE" },
    { from: 4, to: 7, insert: "" },
    { from: 14, to: 18, insert: "4️⃣ and more" },
  ]);
  const changes = changeSetToChanges(cs);
  assert.deepEqual(changes, [[0, 3, "ONE"], [4, 7, ""], [11, 15, "4️⃣ and more"]]);
  assert.equal(applyChanges(state.doc.toString(), changes), cs.apply(state.doc).toString());
});

test("random multi-change sets agree with CodeMirror", () => {
  const rand = lcg(42);
  const alphabet = ["a", "b", "\n", "é", "😀", " ", "{", "}"];
  let doc = "start\n";
  for (let round = 0; round < 300; round++) {
    const n = 1 + Math.floor(rand() * 5);
    const specs = [];
    let pos = 0;
    for (let k = 0; k < n && pos <= doc.length; k++) {
      const from = pos + Math.floor(rand() * Math.max(1, (doc.length - pos) / 2));
      if (from > doc.length) break;
      const to = Math.min(doc.length, from + Math.floor(rand() * 4));
      let insert = "";
      for (let j = Math.floor(rand() * 4); j > 0; j--) insert += alphabet[Math.floor(rand() * alphabet.length)];
      specs.push({ from, to, insert });
      pos = to + 1;
    }
    const cs = ChangeSet.of(specs, doc.length);
    const expected = cs.apply(EditorState.create({ doc }).doc).toString();
    assert.equal(applyChanges(doc, changeSetToChanges(cs)), expected, `round ${round}`);
    doc = expected;
  }
});
