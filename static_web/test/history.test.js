// @ts-check
// The stored history's core, driven event by event: what it uploads, in which order, when,
// and how it recovers from each answer the server can give.
import { test } from "node:test";
import assert from "node:assert/strict";
import { STORAGE } from "../src/core/contract.js";
import { HISTORY_TIMING, mergeSegments, StreamHistory } from "../src/core/history.js";

/** @import { KeyframeSource, UploadAction } from "../src/core/history.js" */

/** A streamer's side of it: the document at the last final version, kept by hand. */
function source(doc = "hello", epoch = "e1") {
  const src = { epoch, v: 0, doc, lang: "python", title: "" };
  return { src, get: () => ({ ...src }) };
}

/** @param {Partial<typeof STORAGE>} [storage] */
function history(storage = {}) {
  const h = new StreamHistory({ storage: { ...STORAGE, ...storage }, wall: (t) => 1_000_000 + t });
  h.startEpoch(0, "e1");
  return h;
}

/** A final delta of e1 at version v, numbered at `at`. */
const delta = (/** @type {number} */ v, /** @type {string} */ insert = "x", at = v) => ({
  type: /** @type {const} */ ("delta"),
  epoch: "e1",
  v,
  changes: /** @type {[number, number, string][]} */ ([[0, 0, insert]]),
  sel: /** @type {[number, number]} */ ([1, 1]),
});

/** The one upload handed out, checked to be one. @returns {UploadAction} */
function one(/** @type {UploadAction[]} */ actions) {
  assert.equal(actions.length, 1, JSON.stringify(actions));
  return actions[0];
}

/** Answer 200 for the upload in flight; returns what goes next. */
const ok = (/** @type {StreamHistory} */ h, /** @type {UploadAction} */ a, /** @type {() => KeyframeSource} */ get, now = 0) =>
  h.uploaded(now, a.serial, { status: 200, head: { epoch: a.body.epoch, v: "v" in a.body ? a.body.v : a.body.to } }, get);

test("nothing goes up before the stream is known; then the epoch's keyframe first", () => {
  const h = history();
  const { get } = source();
  assert.deepEqual(h.pump(0, get), []);
  assert.equal(h.status, "waiting");
  h.start();
  const kf = one(h.pump(5, get));
  assert.deepEqual(kf, { type: "upload", serial: 1, kind: "keyframes", keepalive: false, body: { epoch: "e1", v: 0, t: 1_000_005, doc: "hello", lang: "python" } });
  assert.deepEqual(h.pump(6, get), [], "one upload in flight");
  assert.deepEqual(ok(h, kf, get), []);
  assert.deepEqual(h.stored, { epoch: "e1", v: 0 });
  assert.equal(h.status, "saved");
});

test("a segment is cut segmentMs after its first delta, with each delta's time after t0", () => {
  const h = history();
  const { src, get } = source();
  h.start();
  ok(h, one(h.pump(0, get)), get);
  h.record(100, delta(1, "a"));
  h.record(140, { ...delta(2, "b"), sel: undefined });
  h.record(2999, delta(3, "c"));
  assert.equal(h.nextTick(), 100 + STORAGE.segmentMs);
  assert.deepEqual(h.tick(100 + STORAGE.segmentMs - 1, get), []);
  src.v = 3;
  const seg = one(h.tick(100 + STORAGE.segmentMs, get));
  assert.deepEqual(seg.body, {
    epoch: "e1",
    from: 1,
    to: 3,
    t0: 1_000_100,
    deltas: [
      [0, [[0, 0, "a"]], [1, 1]],
      [40, [[0, 0, "b"]], null],
      [2899, [[0, 0, "c"]], [1, 1]],
    ],
    controls: [],
  });
  assert.equal(h.nextTick(), null, "nothing more to cut or retry");
  // a delta numbered after the window closed opens the next segment
  h.record(5000, delta(4));
  assert.equal(h.segment?.from, 4);
});

