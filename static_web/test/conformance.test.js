// @ts-check
// The client's half of the conformance vectors (tests/vectors/); the server's half is
// tests/unit/test_conformance.py. Same files, so both sides agree on deltas, sizes and events.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LIMITS } from "../src/core/contract.js";
import { parseLink } from "../src/core/deep-link.js";
import { applyChanges, compactChanges, DeltaError } from "../src/core/delta.js";
import { replayJoinState } from "../src/core/join.js";
import { chunkString, jsonStringBytes, splitChanges } from "../src/core/split.js";
import { WatcherState } from "../src/core/watcher-state.js";
import { checkLabel } from "../src/core/markers.js";
import { expand, loadVectors } from "./vectors.js";

const deltas = loadVectors("deltas");
const split = loadVectors("split");
const events = loadVectors("user-events");
const history = loadVectors("history");
const replay = loadVectors("replay");

for (const c of deltas.cases) {
  test(`delta: ${c.name}`, () => {
    if (c.error) assert.throws(() => applyChanges(c.doc, c.changes), DeltaError);
    else assert.equal(applyChanges(c.doc, c.changes), c.result);
  });
}

test("split: the vectors' overhead is the contract's", () => {
  assert.equal(split.overhead, LIMITS.deltaChangeOverheadBytes);
});

for (const c of split.jsonStringBytes) {
  test(`jsonStringBytes ${JSON.stringify(c.text)}`, () => assert.equal(jsonStringBytes(c.text), c.bytes));
}

for (const c of split.splitChanges) {
  test(`splitChanges: ${c.name}`, () => assert.deepEqual(splitChanges(c.changes, c.budget), c.pieces));
}

for (const c of split.chunkString) {
  test(`chunkString ${JSON.stringify(c.text)} / ${c.budget}`, () => assert.deepEqual(chunkString(c.text, c.budget), c.chunks));
}

const accepted = (name) => {
  const found = events.cases.find((c) => c.name === name);
  assert.ok(found?.accepted, `no accepted vector named ${name}`);
  return found.data;
};

test("events: a joining watcher's sync is the accepted vector", () => {
  const w = new WatcherState(events.stream);
  const [action] = w.connected(0);
  assert.deepEqual(action, { type: "sync", data: accepted("join: sync with no document") });
});

test("events: a watcher that finds a gap syncs with what it has", () => {
  const w = new WatcherState(events.stream);
  w.connected(0);
  w.receive(10, { type: "snapshot", epoch: "k3J9", v: 42, doc: "x", chunk: [0, 1] });
  const actions = w.receive(5000, { type: "delta", epoch: "k3J9", v: 44, changes: [] });
  const sync = actions.find((a) => a.type === "sync");
  assert.deepEqual(sync?.data, accepted("gap: sync with what the watcher has"));
});

for (const c of history.joins) {
  test(`join state: ${c.name}`, () => {
    const found = replayJoinState(c.state);
    if (c.error) assert.equal(found, null);
    else assert.deepEqual([found?.doc, found?.v], [c.document, c.v]);
  });
}

for (const c of history.compaction) {
  test(`catchup compaction: ${c.name}`, () => {
    assert.deepEqual(compactChanges(c.deltas.flat()), c.compacted);
    assert.equal(applyChanges(c.doc, c.compacted), c.result);
    assert.equal(c.deltas.reduce((doc, d) => applyChanges(doc, d), c.doc), c.result);
  });
}

// ---- replay.json: marker labels, as the server trims and checks them ----
for (const c of replay.labels) {
  const raw = expand(c.raw);
  test(`marker label: ${JSON.stringify(raw).slice(0, 40)} → ${c.code ?? "kept"}`, () => {
    const found = checkLabel(raw);
    if (c.code) assert.deepEqual([found.ok, "code" in found ? found.code : null], [false, c.code]);
    else assert.deepEqual(found.ok ? found.label : found, expand(c.label));
  });
}

for (const c of replay.links) {
  test(`replay link: ${c.url}`, () => {
    // the player and the embed read a link as the server's oEmbed does
    assert.deepEqual(parseLink(c.url, replay.site), c.link);
  });
}
