// @ts-check
// Property tests (fast-check) of the stored history and the late join from storage: one
// streamer core, a model of the storage endpoints (storage-model.js) and watcher cores, with
// the test playing the network and the storage. A run interleaves at random: edits, the
// clock, every outcome of the delta in flight, snapshot chunks and catchups delivered or lost,
// reconnects, every outcome of an upload (accepted; accepted but its answer lost; a network
// error; 503; 429; a lost race; a refusal out of order), storage outages, and watchers joining
// from storage at any moment (reading the join state as it is then, or an older one, as a
// cache may serve it, at once or late). Then everything behaves until it settles. Whatever
// happened:
//   (a) every join state storage ever served replays exactly to the streamer's document at
//       its head, and once settled storage holds the streamer's latest version and document;
//   (b) every watcher, joined from storage or not, converges to the streamer's document;
//   (c) storage never holds the live stream back: the deltas sent are exactly the same,
//       message by message and moment by moment, when every upload fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { LIMITS, STORAGE } from "../src/core/contract.js";
import { applyChanges } from "../src/core/delta.js";
import { replayJoinState } from "../src/core/join.js";
import { StreamerState } from "../src/core/streamer-state.js";
import { WatcherState } from "../src/core/watcher-state.js";
import { ModelStorage } from "./storage-model.js";
import { rawChanges, RUNS, text, validChanges } from "./arbitraries.js";

/** @import { StreamerAction } from "../src/core/streamer-state.js" */
/** @import { DeltaMessage } from "../src/core/deltas.js" */

const SID = "stream-under-test";
// small numbers, so that a short run cuts segments, takes keyframes, overflows its queue,
// forgets old deltas and outgrows a catchup
const SMALL_STORAGE = {
  ...STORAGE,
  segmentMs: 150,
  segmentBytes: 300,
  keyframeMinBytes: 400,
  maxQueuedBytes: 900,
  historyMaxBytes: 250,
  tailMaxSegments: 6,
  keepaliveBytes: 500,
};
const SMALL_LIMITS = { ...LIMITS, catchupBytes: 450 };

const UPLOAD_OUTCOMES = ["ok", "ok", "ok", "answerLost", "network", "503", "429", "conflict", "outOfOrder"];
const step = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant("edit"), raw: rawChanges, sel: fc.nat() }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant("time"), ms: fc.integer({ min: 0, max: 120 }) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant("delta"), outcome: fc.constantFrom("ack", "ack", "ack", "ackLost", "lost", "refused") }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("upload"), outcome: fc.constantFrom(...UPLOAD_OUTCOMES) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("answer"), pick: fc.nat(), ok: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("watcher"), pick: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("streamerInbox"), n: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("storedJoin"), stale: fc.nat(3), late: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom("outage", "drop", "recover", "gone", "reconnect", "join") }) },
);

/**
 * @typedef {{ id: string, core: WatcherState, doc: string, inbox: unknown[], stored: unknown }} Watcher
 */

