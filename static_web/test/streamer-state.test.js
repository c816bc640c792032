// @ts-check
// The streamer's protocol core, driven event by event: what it sends, in which order, when.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LIMITS, STORAGE, STREAMER } from "../src/core/contract.js";
import { applyChanges } from "../src/core/delta.js";
import { FIRST_ACK_ID } from "../src/core/outbox.js";
import { StreamerState, TIMING } from "../src/core/streamer-state.js";
import { jsonStringBytes } from "../src/core/split.js";

/** @import { StreamerAction } from "../src/core/streamer-state.js" */

const SID = "stream-under-test";
const W = STREAMER.batchWindowMs;

/** Epochs "e1", "e2"... so tests can name them. */
function epochs() {
  let n = 0;
  return () => `e${++n}`;
}

/** @param {ConstructorParameters<typeof StreamerState>[0]} [options] */
function streamer(options = {}) {
  return new StreamerState({ doc: "hello", sel: [5, 5], makeEpoch: epochs(), ...options });
}

/**
 * @template {StreamerAction["type"]} T
 * @param {StreamerAction[]} actions
 * @param {T} type
 * @returns {Extract<StreamerAction, { type: T }>[]}
 */
const only = (actions, type) => /** @type {any[]} */ (actions.filter((a) => a.type === type));

const TICKET = "ticket-of-the-sync-request";
/** A sync-request as the Function App forwards it. */
const syncRequest = (/** @type {string} */ connectionId, /** @type {unknown} */ have = null) => ({ type: "sync-request", connectionId, have, ticket: TICKET });

/** Connect, let the announce delta be acknowledged and the first keyframe stored; returns the core. */
function live(options = {}) {
  const s = streamer(options);
  const actions = s.connected(0, SID);
  const [announce] = only(actions, "delta");
  const [keyframe] = only(actions, "upload");
  assert.deepEqual(s.deltaSent(1, announce.ackId), []);
  assert.deepEqual(s.uploaded(1, keyframe.serial, { status: 200, head: { epoch: "e1", v: 0 } }), []);
  return s;
}

test("a new connection shows live, asks for the count, announces the epoch and stores a keyframe", () => {
  const s = streamer();
  const actions = s.connected(0, SID);
  assert.deepEqual(actions, [
    { type: "status", state: "live" },
    { type: "count", data: { streamId: SID } },
    { type: "delta", group: SID, ackId: FIRST_ACK_ID, msg: { type: "delta", epoch: "e1", v: 1, changes: [], sel: [5, 5] } },
    { type: "upload", streamId: SID, serial: 1, kind: "keyframes", keepalive: false, body: { epoch: "e1", v: 0, t: 0, doc: "hello" } },
  ]);
  assert.equal(s.queued, 1);
  assert.deepEqual(s.deltaSent(5, FIRST_ACK_ID), []);
  assert.equal(s.queued, 0);
  // a second connection of the same page has nothing to announce, and the keyframe is in flight
  assert.deepEqual(s.connected(10, SID), [{ type: "status", state: "live" }, { type: "count", data: { streamId: SID } }]);
});

test("nothing is sent before the first connection; edits wait in the outbox", () => {
  const s = streamer();
  assert.deepEqual(s.edit(0, [[5, 5, "!"]], [6, 6]), []);
  assert.equal(s.queued, 1);
  const deltas = only(s.connected(100, SID), "delta");
  assert.equal(deltas.length, 1, "one in flight");
  assert.deepEqual(deltas[0].msg, { type: "delta", epoch: "e1", v: 1, changes: [[5, 5, "!"]], sel: [6, 6] });
});

