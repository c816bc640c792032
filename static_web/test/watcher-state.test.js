// @ts-check
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyChanges } from "../src/core/delta.js";
import { WatcherState, STORED_WAIT_MS, SYNC_MIN_INTERVAL_MS, SYNC_RETRY_MS, SYNC_RETRY_MAX_MS } from "../src/core/watcher-state.js";
import { LIMITS, WATCHER } from "../src/core/contract.js";

/** A watcher page without the page: runs the actions on a plain string. */
class Harness {
  constructor(options = {}) {
    this.w = new WatcherState("s1", options);
    this.doc = "";
    this.syncs = [];
    this.states = [];
    this.lang = null;
    this.title = null;
  }
  run(actions) {
    for (const a of actions) {
      if (a.type === "reset") {
        this.doc = a.doc;
        this.lang = a.lang;
        this.title = a.title;
      } else if (a.type === "apply") this.doc = applyChanges(this.doc, a.changes);
      else if (a.type === "sync") this.syncs.push(a.data);
      else if (a.type === "stream") this.states.push(a.state);
      else if (a.type === "lang") this.lang = a.lang;
      else if (a.type === "title") this.title = a.title;
    }
    return actions;
  }
  recv(now, msg) {
    return this.run(this.w.receive(now, msg));
  }
}

const delta = (epoch, v, changes, sel) => ({ type: "delta", epoch, v, changes, ...(sel ? { sel } : {}) });
const snap = (epoch, v, doc, extra = {}) => ({ type: "snapshot", epoch, v, doc, lang: "python", title: "t", chunk: [0, 1], ...extra });

test("buffers deltas until the snapshot, then applies only the later ones in order", () => {
  const h = new Harness();
  h.run(h.w.connected(0));
  assert.deepEqual(h.syncs, [{ streamId: "s1", have: null }]);
  h.recv(1, delta("e", 3, [[3, 3, "d"]]));
  h.recv(2, delta("e", 5, [[5, 5, "f"]]));
  h.recv(3, delta("e", 4, [[4, 4, "e"]])); // out of order in the buffer
  h.recv(4, delta("e", 2, [[0, 0, "X"]])); // already inside the snapshot
  h.recv(5, snap("e", 3, "abcd"));
  assert.equal(h.doc, "abcdef");
  assert.equal(h.w.v, 5);
  assert.equal(h.lang, "python");
  assert.equal(h.syncs.length, 1);
});

test("duplicates are dropped; a gap asks for a sync with what we have", () => {
  const h = new Harness();
  h.run(h.w.connected(0));
  h.recv(10, snap("e", 1, "ab"));
  h.recv(20, delta("e", 2, [[2, 2, "c"]], [3, 3]));
  h.recv(30, delta("e", 2, [[2, 2, "c"]])); // duplicate
  assert.equal(h.doc, "abc");
  const out = h.recv(5000, delta("e", 4, [[0, 0, "z"]]));
  assert.deepEqual(out.at(-1), { type: "sync", data: { streamId: "s1", have: { epoch: "e", v: 2 } } });
  assert.equal(h.w.phase, "waiting");
  h.recv(5001, delta("e", 5, [[0, 0, "y"]]));
  h.recv(5100, snap("e", 3, "abcQ"));
  assert.equal(h.doc, "yzabcQ");
  assert.equal(h.w.phase, "synced");
});

test("a new epoch (the streamer reloaded) triggers a resync", () => {
  const h = new Harness();
  h.run(h.w.connected(0));
  h.recv(10, snap("old", 9, "text"));
  h.recv(5000, delta("new", 1, [[0, 0, "x"]]));
  assert.equal(h.syncs.at(-1).have.epoch, "old");
  h.recv(5010, snap("new", 0, "text"));
  assert.equal(h.doc, "xtext");
  assert.equal(h.w.epoch, "new");
});

test("a delta that does not fit the document is never applied and causes a resync", () => {
  const h = new Harness();
  h.run(h.w.connected(0));
  h.recv(10, snap("e", 1, "ab"));
  h.recv(5000, delta("e", 2, [[5, 9, "x"]]));
  assert.equal(h.doc, "ab");
  assert.equal(h.syncs.length, 2);
});