function world(/** @type {string} */ start) {
  let epochs = 0;
  const s = new StreamerState({
    doc: start,
    sel: [0, 0],
    makeEpoch: () => `e${++epochs}`,
    limits: { ...SMALL_LIMITS, snapshotChunkBytes: 16 },
    storage: SMALL_STORAGE,
  });
  const storage = new ModelStorage(SMALL_STORAGE);
  const w = {
    now: 0,
    s,
    storage,
    online: false, // the streamer's socket is up
    present: false, // the service has a streamer connection (kept while a dropped socket may recover)
    down: false, // a storage outage: every upload fails
    conn: 0,
    /** @type {{ ackId: number, msg: DeltaMessage, conn: number } | null} */
    delta: null,
    /** @type {Set<string>} */
    seen: new Set(),
    /** @type {{ to: string, serial: number, data: any, kind: "snapshot" | "catchup" }[]} answers to watchers in flight */
    answers: [],
    /** @type {{ serial: number, kind: "keyframes" | "segments", body: any }[]} uploads in flight */
    uploads: [],
    /** @type {unknown[]} */
    inbox: [],
    /** @type {Watcher[]} */
    watchers: [],
    /** @type {Map<string, DeltaMessage[]>} the deltas the group received, per epoch, in version order */
    group: new Map(),
    /** @type {Map<string, string>} each epoch's document at version 0 */
    bases: new Map([["e1", start]]),
    /** @type {{ at: number, msg: DeltaMessage }[]} every delta handed out, with the time */
    sent: [],
    failUploads: false, // (c): storage fails every upload
  };

  /** @param {StreamerAction[]} actions */
  function perform(actions) {
    for (const a of actions) {
      if (a.type === "delta") {
        assert.equal(w.delta, null, "two deltas in flight");
        w.delta = { ackId: a.ackId, msg: a.msg, conn: w.conn };
        w.sent.push({ at: w.now, msg: a.msg });
      } else if (a.type === "snapshot" || a.type === "catchup") {
        assert.equal(a.data.ticket, `ticket-${a.to}`, "an answer echoes its watcher's ticket");
        w.answers.push({ to: a.to, serial: a.serial, data: a.data, kind: a.type });
      } else if (a.type === "group-catchup") {
        assert.ok(w.online, "a group catchup goes only while connected");
        toGroup(a.msg); // straight to the group, no Function App in between
      } else if (a.type === "epoch") {
        w.bases.set(a.epoch, s.doc); // what was typed up to now is the new epoch's document
      } else if (a.type === "upload") {
        assert.equal(a.keepalive, false);
        assert.ok(w.uploads.length === 0, "one upload in flight");
        w.uploads.push({ serial: a.serial, kind: a.kind, body: a.body });
      }
    }
  }

  /** The document of `epoch` at `v`, from what the group received. */
  function docAt(/** @type {string} */ epoch, /** @type {number} */ v) {
    const base = w.bases.get(epoch);
    assert.ok(base !== undefined, `no base for epoch ${epoch}`);
    const deltas = (w.group.get(epoch) ?? []).slice(0, v);
    assert.equal(deltas.length, v, `${epoch}: v${v} stored, but only ${deltas.length} deltas were sent`);
    return deltas.reduce((doc, d) => applyChanges(doc, d.changes), base);
  }

  /** (a): a join state replays to the streamer's document at its head. */
  function checkStored(/** @type {unknown} */ state) {
    if (state === null) return;
    const found = replayJoinState(state);
    assert.ok(found, "storage serves a join state that replays");
    assert.equal(found.doc, docAt(found.epoch, found.v), `stored ${found.epoch}:${found.v}`);
  }

  /** @param {Watcher} watcher @param {any[]} actions */
  function watcherDoes(watcher, actions) {
    for (const a of actions) {
      if (a.type === "reset") watcher.doc = a.doc;
      else if (a.type === "apply") watcher.doc = applyChanges(watcher.doc, a.changes);
      else if (a.type === "sync" && w.present) {
        w.inbox.push({ type: "sync-request", connectionId: watcher.id, have: a.data.have, ticket: `ticket-${watcher.id}` });
      } else if (a.type === "sync") {
        watcher.inbox.push({ type: "status", state: "offline" }); // as the Function App answers
      }
    }
  }

  const toGroup = (/** @type {unknown} */ msg) => w.watchers.forEach((x) => x.inbox.push(msg));

  return {
    w,
    docAt,
    checkStored,
    connect() {
      w.conn += 1;
      w.online = true;
      w.present = true;
      w.seen.clear();
      w.inbox = [];
      perform(s.connected(w.now, SID));
      toGroup({ type: "status", state: "live" });
    },
    settleDelta(/** @type {string} */ outcome) {
      const d = w.delta;
      if (!d) return;
      w.delta = null;
      if (outcome === "ack" || outcome === "ackLost") {
        const key = `${d.conn}:${d.ackId}`;
        if (!w.seen.has(key)) {
          w.seen.add(key);
          const list = w.group.get(d.msg.epoch) ?? [];
          if (d.msg.v === list.length + 1) list.push(d.msg);
          else assert.deepEqual(d.msg, list[d.msg.v - 1], "a repeated version is the same message");
          w.group.set(d.msg.epoch, list);
          toGroup(d.msg);
        }
      }
      if (outcome === "ack") perform(s.deltaSent(w.now, d.ackId));
      else perform(s.deltaFailed(w.now, d.ackId, { refused: outcome === "refused" }));
    },
    settleUpload(/** @type {string} */ outcome) {
      const u = w.uploads.shift();
      if (!u) return;
      if (w.down || w.failUploads) outcome = "network";
      /** @type {import("../src/core/history.js").UploadResult} */
      let result;
      if (outcome === "ok" || outcome === "answerLost") {
        result = storage.upload(u.kind, u.body);
        if (outcome === "answerLost") result = { status: 0 };
      } else if (outcome === "network") result = { status: 0 };
      else if (outcome === "503") result = { status: 503, code: "storage_unavailable", retryAfterMs: 2000 };
      else if (outcome === "429") result = { status: 429, code: "rate_limited", retryAfterMs: 1000 };
      else if (outcome === "conflict") result = { status: 409, code: "conflict" };
      else if (u.kind === "segments") result = { status: 409, code: "out_of_order", head: { epoch: "x", v: 0 } };
      else result = storage.upload(u.kind, u.body); // (a refused keyframe would stop storing)
      perform(s.uploaded(w.now, u.serial, result));
    },
    settleAnswer(/** @type {number} */ pick, /** @type {boolean} */ ok) {
      if (!w.answers.length) return;
      const [c] = w.answers.splice(pick % w.answers.length, 1);
      if (ok) {
        const forwarded = { ...c.data, type: c.kind }; // the Function App drops `to` and the ticket
        delete forwarded.to;
        delete forwarded.ticket;
        w.watchers.find((x) => x.id === c.to)?.inbox.push(forwarded);
        perform(c.kind === "snapshot" ? s.snapshotSent(w.now, c.to, c.serial) : s.catchupSent(w.now, c.to, c.serial));
      } else if (c.kind === "snapshot") {
        perform(s.snapshotFailed(w.now, c.to, c.serial, "lost"));
      } else {
        perform(s.catchupFailed(w.now, c.to, c.serial, "lost"));
      }
    },
    deliverToWatcher(/** @type {number} */ pick, /** @type {number} */ n) {
      if (!w.watchers.length) return;
      const watcher = w.watchers[pick % w.watchers.length];
      for (const msg of watcher.inbox.splice(0, n)) {
        const m = /** @type {any} */ (msg);
        watcherDoes(watcher, m && m.kind === "stored" ? watcher.core.stored(w.now, m.state) : watcher.core.receive(w.now, msg));
      }
    },
    deliverToStreamer(/** @type {number} */ n) {
      if (!w.online) return;
      for (const msg of w.inbox.splice(0, n)) perform(s.receive(w.now, msg));
    },
    recover() {
      if (w.online || !w.present) return; // nothing to recover: only a new connection helps
      w.online = true;
      perform(s.recovered(w.now));
    },
    /** A watcher; from storage, it reads the join state of now (or `stale` states before). */
    join(/** @type {{ stale: number, late: boolean } | null} */ fromStorage = null) {
      /** @type {Watcher} */
      const watcher = { id: `w${w.watchers.length + 1}`, core: new WatcherState(SID, { storage: Boolean(fromStorage) }), doc: "", inbox: [], stored: null };
      w.watchers.push(watcher);
      if (fromStorage) {
        const states = storage.states;
        const state = states.length ? states[Math.max(0, states.length - 1 - fromStorage.stale)] : null;
        checkStored(state);
        watcher.stored = state;
        if (fromStorage.late) watcher.inbox.push({ kind: "stored", state });
        else watcherDoes(watcher, watcher.core.stored(w.now, state));
      }
      watcherDoes(watcher, watcher.core.connected(w.now));
    },
    advance(/** @type {number} */ ms) {
      w.now += ms;
      const due = s.nextTick();
      if (due !== null && due <= w.now) perform(s.tick(w.now));
      for (const x of w.watchers) {
        const at = x.core.nextTick();
        if (at !== null && at <= w.now) watcherDoes(x, x.core.tick(w.now));
      }
    },
    nextTimer() {
      const due = [s.nextTick(), ...w.watchers.map((x) => x.core.nextTick())].filter((t) => t !== null);
      return due.length ? Math.min(...due) : null;
    },
    edit(/** @type {[number, number, string][]} */ raw, /** @type {number} */ selRaw) {
      const changes = validChanges(s.doc, raw);
      const len = applyChanges(s.doc, changes).length;
      const at = selRaw % (len + 1);
      perform(s.edit(w.now, changes, [at, at]));
    },
  };
}

