// @ts-check
// Property tests (fast-check) of the watcher state machine against hostile networks: genuine
// deltas delivered late, twice, out of order or not at all, snapshots of any version in any
// chunk order, and malformed or hostile messages in between. Whatever happens:
//   - receive() and tick() never throw;
//   - every "apply" action fits the document the page holds (applied both to a plain string
//     and to a CodeMirror document exactly as the page does);
//   - whenever the watcher says it is synced, it shows exactly the streamer's document at
//     that version (nothing corrupted, nothing half-applied);
//   - once the network behaves, it converges to the streamer's latest document.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ChangeSet, EditorState } from "@codemirror/state";
import { applyChanges } from "../src/core/delta.js";
import { WatcherState } from "../src/core/watcher-state.js";
import { junk, rawChanges, RUNS, text, validChanges } from "./arbitraries.js";

const EPOCH = "genuine-epoch";
const SID = "stream-under-test";

/** The streamer's history: docs[v] after delta v (docs[0] is where the stream starts). */
const histories = fc.tuple(text(40), fc.array(rawChanges, { maxLength: 12 })).map(([start, edits]) => {
  const docs = [start];
  const deltas = [null];
  edits.forEach((raw, i) => {
    const changes = validChanges(docs[i], raw);
    deltas.push({ type: "delta", epoch: EPOCH, v: i + 1, changes, ...(i % 2 ? { sel: [0, 0] } : {}) });
    docs.push(applyChanges(docs[i], changes));
  });
  return { docs, deltas };
});

function chunks(doc, n) {
  const size = Math.ceil(doc.length / n) || 1;
  return Array.from({ length: n }, (_, i) => doc.slice(i * size, (i + 1) * size));
}

const isNat = (x) => Number.isInteger(x) && x >= 0;
// what the machine takes as a (part of a) snapshot: no chunk at all means a single one
const chunkAccepted = (c) => !Array.isArray(c) || (isNat(c[0]) && isNat(c[1]) && c[0] < c[1] && c[1] <= 256);

// messages that must change nothing: each is malformed in at least one way, or belongs to no
// genuine stream state (another epoch is harmless: it only makes the watcher resync)
const badNumber = fc.oneof(fc.constantFrom(-1, 0.5, -0.5, 1e300, NaN, Infinity, null, "1", [], {}), junk);
const hostile = fc.oneof(
  junk,
  fc.record({ type: fc.constantFrom("delta", "snapshot", "control", "status", "x", 1, null) }, { requiredKeys: [] }),
  // deltas of the genuine epoch that cannot apply: bad offsets, bad types, huge arrays
  fc.record({
    type: fc.constant("delta"),
    epoch: fc.constant(EPOCH),
    v: fc.integer({ min: 1, max: 14 }),
    changes: fc.oneof(
      fc.array(fc.tuple(badNumber, fc.nat(3), text(3)), { minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(3), badNumber, text(3)), { minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(3), fc.nat(3), junk.filter((x) => typeof x !== "string")), { minLength: 1 }),
      fc.tuple(fc.integer({ min: 1_000_000, max: 2 ** 40 }), text(2)).map(([at, s]) => [[at, at, s]]),
      fc.nat(3).map((k) => Array.from({ length: 5000 * (k + 1) }, () => [0, 0, "x"]).concat([[-1, 0, ""]])),
      junk.filter((x) => !Array.isArray(x)),
    ),
  }),
  // deltas whose envelope is wrong: v or epoch of a bad type
  fc.record({ type: fc.constant("delta"), epoch: junk.filter((x) => typeof x !== "string"), v: fc.nat(14), changes: fc.constant([]) }),
  fc.record({ type: fc.constant("delta"), epoch: fc.constant(EPOCH), v: badNumber.filter((x) => !Number.isInteger(x) || x < 1), changes: fc.constant([[0, 0, "evil"]]) }),
  // another epoch, well formed: the watcher resyncs
  fc.record({ type: fc.constant("delta"), epoch: fc.constantFrom("other", "x"), v: fc.nat(14), changes: fc.constant([]) }),
  // snapshots that are malformed in some field (a well-formed one would be a forgery, which
  // only the Function App could send)
  fc.record({
    type: fc.constant("snapshot"),
    epoch: fc.oneof(fc.constant(EPOCH), junk),
    v: fc.oneof(badNumber, fc.nat(14)),
    doc: fc.oneof(junk.filter((x) => typeof x !== "string"), text(3)),
    chunk: fc.oneof(
      junk,
      fc.tuple(badNumber, badNumber),
      fc.tuple(fc.nat(5), fc.constantFrom(2 ** 32, 2 ** 40, 2 ** 53, 1e9)),
    ),
  }).filter((m) => !(typeof m.epoch === "string" && typeof m.doc === "string" && isNat(m.v) && chunkAccepted(m.chunk))),
  fc.record({ type: fc.constant("status"), state: fc.constantFrom("live", "offline", "bogus", 3) }),
  fc.record({ type: fc.constant("control"), lang: junk, title: junk }),
);

const step = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant("deliver"), i: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("hostile"), msg: hostile }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("answer"), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }), order: fc.array(fc.nat(), { maxLength: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("tick"), dt: fc.integer({ min: 0, max: 6000 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("reconnect") }) },
);