test("snapshot chunks assemble in any order; a stale snapshot is ignored", () => {
  const h = new Harness();
  h.run(h.w.connected(0));
  h.recv(1, snap("e", 4, "world", { chunk: [1, 2] }));
  assert.equal(h.doc, "");
  h.recv(2, snap("e", 4, "hello ", { chunk: [0, 2] }));
  assert.equal(h.doc, "hello world");
  h.recv(3, delta("e", 5, [[0, 1, "H"]]));
  h.recv(4, snap("e", 4, "hello world"));
  assert.equal(h.doc, "Hello world");
});

test("sync requests respect the rate limit and are retried when unanswered", () => {
  const h = new Harness();
  h.run(h.w.connected(0));
  h.recv(10, snap("e", 1, "ab"));
  h.recv(100, delta("e", 3, [[0, 0, "x"]])); // gap within 1 s of the last sync
  assert.equal(h.syncs.length, 1, "held back");
  assert.equal(h.w.nextTick(), SYNC_MIN_INTERVAL_MS);
  assert.deepEqual(h.run(h.w.tick(500)), []);
  h.run(h.w.tick(SYNC_MIN_INTERVAL_MS));
  assert.equal(h.syncs.length, 2);
  assert.equal(h.w.nextTick(), SYNC_MIN_INTERVAL_MS + SYNC_RETRY_MS);
  h.run(h.w.tick(SYNC_MIN_INTERVAL_MS + SYNC_RETRY_MS));
  assert.equal(h.syncs.length, 3, "no answer: ask again");
});

test("unanswered syncs back off 4 s, 8 s, 16 s, then every 30 s; a snapshot resets the pace", () => {
  assert.equal(SYNC_RETRY_MS, 4000);
  assert.equal(SYNC_RETRY_MAX_MS, 30000);
  const h = new Harness();
  h.run(h.w.connected(0));
  const sentAt = [0];
  for (let i = 0; i < 6; i++) {
    const at = h.w.nextTick();
    assert.deepEqual(h.run(h.w.tick(at - 1)), [], "not before its time");
    h.run(h.w.tick(at));
    sentAt.push(at);
  }
  assert.equal(h.syncs.length, 7);
  assert.deepEqual(sentAt.slice(1).map((t, i) => t - sentAt[i]), [4000, 8000, 16000, 30000, 30000, 30000]);
  // a complete snapshot: the next wait (after a gap) starts again at 4 s
  const t = sentAt.at(-1);
  h.recv(t + 10, snap("e", 1, "ab"));
  h.recv(t + 2000, delta("e", 3, [[0, 0, "x"]]));
  assert.equal(h.syncs.length, 8);
  assert.equal(h.w.nextTick(), t + 2000 + SYNC_RETRY_MS);
});

test("an incomplete snapshot does not reset the back-off", () => {
  const h = new Harness();
  h.run(h.w.connected(0));
  h.run(h.w.tick(4000));
  h.run(h.w.tick(12000));
  h.recv(12500, snap("e", 1, "a", { chunk: [0, 2] }));
  assert.equal(h.w.nextTick(), 12000 + 16000);
});

test("status and control: offline stops retries, live resyncs, ended is final", () => {
  const h = new Harness();
  h.run(h.w.connected(0));
  h.recv(5, { type: "status", state: "offline" });
  assert.equal(h.w.nextTick(), null);
  h.recv(2000, { type: "status", state: "live" });
  assert.equal(h.syncs.length, 2);
  h.recv(2010, snap("e", 0, ""));
  h.recv(2020, { type: "control", lang: "rust", title: "demo" });
  assert.equal(h.lang, "rust");
  h.recv(2030, { type: "control", ended: true });
  assert.equal(h.states.at(-1), "ended");
  assert.deepEqual(h.recv(2040, delta("e", 1, [[0, 0, "x"]])), []);
  assert.equal(h.doc, "");
});