test("leading edge: the first keystroke goes at once, the rest of the window in one batch", () => {
  const s = live();
  const first = only(s.edit(100, [[5, 5, " "]], [6, 6]), "delta");
  assert.deepEqual(first.map((a) => a.msg.v), [2]);
  s.deltaSent(101, first[0].ackId);
  assert.deepEqual(s.edit(110, [[6, 6, "w"]], [7, 7]), []);
  assert.deepEqual(s.edit(120, [[7, 7, "o"]], [8, 8]), []);
  assert.equal(s.nextTick(), 100 + W);
  assert.deepEqual(s.tick(100 + W - 1), []);
  const batch = only(s.tick(100 + W), "delta");
  assert.deepEqual(batch[0].msg, { type: "delta", epoch: "e1", v: 3, changes: [[6, 6, "w"], [7, 7, "o"]], sel: [8, 8] });
  assert.equal(s.doc, "hello wo");
  // the window after it is empty: the burst ends; the next timer is the history's segment
  s.deltaSent(150, batch[0].ackId);
  assert.equal(s.nextTick(), 100 + 2 * W);
  assert.deepEqual(s.tick(100 + 2 * W), []);
  assert.equal(s.batcher.windowEnd, null);
  assert.equal(s.nextTick(), STORAGE.segmentMs, "the segment opened by the announce at 0 is cut then");
});

test("one delta in flight: what is typed meanwhile folds into one queued delta", () => {
  const s = live();
  const [inFlight] = only(s.edit(0, [[5, 5, "a"]], [6, 6]), "delta");
  let t = 0;
  for (const ch of "bcdefgh") {
    t += W; // each keystroke in a window of its own
    assert.deepEqual(only(s.edit(t, [[s.doc.length, s.doc.length, ch]], null), "delta"), []);
    s.tick(t + W);
  }
  assert.equal(s.queued, 2, "the one in flight and one folded behind it");
  const [next] = only(s.deltaSent(t + 1, inFlight.ackId), "delta");
  assert.equal(next.msg.v, 3);
  assert.equal(applyChanges("helloa", next.msg.changes), "helloabcdefgh");
  assert.ok(next.ackId > inFlight.ackId, "ack ids only grow");
});

test("a send lost to the network is retried with the same ack id and the same message", () => {
  const s = live();
  const [sent] = only(s.edit(0, [[0, 0, ">"]], [1, 1]), "delta");
  assert.deepEqual(s.deltaFailed(10, sent.ackId), []);
  assert.deepEqual(s.tick(W), [], "the batch window closes empty");
  assert.equal(s.nextTick(), 10 + TIMING.retryMs);
  assert.deepEqual(s.tick(10 + TIMING.retryMs - 1), []);
  const [again] = only(s.tick(10 + TIMING.retryMs), "delta");
  assert.deepEqual(again, sent);
  // a stale outcome of an older send changes nothing
  assert.deepEqual(s.deltaSent(2000, sent.ackId - 1), []);
  assert.equal(s.queued, 1);
});

test("a reconnection sends the queued delta at once, without waiting for the retry", () => {
  const s = live();
  const [sent] = only(s.edit(0, [[0, 0, ">"]], [1, 1]), "delta");
  assert.deepEqual(s.dropped(5), [{ type: "status", state: "reconnecting" }]);
  s.deltaFailed(6, sent.ackId);
  assert.deepEqual(s.edit(7, [[1, 1, ">"]], [2, 2]), [], "offline: nothing goes out");
  const resent = only(s.recovered(8), "delta");
  assert.deepEqual(resent, [sent]);
});

test("a refused delta starts a new epoch, announced after the refusal back-off", () => {
  const s = live();
  const [sent] = only(s.edit(0, [[0, 0, "x"]], [1, 1]), "delta");
  s.edit(W + 1, [[1, 1, "y"]], [2, 2]); // queued behind it
  const actions = s.deltaFailed(20, sent.ackId, { refused: true, detail: { name: "Forbidden" } });
  assert.deepEqual(actions.filter((a) => a.type !== "upload"), [
    { type: "warn", what: "delta refused", detail: { name: "Forbidden" } },
    { type: "epoch", epoch: "e2", reason: "refused" },
  ]);
  // what the old epoch stored goes up (its announce), then the new epoch starts with a keyframe
  const [old] = only(actions, "upload");
  assert.deepEqual([old.kind, old.body.epoch], ["segments", "e1"]);
  const [keyframe] = only(s.uploaded(21, old.serial, { status: 200 }), "upload");
  assert.deepEqual(keyframe.body, { epoch: "e2", v: 0, t: 21, doc: "xyhello" });
  assert.equal(s.epoch, "e2");
  assert.equal(s.v, 1);
  assert.equal(s.queued, 1, "only the announce of the new epoch");
  s.tick(2 * W + 1); // the batch windows close
  assert.equal(s.nextTick(), 20 + TIMING.refusedRetryMs);
  const [announce] = only(s.tick(20 + TIMING.refusedRetryMs), "delta");
  assert.deepEqual(announce.msg, { type: "delta", epoch: "e2", v: 1, changes: [], sel: [2, 2] });
  assert.equal(s.doc, "xyhello", "the document is kept; watchers get it by snapshot");
});