test("a delta that would take a segment past segmentBytes starts the next one", () => {
  const h = history({ segmentBytes: 300 });
  const { get } = source();
  h.start();
  ok(h, one(h.pump(0, get)), get);
  h.record(1, delta(1, "a".repeat(150)));
  h.record(2, delta(2, "b".repeat(150)));
  const first = one(h.pump(2, get));
  assert.deepEqual([/** @type {any} */ (first.body).from, /** @type {any} */ (first.body).to], [1, 1]);
  assert.equal(h.segment?.from, 2);
  // one bigger than the cut on its own is cut right after it
  ok(h, first, get);
  h.record(3, delta(3, "c".repeat(400)));
  assert.equal(h.segment, null);
  assert.equal(h.queue.length, 2, "2 and 3, in order");
});

test("versions recorded already are skipped; a jump is bridged with a keyframe", () => {
  const h = history();
  const { src, get } = source();
  h.start();
  ok(h, one(h.pump(0, get)), get);
  h.record(1, delta(1));
  h.record(2, delta(1)); // again (a sealed delta acknowledged later)
  assert.equal(h.segment?.deltas.length, 1);
  h.record(3, delta(5)); // not the next version: only a keyframe can continue from here
  assert.equal(h.segment, null);
  src.v = 5;
  src.doc = "xxxxxhello";
  const kf = one(h.pump(4, get));
  assert.deepEqual([kf.kind, kf.body.epoch, /** @type {any} */ (kf.body).v], ["keyframes", "e1", 5]);
});

test("network errors, 5xx, 429 and conflicts are retried with backoff, Retry-After when given", () => {
  const h = history();
  const { get } = source();
  h.start();
  let a = one(h.pump(0, get));
  assert.deepEqual(h.uploaded(10, a.serial, { status: 0 }, get), []);
  assert.equal(h.status, "retrying");
  assert.equal(h.nextTick(), 10 + HISTORY_TIMING.retryMs);
  assert.deepEqual(h.tick(10 + HISTORY_TIMING.retryMs - 1, get), []);
  a = one(h.tick(10 + HISTORY_TIMING.retryMs, get));
  assert.equal(a.kind, "keyframes", "the same upload again");
  h.uploaded(2000, a.serial, { status: 503, code: "storage_unavailable", retryAfterMs: 2000 }, get);
  assert.equal(h.nextTick(), 2000 + 2 * HISTORY_TIMING.retryMs, "doubled (more than Retry-After)");
  a = one(h.tick(4000, get));
  h.uploaded(4000, a.serial, { status: 429, code: "rate_limited", retryAfterMs: 7000 }, get);
  assert.equal(h.nextTick(), 11_000, "Retry-After, longer than the backoff");
  a = one(h.tick(11_000, get));
  h.uploaded(11_000, a.serial, { status: 409, code: "conflict" }, get);
  assert.equal(h.nextTick(), 11_000 + HISTORY_TIMING.retryMaxMs, "capped");
  a = one(h.tick(20_000, get));
  assert.deepEqual(ok(h, a, get, 20_000), []);
  assert.equal(h.status, "saved");
  // a stale answer (an upload no longer in flight) changes nothing
  assert.deepEqual(h.uploaded(20_001, a.serial, { status: 0 }, get), []);
  assert.equal(h.retryAt, null);
});