test("garbage is ignored", () => {
  const h = new Harness();
  h.run(h.w.connected(0));
  for (const m of [null, 3, "x", { type: "delta" }, { type: "delta", epoch: "e", v: -1, changes: [] }, { type: "snapshot", epoch: "e", v: 1, doc: 5 }, { type: "nope" }]) {
    assert.deepEqual(h.recv(1, m), []);
  }
});

test("another contract's pacing and chunk limit change what the watcher does", () => {
  const watcher = { ...WATCHER, syncMinIntervalMs: 50, syncRetryMs: 200 };
  const limits = { ...LIMITS, snapshotChunks: 2 };
  const w = new WatcherState("s1", { watcher, limits });
  assert.equal(w.connected(0).length, 1);
  assert.deepEqual(w.receive(10, delta("other", 1, [])), [{ type: "stream", state: "live" }]);
  assert.equal(w.nextTick(), 200, "no snapshot: ask again after this contract's retry time");
  // a snapshot of 3 chunks is more than this contract allows: ignored
  for (let i = 0; i < 3; i++) assert.deepEqual(w.receive(20, snap("e", 1, "x", { chunk: [i, 3] })), []);
  assert.equal(w.phase, "waiting");
  w.receive(30, snap("e", 1, "ab", { chunk: [0, 2] }));
  assert.equal(w.receive(31, snap("e", 1, "cd", { chunk: [1, 2] }))[0].type, "reset");
  // a gap 60 ms after the last sync: this contract allows another sync already, the shipped one not
  /** @type {Array<[ConstructorParameters<typeof WatcherState>[1], number]>} */
  const cases = [[{ watcher, limits }, 1], [{}, 0]];
  for (const [options, syncs] of cases) {
    const x = new WatcherState("s1", options);
    x.connected(0);
    x.receive(1, snap("e", 1, "ab"));
    const out = x.receive(60, delta("e", 3, [[0, 0, "z"]]));
    assert.equal(out.filter((a) => a.type === "sync").length, syncs);
  }
});

// ---- joining from storage ----

const STORED = {
  streamId: "s1",
  title: "Stored",
  lang: "rust",
  ended: false,
  head: { epoch: "e", v: 2, t: 0 },
  keyframe: { epoch: "e", v: 1, t: 0, doc: "fn main() {}\n" },
  segments: [{ epoch: "e", from: 2, to: 2, t0: 0, deltas: [[0, [[13, 13, "// ok"]], [18, 18]]], controls: [] }],
};
const catchup = (from, v, changes, extra = {}) => ({ type: "catchup", streamId: "s1", epoch: "e", from, v, changes, ...extra });

test("joining from storage: the stored document at once, then one sync after it, then a catchup", () => {
  const h = new Harness({ storage: true });
  h.run(h.w.connected(0));
  assert.deepEqual(h.syncs, [], "the first sync waits for the stored state");
  assert.equal(h.w.nextTick(), STORED_WAIT_MS);
  h.recv(5, delta("e", 3, [[0, 0, "x"]])); // live deltas meanwhile are held
  h.run(h.w.stored(10, STORED));
  assert.equal(h.doc, "fn main() {}\n// ok");
  assert.deepEqual([h.lang, h.title], ["rust", "Stored"]);
  assert.deepEqual(h.syncs, [{ streamId: "s1", have: { epoch: "e", v: 2 } }]);
  assert.equal(h.w.phase, "waiting");
  h.recv(20, catchup(2, 3, [[0, 0, "x"]], { lang: "go", title: "Live" }));
  assert.equal(h.w.phase, "synced");
  assert.equal(h.doc, "xfn main() {}\n// ok");
  assert.deepEqual([h.lang, h.title], ["go", "Live"], "names as they are now");
  h.recv(21, delta("e", 4, [[1, 1, "y"]]));
  assert.equal(h.doc, "xyfn main() {}\n// ok");
  assert.deepEqual(h.states.at(-1), "live");
});