test("a sync-request is answered with a snapshot at a numbered version, one chunk at a time", () => {
  const limits = { ...LIMITS, snapshotChunkBytes: 4 };
  const s = live({ limits, lang: "python", title: "T" });
  const [d2] = only(s.edit(0, [[5, 5, "!"]], [6, 6]), "delta");
  s.edit(10, [[6, 6, "?"]], [7, 7]); // held by the batcher
  const actions = s.receive(11, syncRequest("w1"));
  // the held edit is numbered first (v3, queued behind v2 in flight), then the snapshot at v3
  assert.deepEqual(only(actions, "delta"), []);
  assert.equal(s.v, 3);
  const [first] = only(actions, "snapshot");
  assert.deepEqual(first, {
    type: "snapshot",
    to: "w1",
    serial: first.serial,
    data: { streamId: SID, to: "w1", ticket: TICKET, epoch: "e1", v: 3, doc: "hell", lang: "python", title: "T", chunk: [0, 2] },
  });
  const [second] = only(s.snapshotSent(12, "w1", first.serial), "snapshot");
  assert.deepEqual(second.data.doc, "o!?");
  assert.deepEqual(second.data.chunk, [1, 2]);
  assert.equal(second.data.ticket, TICKET, "every chunk echoes the ticket");
  assert.deepEqual(s.snapshotSent(13, "w1", first.serial), []);
  // v3 is sealed: what is typed next must not fold into it (the watcher drops v3 as seen)
  s.deltaSent(14, d2.ackId);
  s.edit(100, [[7, 7, "."]], [8, 8]);
  assert.equal(s.v, 4);
});

test("repeats of a request share the snapshot in flight; a new `have` gets one follow-up", () => {
  const s = live();
  const [snap] = only(s.receive(0, syncRequest("w1")), "snapshot");
  assert.deepEqual(s.receive(1, syncRequest("w1")), []);
  s.edit(2, [[0, 0, "a"]], [1, 1]);
  // while a snapshot is in flight for it, a watcher is answered by snapshots only
  assert.deepEqual(s.receive(3, syncRequest("w1", { epoch: "e1", v: 1 })), []);
  const follow = only(s.snapshotSent(4, "w1", snap.serial), "snapshot");
  assert.equal(follow.length, 1);
  assert.equal(follow[0].data.v, 2);
  assert.equal(follow[0].data.doc, "ahello");
  assert.equal(follow[0].data.ticket, TICKET);
  assert.deepEqual(s.snapshotSent(5, "w1", follow[0].serial), []);
});

test("a failed snapshot is forgotten: the watcher's next request starts a new one", () => {
  const s = live();
  const [snap] = only(s.receive(0, syncRequest("w1")), "snapshot");
  assert.deepEqual(s.snapshotFailed(1, "w1", snap.serial, "gone"), [{ type: "warn", what: "snapshot", detail: "gone" }]);
  assert.deepEqual(s.snapshotSent(2, "w1", snap.serial), []);
  assert.equal(only(s.receive(3, syncRequest("w1")), "snapshot").length, 1);
});

test("a new connection drops the snapshots in flight on the old one", () => {
  const limits = { ...LIMITS, snapshotChunkBytes: 2 };
  const s = live({ limits });
  const [snap] = only(s.receive(0, syncRequest("w1")), "snapshot");
  s.dropped(1);
  s.connected(2, SID);
  assert.deepEqual(s.snapshotSent(3, "w1", snap.serial), [], "no more chunks of the stale snapshot");
  assert.equal(only(s.receive(4, syncRequest("w1")), "snapshot").length, 1);
});