test("out_of_order on a segment: what waits is dropped and a keyframe at the current version goes", () => {
  const h = history();
  const { src, get } = source();
  h.start();
  ok(h, one(h.pump(0, get)), get);
  h.record(1, delta(1));
  h.cutNow(2);
  const seg = one(h.pump(2, get));
  h.record(3, delta(2));
  h.cutNow(4); // queued behind the one in flight
  src.v = 2;
  src.doc = "xxhello";
  const kf = one(h.uploaded(5, seg.serial, { status: 409, code: "out_of_order", head: { epoch: "e1", v: 7 } }, get));
  assert.deepEqual(kf.body, { epoch: "e1", v: 2, t: 1_000_005, doc: "xxhello", lang: "python" });
  assert.equal(h.queue.length, 1, "only the keyframe");
  // what is recorded while it is in flight goes after it
  h.record(6, delta(3));
  assert.equal(h.segment?.from, 3);
  for (const code of ["no_stream", "bad_delta", "too_large"]) {
    const again = history();
    const fresh = source();
    again.start();
    ok(again, one(again.pump(0, fresh.get)), fresh.get);
    again.record(1, delta(1));
    again.cutNow(1);
    const s = one(again.pump(1, fresh.get));
    const status = code === "too_large" ? 413 : code === "no_stream" ? 404 : 400;
    assert.equal(one(again.uploaded(2, s.serial, { status, code }, fresh.get)).kind, "keyframes", code);
  }
});

test("storing stops for good on history_full, a refused owner key, or a refused keyframe", () => {
  const { get } = source();
  /** @type {[number, string][]} */
  const stops = [
    [409, "history_full"],
    [403, "owner_key_mismatch"],
    [401, "unauthenticated"],
  ];
  for (const [status, code] of stops) {
    const h = history();
    h.start();
    const kf = one(h.pump(0, get));
    assert.deepEqual(h.uploaded(1, kf.serial, { status, code }, get), []);
    assert.equal(h.status, "stopped", code);
    h.record(2, delta(1));
    h.control(3, { title: "t" });
    assert.deepEqual(h.tick(10_000, get), []);
    assert.equal(h.queue.length, 0);
  }
  // a keyframe refused out_of_order: this page's epoch is over (another page took the stream)
  const h = history();
  h.start();
  const kf = one(h.pump(0, get));
  h.uploaded(1, kf.serial, { status: 409, code: "out_of_order", head: { epoch: "other", v: 3 } }, get);
  assert.equal(h.status, "stopped");
  assert.match(/** @type {string} */ (h.stopped), /keyframe was refused/);
});

test("a document too big for a keyframe stops storing; live streaming is not its concern", () => {
  const h = new StreamHistory({ limits: { ...(/** @type {any} */ (new StreamHistory()).limits), keyframeBytes: 50 } });
  h.startEpoch(0, "e1");
  h.start();
  const { get } = source("x".repeat(100));
  assert.deepEqual(h.pump(0, get), []);
  assert.equal(h.status, "stopped");
});

test("past maxQueuedBytes the queue is replaced by one keyframe (a gap in storage only)", () => {
  const h = history({ maxQueuedBytes: 1000, keyframeMinBytes: 1_000_000 });
  const { src, get } = source();
  h.start();
  const kf = one(h.pump(0, get));
  h.uploaded(0, kf.serial, { status: 0 }, get); // storage is down: the keyframe waits to retry
  for (let v = 1; v <= 40; v++) {
    h.record(v * 10, delta(v, "y".repeat(40)));
    h.cutNow(v * 10);
  }
  assert.ok(h.queuedBytes <= 1000, `${h.queuedBytes} bytes queued`);
  assert.equal(h.queue[h.queue.length - 1].body, null, "a keyframe placeholder last");
  // storage is back: the keyframe of the current version, then what came after it
  src.v = 40;
  src.doc = "y".repeat(1600) + "hello";
  const first = one(h.tick(100_000, get));
  const sent = [first];
  let next = ok(h, first, get);
  while (next.length) {
    sent.push(next[0]);
    next = ok(h, next[0], get);
  }
  const last = sent[sent.length - 1];
  assert.deepEqual([last.kind, /** @type {any} */ (last.body).v], ["keyframes", 40]);
  assert.deepEqual(h.stored, { epoch: "e1", v: 40 });
});