test("the stored state before the connection: the sync asks after it at once", () => {
  const h = new Harness({ storage: true });
  h.run(h.w.stored(0, STORED));
  assert.equal(h.doc, "fn main() {}\n// ok");
  h.run(h.w.connected(5));
  assert.deepEqual(h.syncs, [{ streamId: "s1", have: { epoch: "e", v: 2 } }]);
  // the streamer is offline: the stored document stays, shown offline
  h.recv(10, { type: "status", state: "offline" });
  assert.deepEqual(h.states, ["offline"]);
  assert.equal(h.doc, "fn main() {}\n// ok");
  // it comes back (a new page: a new epoch), the watcher asks and gets a snapshot
  h.recv(2000, { type: "status", state: "live" });
  assert.deepEqual(h.syncs.at(-1), { streamId: "s1", have: { epoch: "e", v: 2 } });
  h.recv(2100, snap("f", 1, "fn main() {}\n// ok\n"));
  assert.equal(h.w.phase, "synced");
  assert.equal(h.w.epoch, "f");
});

test("buffered deltas after a catchup apply; a catchup that does not start where we are is ignored", () => {
  const h = new Harness({ storage: true });
  h.run(h.w.connected(0));
  h.run(h.w.stored(1, STORED));
  h.recv(2, delta("e", 4, [[0, 0, "b"]]));
  h.recv(3, delta("e", 3, [[0, 0, "a"]]));
  for (const wrong of [catchup(1, 3, []), { ...catchup(2, 3, [[0, 0, "a"]]), epoch: "x" }, catchup(2, 3, [[99, 99, "z"]]), catchup(2, 2, [[0, 0, "z"]]), catchup(2, 1, [])]) {
    assert.deepEqual(h.recv(4, wrong), [], JSON.stringify(wrong));
    assert.equal(h.w.phase, "waiting");
  }
  h.recv(5, catchup(2, 2, [])); // "you are current": then the buffer
  assert.equal(h.w.phase, "synced");
  assert.equal(h.doc, "bafn main() {}\n// ok");
  assert.deepEqual(h.recv(6, catchup(2, 3, [[0, 0, "a"]])), [], "synced already: a late catchup changes nothing");
});

test("nothing stored (or unreadable): the sync asks with nothing, as before", () => {
  for (const state of [null, { keyframe: "broken" }]) {
    const h = new Harness({ storage: true });
    h.run(h.w.connected(0));
    h.run(h.w.stored(10, state));
    assert.deepEqual(h.syncs, [{ streamId: "s1", have: null }]);
    assert.equal(h.doc, "");
  }
});

test("a stored state slower than STORED_WAIT_MS is not waited for, and changes nothing after", () => {
  const h = new Harness({ storage: true });
  h.run(h.w.connected(0));
  h.run(h.w.tick(STORED_WAIT_MS - 1));
  assert.deepEqual(h.syncs, []);
  h.run(h.w.tick(STORED_WAIT_MS));
  assert.deepEqual(h.syncs, [{ streamId: "s1", have: null }]);
  h.recv(STORED_WAIT_MS + 5, snap("e", 5, "live doc"));
  assert.deepEqual(h.w.stored(STORED_WAIT_MS + 10, STORED), []);
  assert.equal(h.doc, "live doc");
});

test("a stream stored as ended shows ended at once and asks nothing", () => {
  const h = new Harness({ storage: true });
  h.run(h.w.connected(0));
  h.run(h.w.stored(1, { ...STORED, ended: true }));
  assert.equal(h.doc, "fn main() {}\n// ok");
  assert.deepEqual(h.states, ["ended"]);
  assert.deepEqual(h.syncs, []);
  assert.equal(h.w.nextTick(), null);
});

test("a watcher that finds a gap is caught up too, when the streamer has what it misses", () => {
  const h = new Harness();
  h.run(h.w.connected(0));
  h.recv(1, snap("e", 2, "ab"));
  h.recv(2000, delta("e", 4, [[0, 0, "d"]]));
  assert.deepEqual(h.syncs.at(-1), { streamId: "s1", have: { epoch: "e", v: 2 } });
  h.recv(2001, catchup(2, 3, [[2, 2, "c"]]));
  assert.equal(h.doc, "dabc");
  assert.equal(h.w.v, 4);
});