test("sync-requests without a connection id or ticket, or before any connection, are ignored", () => {
  const s = streamer();
  assert.deepEqual(s.receive(0, syncRequest("w1")), []);
  s.connected(1, SID);
  assert.deepEqual(s.receive(2, { type: "sync-request", connectionId: 7, have: null, ticket: TICKET }), []);
  assert.deepEqual(s.receive(2, { type: "sync-request", connectionId: "w1", have: null }), [], "no ticket: the server would refuse the answer");
  assert.deepEqual(s.receive(2, { type: "sync-request", connectionId: "w1", have: null, ticket: 5 }), []);
  for (const junk of [null, 3, "x", [], { type: 5 }, { type: "watchers", count: "2" }]) {
    assert.deepEqual(s.receive(3, junk), []);
  }
  assert.deepEqual(s.receive(4, { type: "watchers", count: 2 }), [{ type: "watchers", count: 2 }]);
  assert.deepEqual(s.receive(5, { type: "error", code: "rate_limited", message: "slow down" }), [
    { type: "warn", what: "server refused a message", detail: { code: "rate_limited", message: "slow down" } },
  ]);
});

test("the title is cut to the contract's limit and sent once typing pauses; lang at once", () => {
  const limits = { ...LIMITS, titleChars: 5 };
  const s = live({ limits });
  assert.deepEqual(s.setTitle(0, "My long title"), []);
  assert.deepEqual(s.setTitle(100, "My long title!"), []);
  assert.equal(s.nextTick(), 100 + TIMING.titleDelayMs);
  assert.deepEqual(only(s.tick(100 + TIMING.titleDelayMs), "control"), [{ type: "control", data: { streamId: SID, title: "My lo" } }]);
  assert.deepEqual(only(s.setLang(600, "rust"), "control"), [{ type: "control", data: { streamId: SID, lang: "rust" } }]);
  // offline, nothing is sent; the next snapshot carries both
  s.dropped(700);
  assert.deepEqual(only(s.setLang(701, "go"), "control"), []);
  s.recovered(702);
  const [snap] = only(s.receive(703, syncRequest("w")), "snapshot");
  assert.equal(snap.data.lang, "go");
  assert.equal(snap.data.title, "My lo");
});

test("ending sends the `ended` control, then stops; nothing goes out after", () => {
  const s = live();
  const actions = s.end(0);
  assert.deepEqual(actions.filter((a) => a.type !== "upload"), [
    { type: "control", data: { streamId: SID, ended: true } },
    { type: "stop" },
    { type: "status", state: "ended" },
  ]);
  // the end is stored at once, with what was typed before it
  const [stored] = only(actions, "upload");
  assert.deepEqual(/** @type {any} */ (stored.body).controls, [[0, { ended: true }]]);
  assert.deepEqual(s.end(1), []);
  assert.deepEqual(s.edit(2, [[0, 0, "x"]], [1, 1]), []);
  assert.deepEqual(s.stopped(3), [], "stopping was asked for: no restart");
  assert.deepEqual(s.receive(4, syncRequest("w")), []);
});

test("a client that stopped by itself is restarted; a tab that lost the stream stops", () => {
  const s = live();
  assert.deepEqual(s.stopped(0), [{ type: "status", state: "reconnecting" }, { type: "restart" }]);
  assert.deepEqual(s.moved(1), [{ type: "stop" }, { type: "status", state: "moved" }]);
  assert.deepEqual(s.connected(2, SID), []);
});

