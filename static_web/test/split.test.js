// @ts-check
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyChanges } from "../src/core/delta.js";
import { chunkString, jsonStringBytes, splitChanges, cutPoint } from "../src/core/split.js";
import { batchToDeltas } from "../src/core/deltas.js";

const utf8 = (s) => Buffer.byteLength(JSON.stringify(s)) - 2;

test("JSON byte cost matches the real encoding", () => {
  for (const s of ["plain", 'q"b\\s', "tab\tnl\n\u0001", "é中😀", "lone\ud800x", "\u2028"]) {
    assert.equal(jsonStringBytes(s), utf8(s), JSON.stringify(s));
  }
});

test("chunks join back exactly, stay in budget and never split a surrogate pair", () => {
  const s = "ab😀".repeat(1000) + "x";
  const parts = chunkString(s, 50);
  assert.equal(parts.join(""), s);
  for (const p of parts) {
    assert.ok(utf8(p) <= 50);
    const last = p.charCodeAt(p.length - 1);
    assert.ok(!(last >= 0xd800 && last <= 0xdbff), "ends with a high surrogate");
  }
  assert.deepEqual(chunkString(""), [""]);
  assert.equal(cutPoint("😀", 0, 1), 2, "at least one code point even over budget");
});

test("a 2 MB insert splits into deltas under 256 KiB that rebuild the document", () => {
  const line = "const x = \"héllo 😀\"; // line\n";
  const big = line.repeat(Math.ceil((2 * 1024 * 1024) / line.length));
  const base = "head\ntail\n";
  /** @type {import("../src/core/delta.js").Change[]} */
  const changes = [[5, 5, big], [0, 4, "HEAD"]];
  const deltas = batchToDeltas("ep", 7, { changes, sel: [3, 3] });
  assert.ok(deltas.length >= 9, `${deltas.length} deltas`);
  let doc = base;
  deltas.forEach((d, i) => {
    assert.equal(d.v, 8 + i);
    assert.ok(Buffer.byteLength(JSON.stringify(d)) < 256 * 1024);
    assert.equal("sel" in d, i === deltas.length - 1);
    doc = applyChanges(doc, d.changes);
  });
  assert.equal(doc, applyChanges(base, changes));
});

test("a huge replace keeps its range on the first piece only", () => {
  const ins = "z".repeat(1000);
  const batches = splitChanges([[2, 6, ins]], 300);
  assert.ok(batches.length > 3);
  assert.equal(batches.flat().reduce((d, c) => applyChanges(d, [c]), "0123456789"), "01" + ins + "6789");
  assert.deepEqual(splitChanges([]), [[]]);
});
