// @ts-check
// Property test (fast-check) of join storms (protocol.md, "Group catchup"): one streamer core
// typing, many watcher cores joining at random moments from a stored head at any version of
// the epoch (or of an older epoch, or none), their sync-requests and the answers interleaved
// with the typing. Whatever the interleaving: every watcher converges to the streamer's
// document, and the streamer's answers (targeted catchups, group catchups, snapshots) are
// bounded by the storm's duration, not by how many watchers joined, apart from one snapshot
// per watcher whose stored head the streamer cannot serve from memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { applyChanges } from "../src/core/delta.js";
import { StreamerState, TIMING } from "../src/core/streamer-state.js";
import { WatcherState } from "../src/core/watcher-state.js";
import { rawChanges, RUNS, validChanges } from "./arbitraries.js";

/** @import { StreamerAction } from "../src/core/streamer-state.js" */
/** @import { WatcherAction } from "../src/core/watcher-state.js" */

const SID = "storm";
const step = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant("edit"), raw: rawChanges }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("time"), ms: fc.integer({ min: 0, max: 80 }) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant("join"), back: fc.nat(6), head: fc.constantFrom("stored", "stored", "stored", "late", "old", "none") }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant("deliver"), pick: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }) },
);

test("any join storm converges, and costs the streamer messages bounded by its duration, not its size", () => {
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 120 }), (steps) => {
      let now = 0;
      const s = new StreamerState({ doc: "start", sel: [0, 0], makeEpoch: () => "e1" });
      /** @type {string[]} the document at each version of e1 */
      const docs = [];
      /** @type {{ id: string, core: WatcherState, doc: string, inbox: unknown[] }[]} */
      const watchers = [];
      const answers = { catchup: 0, group: 0, snapshot: 0 };
      let unservable = 0; // joins whose head no catchup can serve: each costs a snapshot

      /** @param {StreamerAction[]} actions */
      function perform(actions) {
        for (const a of actions) {
          if (a.type === "delta") {
            docs[a.msg.v] = applyChanges(docs[a.msg.v - 1] ?? "", a.msg.changes);
            for (const w of watchers) w.inbox.push(a.msg);
            perform(s.deltaSent(now, a.ackId));
          } else if (a.type === "group-catchup") {
            answers.group += 1;
            for (const w of watchers) w.inbox.push(a.msg);
          } else if (a.type === "catchup" || a.type === "snapshot") {
            if (a.type === "catchup") answers.catchup += 1;
            else if (a.data.chunk[0] === 0) answers.snapshot += 1;
            const forwarded = { ...a.data, type: a.type };
            watchers.find((w) => w.id === a.to)?.inbox.push(forwarded);
            perform(a.type === "catchup" ? s.catchupSent(now, a.to, a.serial) : s.snapshotSent(now, a.to, a.serial));
          }
        }
      }
      /** @param {{ id: string, core: WatcherState, doc: string }} w @param {WatcherAction[]} actions */
      function watcherDoes(w, actions) {
        for (const a of actions) {
          if (a.type === "reset") w.doc = a.doc;
          else if (a.type === "apply") w.doc = applyChanges(w.doc, a.changes);
          else if (a.type === "sync") perform(s.receive(now, { type: "sync-request", connectionId: w.id, have: a.data.have, ticket: "t" }));
        }
      }
      function clock() {
        const due = s.nextTick();
        if (due !== null && due <= now) perform(s.tick(now));
        for (const w of watchers) {
          const wd = w.core.nextTick();
          if (wd !== null && wd <= now) watcherDoes(w, w.core.tick(now));
        }
      }

      docs[0] = "start";
      perform(s.connected(now, SID));
      // the announce delta made v1 (no changes); the storm starts now
      const startedAt = now;
      for (const st of steps) {
        if (st.k === "edit") {
          const changes = validChanges(s.doc, st.raw);
          if (changes.length) perform(s.edit(now, changes, [0, 0]));
        } else if (st.k === "time") {
          now += st.ms;
        } else if (st.k === "join") {
          // "late": the join state comes after the first sync went without it
          const storedWaitMs = st.head === "late" ? 0 : undefined;
          const w = { id: `w${watchers.length + 1}`, core: new WatcherState(SID, { storage: true, storedWaitMs }), doc: "", inbox: /** @type {unknown[]} */ ([]) };
          watchers.push(w);
          watcherDoes(w, w.core.connected(now));
          const v = Math.max(0, docs.length - 1 - st.back);
          if (st.head === "late") {
            unservable += 1; // its first sync asked for a snapshot
            watcherDoes(w, w.core.tick(now));
            watcherDoes(w, w.core.stored(now, { keyframe: { epoch: "e1", v, doc: docs[v] }, segments: [] }));
          } else if (st.head === "stored") {
            watcherDoes(w, w.core.stored(now, { keyframe: { epoch: "e1", v, doc: docs[v] }, segments: [] }));
          } else if (st.head === "old") {
            unservable += 1;
            watcherDoes(w, w.core.stored(now, { keyframe: { epoch: "e0", v: 3, doc: "stale" }, segments: [] }));
          } else {
            unservable += 1;
            watcherDoes(w, w.core.stored(now, null));
          }
        } else if (watchers.length) {
          const w = watchers[st.pick % watchers.length];
          for (const m of w.inbox.splice(0, st.n)) watcherDoes(w, w.core.receive(now, m));
        }
        clock();
      }
      const stormMs = now - startedAt;
      // settle: deliver everything, let the clocks run
      for (let round = 0; round < 400; round++) {
        for (const w of watchers) for (const m of w.inbox.splice(0)) watcherDoes(w, w.core.receive(now, m));
        clock();
        if (watchers.every((w) => w.core.phase === "synced" && w.doc === s.doc && !w.inbox.length)) break;
        now += 50;
      }
      for (const w of watchers) assert.equal(w.doc, s.doc, `${w.id} converges`);
      // one targeted catchup opens a window, one group catchup closes it: two per window of the
      // storm (and of the settling after it), plus a snapshot per head memory cannot serve
      const windows = Math.ceil((now - startedAt) / TIMING.catchupGroupMs) + 1;
      const bound = 2 * Math.min(windows, watchers.length) + unservable;
      assert.ok(answers.catchup + answers.group + answers.snapshot <= Math.max(bound, watchers.length ? 1 : 0), `${JSON.stringify(answers)} for ${watchers.length} joins in ${stormMs} ms (bound ${bound})`);
    }),
    { numRuns: RUNS },
  );
});

test("a storm of 200 joins in one second costs the streamer a handful of messages", () => {
  let now = 0;
  const s = new StreamerState({ doc: "x".repeat(50_000), makeEpoch: () => "e1" });
  let messages = 0;
  let groups = 0;
  /** @param {StreamerAction[]} actions */
  const count = (actions) => {
    for (const a of actions) {
      if (a.type === "delta") count(s.deltaSent(now, a.ackId));
      else if (a.type === "catchup" || a.type === "group-catchup" || a.type === "snapshot") messages += 1;
      if (a.type === "group-catchup") groups += 1;
    }
  };
  count(s.connected(now, SID));
  for (let i = 0; i < 200; i++) {
    now = i * 5;
    if (i % 10 === 0) count(s.edit(now, [[0, 0, "y"]], null));
    count(s.receive(now, { type: "sync-request", connectionId: `w${i}`, have: { epoch: "e1", v: 1 }, ticket: "t" }));
    count(s.tick(now));
  }
  now += TIMING.catchupGroupMs;
  count(s.tick(now));
  assert.ok(groups >= 1, "the storm is answered by group catchups");
  assert.ok(messages <= 2 * Math.ceil(1000 / TIMING.catchupGroupMs) + 2, `${messages} messages`);
});