test("a smaller delta budget in the contract splits a paste into more deltas", () => {
  const paste = "x".repeat(1000);
  const small = { ...LIMITS, deltaChangesBytes: 300, deltaChangeOverheadBytes: 20 };
  /** @type {Array<[typeof LIMITS, number]>} */
  const cases = [[LIMITS, 1], [small, 4]];
  for (const [limits, expected] of cases) {
    const s = live({ limits });
    const sent = [];
    let actions = s.edit(0, [[0, 0, paste]], [1000, 1000]);
    for (;;) {
      const [d] = only(actions, "delta");
      if (!d) break;
      sent.push(d.msg);
      actions = s.deltaSent(1, d.ackId);
    }
    assert.equal(sent.length, expected);
    assert.deepEqual(sent.map((m) => m.v), Array.from({ length: expected }, (_, i) => i + 2));
    for (const m of sent) {
      const bytes = m.changes.reduce((n, c) => n + jsonStringBytes(c[2]) + limits.deltaChangeOverheadBytes, 0);
      assert.ok(bytes <= limits.deltaChangesBytes, `${bytes} bytes`);
    }
    assert.equal(sent.reduce((doc, m) => applyChanges(doc, m.changes), "hello"), paste + "hello");
  }
});

// ---- joins from storage: catchups; watcher counts; the page going ----

// one join at a time (no group catchups: those are tested below)
const ALONE = { catchupGroupMs: 0 };

test("a sync-request from a watcher at an older version of this epoch gets only what it misses", () => {
  const s = live({ lang: "python", title: "T", timing: ALONE });
  const [d2] = only(s.edit(0, [[5, 5, " w"]], [7, 7]), "delta");
  s.deltaSent(1, d2.ackId);
  const [d3] = only(s.edit(100, [[7, 7, "o"]], [8, 8]), "delta"); // in flight, not acknowledged
  const actions = s.receive(101, syncRequest("w1", { epoch: "e1", v: 1 }));
  assert.deepEqual(actions, [
    {
      type: "catchup",
      to: "w1",
      serial: 1,
      data: { streamId: SID, to: "w1", ticket: TICKET, lang: "python", title: "T", epoch: "e1", from: 1, v: 3, changes: [[5, 5, " wo"]], sel: [8, 8] },
    },
  ]);
  // v3 is final now (the watcher will drop it when it comes live): nothing folds into it
  s.edit(120, [[8, 8, "r"]], [9, 9]);
  s.tick(100 + W);
  s.deltaSent(130, d3.ackId);
  assert.equal(s.v, 4);
  // a watcher that is current is told so; one from another epoch or ahead gets a snapshot
  assert.deepEqual(only(s.receive(140, syncRequest("w2", { epoch: "e1", v: 4 })), "catchup")[0].data.changes, []);
  assert.equal(only(s.receive(141, syncRequest("w3", { epoch: "old", v: 2 })), "snapshot").length, 1);
  assert.equal(only(s.receive(142, syncRequest("w4", { epoch: "e1", v: 9 })), "snapshot").length, 1);
  assert.equal(only(s.receive(143, syncRequest("w5", { epoch: "e1", v: -1 })), "snapshot").length, 1);
});

test("one catchup in flight per watcher; one that did not go is answered again, not by a snapshot", () => {
  const s = live({ timing: ALONE });
  const [c] = only(s.receive(0, syncRequest("w1", { epoch: "e1", v: 1 })), "catchup");
  assert.deepEqual(s.receive(1, syncRequest("w1", { epoch: "e1", v: 1 })), [], "a repeat: the one in flight answers it");
  assert.deepEqual(s.catchupFailed(2, "w1", c.serial, "overloaded"), [{ type: "warn", what: "catchup", detail: "overloaded" }]);
  const [again] = only(s.receive(3, syncRequest("w1", { epoch: "e1", v: 1 })), "catchup");
  assert.deepEqual(again.data, c.data, "not a snapshot: that would cost the whole document");
  assert.deepEqual(s.catchupSent(4, "w1", again.serial), []);
  assert.equal(only(s.receive(5, syncRequest("w1", { epoch: "e1", v: 1 })), "catchup").length, 1, "acknowledged: a new ask is answered");
  // another `have` (it applied the catchup, then found a gap) is answered at once
  const [x] = only(s.receive(6, syncRequest("w2", { epoch: "e1", v: 1 })), "catchup");
  assert.equal(only(s.receive(7, syncRequest("w2", { epoch: "e1", v: 0 })), "catchup").length, 1);
  assert.ok(x);
});