test("a keyframe follows when the segments outweigh max(keyframeMinBytes, the document)", () => {
  const h = history({ keyframeMinBytes: 500 });
  const { src, get } = source("d".repeat(100));
  h.start();
  ok(h, one(h.pump(0, get)), get);
  let v = 0;
  let kinds = [];
  for (let i = 0; i < 6; i++) {
    v += 1;
    h.record(v, delta(v, "z".repeat(150)));
    h.cutNow(v);
    src.v = v;
    for (let a = h.pump(v, get); a.length; a = ok(h, a[0], get)) kinds.push(a[0].kind);
  }
  // ~200 bytes a segment: the third passes 500 bytes, then a keyframe; then again
  assert.deepEqual(kinds, ["segments", "segments", "segments", "keyframes", "segments", "segments", "segments", "keyframes"]);
  // and before the tail reaches tailMaxSegments, however small the segments
  const t = history({ tailMaxSegments: 4 });
  t.start();
  const s2 = source();
  ok(t, one(t.pump(0, s2.get)), s2.get);
  kinds = [];
  for (let n = 1; n <= 6; n++) {
    t.record(n, delta(n));
    t.cutNow(n);
    s2.src.v = n;
    for (let a = t.pump(n, s2.get); a.length; a = ok(t, a[0], s2.get)) kinds.push(a[0].kind);
  }
  assert.deepEqual(kinds, ["segments", "segments", "segments", "keyframes", "segments", "segments", "segments", "keyframes"]);
});

test("controls go into the segment; alone they make a controls-only segment; the end is stored at once", () => {
  const h = history();
  const { get } = source();
  h.start();
  ok(h, one(h.pump(0, get)), get);
  h.record(10, delta(1));
  h.control(20, { title: "T" });
  h.control(30, { lang: "rust" });
  h.cutNow(40);
  const seg = one(h.pump(40, get));
  assert.deepEqual(/** @type {any} */ (seg.body).controls, [[10, { title: "T" }], [20, { lang: "rust" }]]);
  ok(h, seg, get);
  h.control(50, { ended: true });
  const end = one(h.pump(50, get));
  assert.deepEqual(end.body, { epoch: "e1", from: 2, to: 1, t0: 1_000_050, deltas: [], controls: [[0, { ended: true }]] });
});

test("the end while a keyframe waits is stored right after the keyframe", () => {
  const h = history();
  const { get } = source();
  h.control(0, { ended: true }); // before the stream is known: the epoch's keyframe waits
  h.start();
  const kf = one(h.pump(1, get));
  assert.equal(kf.kind, "keyframes");
  const end = one(ok(h, kf, get));
  assert.deepEqual(/** @type {any} */ (end.body).controls, [[0, { ended: true }]]);
});

test("a new epoch: the old one's segment goes up, then the new epoch's keyframe", () => {
  const h = history();
  const { src, get } = source();
  h.start();
  ok(h, one(h.pump(0, get)), get);
  h.record(1, delta(1));
  h.startEpoch(2, "e2");
  const old = one(h.pump(2, get));
  assert.deepEqual([old.kind, old.body.epoch], ["segments", "e1"]);
  src.epoch = "e2";
  src.v = 0;
  const kf = one(ok(h, old, get));
  assert.deepEqual([kf.kind, kf.body.epoch], ["keyframes", "e2"]);
});