/** Let the network and storage behave until everything is delivered, stored and synced. */
function settle(/** @type {ReturnType<typeof world>} */ sim) {
  const { w } = sim;
  w.down = false;
  if (w.present) sim.recover();
  else sim.connect();
  for (let round = 0; round < 5000; round++) {
    const busy = w.delta || w.answers.length || w.uploads.length || w.inbox.length || w.watchers.some((x) => x.inbox.length);
    if (busy) {
      sim.settleDelta("ack");
      sim.settleUpload("ok");
      while (w.answers.length) sim.settleAnswer(0, true);
      sim.deliverToStreamer(Infinity);
      w.watchers.forEach((_, i) => sim.deliverToWatcher(i, Infinity));
      sim.advance(1);
      continue;
    }
    const allSynced = w.watchers.every((x) => x.core.phase === "synced" && x.core.epoch === w.s.epoch && x.core.v === w.s.v);
    const stored = w.failUploads || w.s.history.status === "saved";
    if (allSynced && stored && w.s.queued === 0 && !w.s.batcher.dirty) return;
    const next = sim.nextTimer();
    if (next === null) return;
    sim.advance(Math.max(1, next - w.now));
  }
  assert.fail("the network and storage behaved and still nothing settled");
}

/** @param {ReturnType<typeof world>} sim @param {any} st */
function play(sim, st) {
  const { w } = sim;
  switch (st.k) {
    case "edit":
      return sim.edit(st.raw, st.sel);
    case "time":
      return sim.advance(st.ms);
    case "delta":
      return sim.settleDelta(st.outcome);
    case "upload":
      return sim.settleUpload(st.outcome);
    case "answer":
      return sim.settleAnswer(st.pick, st.ok);
    case "watcher":
      return sim.deliverToWatcher(st.pick, st.n);
    case "streamerInbox":
      return sim.deliverToStreamer(st.n);
    case "storedJoin":
      if (w.watchers.length < 6) sim.join({ stale: st.stale, late: st.late });
      return;
    case "outage":
      w.down = !w.down;
      return;
    case "drop":
      if (w.online) {
        w.online = false;
        w.s.dropped(w.now);
      }
      return;
    case "recover":
      return sim.recover();
    case "gone":
      // the connection ended (the service gave up on it): watchers are told, syncs answered offline
      if (!w.present) return;
      w.online = false;
      w.present = false;
      w.s.dropped(w.now);
      w.answers = [];
      w.watchers.forEach((x) => x.inbox.push({ type: "status", state: "offline" }));
      return;
    case "reconnect":
      w.s.dropped(w.now);
      w.watchers.forEach((x) => x.inbox.push({ type: "status", state: "offline" }));
      w.answers = [];
      sim.connect();
      return;
    case "join":
      if (w.watchers.length < 6) sim.join();
      return;
  }
}