const group = (from, v, deltas, extra = {}) => ({ type: "catchup", streamId: "s1", epoch: "e", from, v, deltas, ...extra });

test("a group catchup: a waiting watcher applies the entries after its version; others ignore it or take it as deltas", () => {
  const h = new Harness({ storage: true });
  h.run(h.w.connected(0));
  h.run(h.w.stored(1, STORED)); // at e:2
  h.recv(2, delta("e", 5, [[0, 0, "c"]])); // live, held
  for (const wrong of [
    group(3, 4, [[4, [[0, 0, "b"]]]]), // starts after us
    { ...group(1, 4, [[2, [[0, 0, "z"]]], [3, [[0, 0, "a"]]], [4, [[0, 0, "b"]]]]), epoch: "x" }, // another epoch
    group(1, 4, [[2, [[0, 0, "z"]]], [3, [[0, 0, "a"]]]]), // entries missing
    group(1, 3, [[2, [[0, 0, "z"]]], [4, [[0, 0, "a"]]]]), // versions out of order
    group(1, 3, [[2, [[0, 0, "z"]]], [3, [[99, 99, "a"]]]]), // a change that does not fit
  ]) {
    assert.deepEqual(h.recv(3, wrong), [], JSON.stringify(wrong));
    assert.equal(h.w.phase, "waiting");
  }
  h.recv(4, group(1, 4, [[2, [[0, 0, "z"]]], [3, [[0, 0, "a"]]], [4, [[0, 0, "b"]], [1, 1]]], { lang: "go", title: "Live" }));
  assert.equal(h.w.phase, "synced");
  assert.equal(h.doc, "cbafn main() {}\n// ok", "v2 (which it had) skipped, v3 and v4 applied, then the held v5");
  assert.deepEqual([h.lang, h.title], ["go", "Live"]);
  // synced: the same group catchup again (another watcher's answer) changes nothing
  assert.deepEqual(h.recv(5, group(1, 4, [[2, [[0, 0, "z"]]], [3, [[0, 0, "a"]]], [4, [[0, 0, "b"]]]])), []);
  // one reaching past us applies as deltas, and the live delta after it is a duplicate
  h.recv(6, group(4, 6, [[5, [[0, 0, "c"]]], [6, [[0, 0, "d"]]]]));
  assert.equal(h.doc, "dcbafn main() {}\n// ok");
  assert.equal(h.w.v, 6);
  assert.deepEqual(h.recv(7, delta("e", 6, [[0, 0, "d"]])), []);
  assert.equal(h.doc, "dcbafn main() {}\n// ok");
  assert.deepEqual(h.syncs.length, 1, "nothing more was asked");
});

test("a group catchup reaches no watcher without a document", () => {
  const h = new Harness();
  h.run(h.w.connected(0));
  assert.deepEqual(h.recv(1, { ...group(0, 1, [[1, [[0, 0, "a"]]]]) }), []);
  assert.equal(h.w.phase, "waiting");
});

test("a stored state later than STORED_WAIT_MS is shown while nothing else is, and a group catchup makes it current", () => {
  const h = new Harness({ storage: true });
  h.run(h.w.connected(0));
  h.run(h.w.tick(STORED_WAIT_MS));
  assert.deepEqual(h.syncs, [{ streamId: "s1", have: null }]);
  h.run(h.w.stored(STORED_WAIT_MS + 10, STORED)); // late: shown, nothing more asked
  assert.equal(h.doc, "fn main() {}\n// ok");
  assert.equal(h.syncs.length, 1);
  assert.equal(h.w.phase, "waiting");
  h.recv(STORED_WAIT_MS + 20, group(1, 3, [[2, [[0, 0, "z"]]], [3, [[0, 0, "a"]]]]));
  assert.equal(h.w.phase, "synced");
  assert.equal(h.doc, "afn main() {}\n// ok");
  // the snapshot its first sync asked for, when it comes, is older: it changes nothing
  assert.deepEqual(h.recv(STORED_WAIT_MS + 30, snap("e", 3, "afn main() {}\n// ok")), []);
});