test("pagehide: what is pending goes as one keepalive upload within keepaliveBytes", () => {
  const { src, get } = source();
  // nothing in flight: the pending segments, merged
  let h = history();
  h.start();
  ok(h, one(h.pump(0, get)), get);
  h.record(100, delta(1, "a"));
  h.cutNow(200);
  const s1 = one(h.pump(200, get));
  ok(h, s1, get);
  h.record(300, delta(2, "b"));
  h.cutNow(400);
  h.record(500, delta(3, "c"));
  // (segment 2 waits behind nothing but was never pumped: as after a failed try)
  h.retryAt = 10_000;
  let flushed = one(h.flush(600, get));
  assert.equal(flushed.keepalive, true);
  assert.deepEqual(flushed.body, { epoch: "e1", from: 2, to: 3, t0: 1_000_300, deltas: [[0, [[0, 0, "b"]], [1, 1]], [200, [[0, 0, "c"]], [1, 1]]], controls: [] });
  assert.equal(h.queue.length, 0);
  assert.deepEqual(h.flush(700, get), [], "nothing left");

  // one in flight: a keyframe of the current version, which is accepted whatever it became
  h = history();
  h.start();
  ok(h, one(h.pump(0, get)), get);
  h.record(100, delta(1));
  h.cutNow(100);
  const inFlight = one(h.pump(100, get));
  h.record(200, delta(2));
  src.v = 2;
  src.doc = "xxhello";
  flushed = one(h.flush(300, get));
  assert.deepEqual([flushed.kind, /** @type {any} */ (flushed.body).v, flushed.keepalive], ["keyframes", 2, true]);
  assert.equal(h.queue.length, 1, "the one in flight is still tracked");
  assert.ok(inFlight);

  // a document too big for keepalive: the pending segment, best effort
  const big = source();
  h = history({ keepaliveBytes: 200 });
  h.start();
  ok(h, one(h.pump(0, big.get)), big.get);
  h.record(100, delta(1));
  h.cutNow(100);
  one(h.pump(100, big.get));
  h.record(200, delta(2));
  big.src.v = 2;
  big.src.doc = "w".repeat(500);
  flushed = one(h.flush(300, big.get));
  assert.deepEqual([flushed.kind, /** @type {any} */ (flushed.body).from], ["segments", 2]);
  // and nothing at all when neither fits
  const none = source();
  h = history({ keepaliveBytes: 60 });
  h.start();
  ok(h, one(h.pump(0, none.get)), none.get);
  h.record(100, delta(1, "q".repeat(100)));
  none.src.v = 1;
  none.src.doc = "q".repeat(100) + "hello";
  assert.deepEqual(h.flush(300, none.get), []);
});

test("mergeSegments: consecutive segments of one epoch, times re-based; anything else is null", () => {
  const a = { kind: /** @type {const} */ ("segments"), bytes: 0, body: { epoch: "e", from: 1, to: 2, t0: 1000, deltas: /** @type {any} */ ([[0, [], null], [5, [], null]]), controls: /** @type {any} */ ([[3, { title: "x" }]]) } };
  const b = { kind: /** @type {const} */ ("segments"), bytes: 0, body: { epoch: "e", from: 3, to: 3, t0: 1002, deltas: /** @type {any} */ ([[1, [[0, 0, "z"]], null]]), controls: /** @type {any} */ ([[0, { lang: "go" }]]) } };
  const merged = mergeSegments([a, b]);
  assert.deepEqual(merged?.body, {
    epoch: "e",
    from: 1,
    to: 3,
    t0: 1000,
    deltas: [[0, [], null], [5, [], null], [5, [[0, 0, "z"]], null]],
    controls: [[3, { title: "x" }], [3, { lang: "go" }]],
  });
  assert.equal(mergeSegments([a, { ...b, body: { ...b.body, from: 4, to: 4 } }]), null);
  assert.equal(mergeSegments([a, { ...b, body: { ...b.body, epoch: "f" } }]), null);
  assert.equal(mergeSegments([a, { kind: "keyframes", bytes: 0, body: null }]), null);
  assert.equal(mergeSegments([]), null);
  assert.equal(a.body.deltas.length, 2, "the inputs are not changed");
});

test("pagehide after a failed try: a keyframe, since the upload waiting to be retried may be stored", () => {
  const { src, get } = source();
  const h = history();
  h.start();
  ok(h, one(h.pump(0, get)), get);
  h.record(100, delta(1));
  h.cutNow(100);
  const seg = one(h.pump(100, get));
  h.uploaded(110, seg.serial, { status: 0 }, get); // stored, perhaps, but the answer was lost
  h.record(200, delta(2));
  src.v = 2;
  src.doc = "xxhello";
  const flushed = one(h.flush(300, get));
  assert.deepEqual([flushed.kind, /** @type {any} */ (flushed.body).v], ["keyframes", 2]);
});