test("(a) storage always replays to the streamer's document, (b) watchers joining from it converge", () => {
  fc.assert(
    fc.property(text(30), fc.array(step, { maxLength: 90, size: "large" }), (start, steps) => {
      const sim = world(start);
      const { w } = sim;
      sim.connect();
      sim.join({ stale: 0, late: false });
      for (const st of steps) play(sim, st);
      settle(sim);

      // (a) whatever storage served along the way, and what it holds now
      for (const state of w.storage.states) sim.checkStored(state);
      assert.notEqual(w.s.history.status, "stopped", String(w.s.history.stopped));
      const now = replayJoinState(w.storage.joinState());
      assert.ok(now);
      assert.deepEqual([now.epoch, now.v], [w.s.epoch, w.s.v], "storage holds the latest version");
      assert.equal(now.doc, w.s.doc);
      // (b) every watcher shows the streamer's document
      for (const x of w.watchers) {
        assert.equal(x.core.phase, "synced", `${x.id} synced`);
        assert.deepEqual([x.core.epoch, x.core.v], [w.s.epoch, w.s.v], x.id);
        assert.equal(x.doc, w.s.doc, `${x.id} shows the document`);
      }
      // and one more joins from storage now: the stored document is the live one
      sim.join({ stale: 0, late: false });
      settle(sim);
      const last = w.watchers[w.watchers.length - 1];
      assert.equal(last.doc, w.s.doc);
    }),
    { numRuns: RUNS },
  );
});