test("a catchup too big for one event, or from deltas no longer held, is a snapshot", () => {
  const s = live({ limits: { ...LIMITS, catchupBytes: 300 } });
  let actions = s.edit(0, [[0, 0, "x".repeat(400)]], [400, 400]);
  s.deltaSent(1, only(actions, "delta")[0].ackId);
  assert.equal(only(s.receive(2, syncRequest("w1", { epoch: "e1", v: 1 })), "snapshot").length, 1);
  const small = live({ storage: { ...STORAGE, historyMaxBytes: 100 } });
  for (let i = 0; i < 10; i++) {
    actions = small.edit(i * 100, [[0, 0, "y".repeat(30)]], [0, 0]);
    small.deltaSent(i * 100 + 1, only(actions, "delta")[0].ackId);
  }
  assert.equal(only(small.receive(2000, syncRequest("w1", { epoch: "e1", v: 1 })), "snapshot").length, 1);
  assert.equal(only(small.receive(2001, syncRequest("w2", { epoch: "e1", v: 10 })), "catchup").length, 1);
});

test("the watcher count is asked for at connect, after joins at most every watcherCountMs, and when idle", () => {
  const s = live();
  const count = { type: "count", data: { streamId: SID } };
  s.receive(10, syncRequest("w1", { epoch: "e1", v: 1 }));
  s.receive(20, syncRequest("w2", { epoch: "e1", v: 1 }));
  assert.deepEqual(only(s.tick(STREAMER.watcherCountMs - 1), "count"), []);
  assert.deepEqual(only(s.tick(STREAMER.watcherCountMs), "count"), [count], "one count for both joins");
  assert.deepEqual(only(s.tick(2 * STREAMER.watcherCountMs), "count"), [], "no joins since");
  assert.deepEqual(only(s.tick(STREAMER.watcherCountMs + STREAMER.watcherCountIdleMs), "count"), [count]);
  // offline: no counts; the next connection asks at once
  s.dropped(40_000);
  s.receive(40_001, syncRequest("w3"));
  assert.deepEqual(only(s.tick(100_000), "count"), []);
  assert.deepEqual(only(s.recovered(100_001), "count"), [count]);
  assert.deepEqual(s.receive(100_002, { type: "watchers", count: 3 }), [{ type: "watchers", count: 3 }]);
});

test("edits are stored as segments once acknowledged, with the time they were typed", () => {
  const s = live({ wall: (t) => 1_000_000 + t });
  const [d2] = only(s.edit(10, [[5, 5, "!"]], [6, 6]), "delta");
  const [first] = only(s.tick(STORAGE.segmentMs), "upload");
  assert.deepEqual(first.body, { epoch: "e1", from: 1, to: 1, t0: 1_000_000, deltas: [[0, [], [5, 5]]], controls: [] }, "the announce");
  assert.deepEqual(s.uploaded(STORAGE.segmentMs, first.serial, { status: 200 }), []);
  assert.equal(s.finalV, 1, "v2 is not acknowledged yet: not stored");
  s.deltaSent(20, d2.ackId);
  assert.deepEqual([s.finalV, s.finalDoc], [2, "hello!"]);
  const [second] = only(s.tick(10 + STORAGE.segmentMs), "upload");
  assert.deepEqual(second.body, { epoch: "e1", from: 2, to: 2, t0: 1_000_010, deltas: [[0, [[5, 5, "!"]], [6, 6]]], controls: [] });
  // an upload failing changes nothing live: the next edit goes at once all the same
  s.uploaded(10 + STORAGE.segmentMs, second.serial, { status: 503, code: "storage_unavailable", retryAfterMs: 2000 });
  assert.equal(only(s.edit(4000, [[6, 6, "."]], [7, 7]), "delta").length, 1);
});