/** The page without the DOM: performs actions on a string and on a CodeMirror state. */
class Page {
  constructor() {
    this.w = new WatcherState(SID);
    this.doc = "";
    this.cm = EditorState.create({ doc: "" });
    this.syncs = [];
  }
  run(actions) {
    assert.ok(Array.isArray(actions));
    for (const a of actions) {
      if (a.type === "reset") {
        this.doc = a.doc;
        this.cm = this.cm.update({ changes: { from: 0, to: this.cm.doc.length, insert: a.doc } }).state;
      } else if (a.type === "apply") {
        this.doc = applyChanges(this.doc, a.changes); // throws if the action does not fit
        let cs = ChangeSet.empty(this.cm.doc.length); // exactly as watcher.js composes them
        let len = this.cm.doc.length;
        for (const [from, to, insert] of a.changes) {
          const next = ChangeSet.of({ from, to, insert }, len);
          cs = cs.compose(next);
          len = next.newLength;
        }
        this.cm = this.cm.update({ changes: cs }).state;
      } else if (a.type === "sync") {
        this.syncs.push(a.data);
      } else {
        assert.ok(["stream", "lang", "title"].includes(a.type), `unknown action ${a.type}`);
      }
    }
  }
}

function snapshotMessages(docs, at, n, order) {
  const v = at % docs.length;
  const parts = chunks(docs[v], n);
  const msgs = parts.map((doc, i) => ({ type: "snapshot", streamId: SID, epoch: EPOCH, v, doc, chunk: [i, n], lang: "python" }));
  // chunks in any order, some twice
  const out = [...msgs];
  for (const k of order) out.push(msgs[k % n]);
  for (let i = out.length - 1; i > 0; i--) {
    const j = order.length ? order[i % order.length] % (i + 1) : i;
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function checkInvariants(page, docs) {
  const { w } = page;
  assert.equal(page.cm.doc.toString(), page.doc, "the editor and the model disagree");
  if (w.hasDoc) assert.equal(w.length, page.doc.length, "tracked length differs from the document");
  if (w.phase === "synced") {
    assert.equal(w.epoch, EPOCH);
    assert.equal(page.doc, docs[w.v], `synced at v${w.v} but the document differs`);
  }
}

test("hostile networks never break the watcher; a calm one makes it converge", () => {
  fc.assert(
    fc.property(histories, fc.array(step, { maxLength: 40 }), ({ docs, deltas }, steps) => {
      const page = new Page();
      const last = docs.length - 1;
      let now = 0;
      page.run(page.w.connected(now));
      for (const s of steps) {
        now += 7;
        if (s.op === "deliver" && last > 0) page.run(page.w.receive(now, deltas[1 + (s.i % last)]));
        else if (s.op === "hostile") page.run(page.w.receive(now, s.msg));
        else if (s.op === "answer") for (const m of snapshotMessages(docs, s.at, s.n, s.order)) page.run(page.w.receive(now, m));
        else if (s.op === "tick") page.run(page.w.tick((now += s.dt)));
        else if (s.op === "reconnect") page.run(page.w.connected(now));
        checkInvariants(page, docs);
      }
      // the network calms down: every delta once, in order; every sync answered at once
      for (let v = 1; v <= last; v++) {
        page.run(page.w.receive((now += 7), deltas[v]));
        checkInvariants(page, docs);
      }
      for (let round = 0; round < 10 && !(page.w.phase === "synced" && page.w.v === last); round++) {
        const asked = page.syncs.length;
        page.run(page.w.tick((now += 5000)));
        if (page.syncs.length > asked || page.w.phase === "waiting") {
          for (const m of snapshotMessages(docs, last, 1, [])) page.run(page.w.receive(now, m));
        }
        checkInvariants(page, docs);
      }
      assert.equal(page.w.phase, "synced");
      assert.equal(page.w.v, last);
      assert.equal(page.doc, docs[last]);
    }),
    { numRuns: RUNS },
  );
});

test("any JSON value as a message, in any state, never throws", () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(hostile, fc.jsonValue()), { maxLength: 30 }), (msgs) => {
      const page = new Page();
      page.run(page.w.connected(0));
      page.run(page.w.receive(1, { type: "snapshot", epoch: EPOCH, v: 0, doc: "abc", chunk: [0, 1] }));
      let now = 2;
      for (const m of msgs) {
        page.run(page.w.receive((now += 500), m));
        page.run(page.w.tick(now));
        assert.equal(page.cm.doc.toString(), page.doc);
      }
    }),
    { numRuns: RUNS },
  );
});

test("a snapshot announcing more chunks than any array can hold is ignored, not thrown", () => {
  const w = new WatcherState(SID);
  w.connected(0);
  for (const n of [2 ** 32, 2 ** 53, 1e300]) {
    assert.deepEqual(w.receive(1, { type: "snapshot", epoch: "e", v: 1, doc: "x", chunk: [0, n] }), []);
  }
  assert.equal(w.phase, "waiting");
});

test("a carriage return in a delta or a snapshot cannot desynchronise the editor", () => {
  // CodeMirror turns "\r\n" and "\r" into one line break: the page's document would be shorter
  // than the machine's count, and the next delta near the end would not fit
  const page = new Page();
  page.run(page.w.connected(0));
  page.run(page.w.receive(1, { type: "snapshot", epoch: EPOCH, v: 1, doc: "ab", chunk: [0, 1] }));
  page.run(page.w.receive(2, { type: "delta", epoch: EPOCH, v: 2, changes: [[2, 2, "\r\nc"]] }));
  assert.equal(page.cm.doc.toString(), page.doc);
  page.run(page.w.receive(3, { type: "delta", epoch: EPOCH, v: 3, changes: [[page.w.length, page.w.length, "d"]] }));
  assert.equal(page.cm.doc.toString(), page.doc);
  const fresh = new Page();
  fresh.run(fresh.w.connected(0));
  fresh.run(fresh.w.receive(1, { type: "snapshot", epoch: EPOCH, v: 1, doc: "a\r\nb", chunk: [0, 1] }));
  assert.equal(fresh.cm.doc.toString(), fresh.doc);
  if (fresh.w.hasDoc) assert.equal(fresh.w.length, fresh.cm.doc.length);
});