test("(c) the deltas sent do not depend on storage: the same, message by message, when every upload fails", () => {
  const liveSteps = step.filter((st) => !["upload", "outage", "storedJoin"].includes(st.k));
  fc.assert(
    fc.property(text(30), fc.array(liveSteps, { maxLength: 90, size: "large" }), fc.array(fc.constantFrom(...UPLOAD_OUTCOMES), { maxLength: 90 }), (start, steps, outcomes) => {
      const runs = [false, true].map((failing) => {
        const sim = world(start);
        sim.w.failUploads = failing;
        sim.connect();
        sim.join();
        steps.forEach((st, i) => {
          play(sim, st);
          sim.settleUpload(outcomes[i % Math.max(1, outcomes.length)] ?? "ok");
        });
        settle(sim);
        return sim.w;
      });
      const [healthy, failing] = runs;
      assert.deepEqual(failing.sent, healthy.sent);
      assert.equal(failing.s.doc, healthy.s.doc);
      assert.ok(failing.storage.accepted === 0, "nothing was stored in the failing run");
    }),
    { numRuns: Math.max(50, Math.floor(RUNS / 3)) },
  );
});

test("pagehide: the one keepalive upload leaves storage consistent, and current unless an upload was in flight", () => {
  fc.assert(
    fc.property(text(30), fc.array(step, { maxLength: 60, size: "large" }), fc.boolean(), (start, steps, inFlightFirst) => {
      const sim = world(start);
      const { w } = sim;
      const s = w.s;
      sim.connect();
      for (const st of steps) if (st.k !== "reconnect") play(sim, st);
      const inFlight = w.uploads.shift() ?? null;
      const actions = s.pagehide(w.now);
      const flushed = /** @type {any[]} */ (actions.filter((a) => a.type === "upload"));
      assert.ok(flushed.length <= 1, "at most one keepalive upload");
      // the numbered deltas are final now: the group may never get them, storage may
      for (const e of s.outbox.entries) {
        const list = w.group.get(e.msg.epoch) ?? [];
        if (e.msg.v === list.length + 1) list.push(e.msg);
        w.group.set(e.msg.epoch, list);
      }
      // the page is gone: the keepalive upload and the one that was in flight land, in some order
      /** @type {any[]} */
      const landing = inFlight ? (inFlightFirst ? [inFlight, ...flushed] : [...flushed, inFlight]) : flushed;
      const answers = landing.map((u) => w.storage.upload(u.kind, u.body));
      for (const u of flushed) {
        assert.equal(u.keepalive, true);
        assert.ok(new TextEncoder().encode(JSON.stringify(u.body)).length <= SMALL_STORAGE.keepaliveBytes);
      }
      // (a) whatever landed, storage replays to the streamer's document at its head
      for (const state of w.storage.states) sim.checkStored(state);
      // nothing is lost when the keepalive upload was taken and no other one raced it
      const racing = inFlight !== null && !inFlightFirst;
      const taken = flushed.length === 1 && answers[landing.indexOf(flushed[0])].status === 200;
      if (taken && !racing) {
        const now = replayJoinState(w.storage.joinState());
        assert.deepEqual([now?.epoch, now?.v, now?.doc], [s.epoch, s.v, s.doc]);
      }
      if (flushed.length === 1 && !inFlight) assert.ok(taken, `refused: ${JSON.stringify(answers)}`);
    }),
    { numRuns: RUNS },
  );
});