test("pagehide: pending edits are numbered and final, and go to storage in one keepalive upload", () => {
  const s = live({ wall: (t) => 1_000_000 + t });
  const [d2] = only(s.edit(10, [[5, 5, "!"]], [6, 6]), "delta");
  s.edit(20, [[6, 6, "?"]], [7, 7]); // held by the batcher
  const actions = s.pagehide(30);
  const [flushed] = only(actions, "upload");
  assert.equal(flushed.keepalive, true);
  // the announce (v1) and both edits (v2 in flight, v3 just numbered), as one segment
  assert.deepEqual(flushed.body, {
    epoch: "e1",
    from: 1,
    to: 3,
    t0: 1_000_000,
    deltas: [
      [0, [], [5, 5]],
      [10, [[5, 5, "!"]], [6, 6]],
      [30, [[6, 6, "?"]], [7, 7]],
    ],
    controls: [],
  });
  assert.equal(s.finalDoc, "hello!?");
  // should the page stay (back/forward cache), the acknowledgement changes nothing stored
  s.deltaSent(40, d2.ackId);
  assert.equal(s.finalV, 3);
});

test("a page that lost the stream to another one stops storing too", () => {
  const s = live();
  s.edit(0, [[0, 0, "x"]], [1, 1]);
  s.moved(1);
  assert.equal(s.history.status, "stopped");
  assert.deepEqual(only(s.pagehide(2), "upload"), []);
});

test("a join storm: the first join gets its own catchup, the ones within the window share one group catchup", () => {
  const s = live({ lang: "python", title: "T" });
  const [d2] = only(s.edit(10, [[5, 5, " w"]], [7, 7]), "delta");
  s.deltaSent(11, d2.ackId);
  const [d3] = only(s.edit(100, [[7, 7, "o"]], [8, 8]), "delta"); // in flight
  assert.equal(only(s.receive(101, syncRequest("w1", { epoch: "e1", v: 1 })), "catchup").length, 1);
  // within the window: held, one group catchup when it closes, from the oldest version asked
  assert.deepEqual(s.receive(120, syncRequest("w2", { epoch: "e1", v: 2 })), []);
  assert.deepEqual(s.receive(150, syncRequest("w3", { epoch: "e1", v: 1 })), []);
  assert.deepEqual(s.receive(160, syncRequest("w4", { epoch: "old", v: 1 })).map((a) => a.type), ["snapshot"], "another epoch: its own answer");
  assert.ok(/** @type {number} */ (s.nextTick()) <= 120 + TIMING.catchupGroupMs);
  assert.deepEqual(only(s.tick(119 + TIMING.catchupGroupMs), "group-catchup"), [], "not before the window closes");
  const actions = s.tick(120 + TIMING.catchupGroupMs);
  assert.deepEqual(actions, [
    {
      type: "group-catchup",
      group: SID,
      msg: { type: "catchup", streamId: SID, lang: "python", title: "T", epoch: "e1", from: 1, v: 3, deltas: [[2, [[5, 5, " w"]], [7, 7]], [3, [[7, 7, "o"]], [8, 8]]] },
    },
  ]);
  // v3 is sealed: a later edit is a new version
  s.deltaSent(400, d3.ackId);
  const [d4] = only(s.edit(401, [[8, 8, "r"]], [9, 9]), "delta");
  assert.equal(d4.msg.v, 4);
});

test("a group catchup too big for every waiting watcher covers the newest; the older ones are answered alone", () => {
  const s = live({ limits: { ...LIMITS, catchupBytes: 400 } });
  for (let i = 0; i < 3; i++) {
    const [d] = only(s.edit(10 + i * 100, [[0, 0, "x".repeat(150)]], null), "delta");
    s.deltaSent(11 + i * 100, d.ackId);
  }
  assert.equal(only(s.receive(400, syncRequest("w1", { epoch: "e1", v: 3 })), "catchup").length, 1);
  s.receive(410, syncRequest("w2", { epoch: "e1", v: 1 }));
  s.receive(420, syncRequest("w3", { epoch: "e1", v: 3 }));
  const actions = s.tick(410 + TIMING.catchupGroupMs);
  const [g] = only(actions, "group-catchup");
  assert.ok(/** @type {number} */ (g.msg.from) > 1 && g.msg.v === 4, JSON.stringify(g.msg));
  assert.deepEqual(only(actions, "snapshot").map((a) => a.to), ["w2"], "w2 is older than what fits: a snapshot of its own");
});
