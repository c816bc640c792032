// @ts-check
// For generated streamer sessions (edits over time with pauses, page reloads = new epochs,
// storage outages that leave gaps), recorded by the real history core and stored by the
// storage model: the replay player's document at any time t is exactly what a live watcher
// had at t, and inside a gap it says so and shows only the last document storage can rebuild.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ReplayPlayer } from "../src/core/replay.js";
import { RUNS, rawChanges, text, validChanges } from "./arbitraries.js";
import { RecordedSession } from "./recording-model.js";

/** @import { ReplayAction } from "../src/core/replay.js" */

/** Perform fetches at once from `blobs` until none is asked; returns every action. */
export function settle(/** @type {ReplayPlayer} */ p, /** @type {ReplayAction[]} */ actions, /** @type {Map<string, any>} */ blobs, now = 0) {
  const all = [...actions];
  let queue = actions.filter((a) => a.type === "fetch");
  for (let guard = 0; queue.length && guard < 100_000; guard++) {
    const a = /** @type {{ type: "fetch", name: string }} */ (queue.shift());
    const more = blobs.has(a.name) ? p.blob(now, a.name, blobs.get(a.name)) : p.blobFailed(now, a.name, 404);
    all.push(...more);
    queue = queue.concat(more.filter((x) => x.type === "fetch"));
  }
  return all;
}

const op = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("edit"), wait: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 9000 })), raw: rawChanges, sel: fc.option(fc.tuple(fc.nat(40), fc.nat(40))) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reload"), keep: fc.boolean(), doc: text(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("outage"), ms: fc.integer({ min: 500, max: 12_000 }) }) },
);

/** Record a session from ops; small limits so keyframes, segment cuts and queue overflows happen. */
function record(/** @type {any[]} */ ops) {
  const s = new RecordedSession({ storage: { keyframeMinBytes: 300, segmentBytes: 400, maxQueuedBytes: 200 } });
  for (const o of ops) {
    if (o.kind === "edit") {
      s.wait(o.wait);
      s.edit(/** @type {any} */ (validChanges(s.src.doc, o.raw)), o.sel);
    } else if (o.kind === "reload") {
      s.wait(50);
      s.reload(o.keep ? s.src.doc : o.doc.replace(/\r/g, ""));
    } else {
      s.outage(true);
      s.wait(o.ms);
      s.outage(false);
      s.wait(2000);
    }
  }
  s.finish();
  return s;
}

/** Seek to each point (fractions of the timeline) and compare with the live watcher's document. */
export function checkSeeks(/** @type {any[]} */ ops, /** @type {number[]} */ points, /** @type {boolean} */ sequential) {
      const s = record(ops);
      const p = new ReplayPlayer({ streamId: "abcdefghijkl0001", checkpointDeltas: 3 });
      settle(p, p.loadIndex(0, s.index), s.blobs);
      const { start, end } = p.state;
      const kfs = [...s.index.keyframes].sort((a, b) => a.t - b.t);
      const ts = points.map((x) => start + x * (end - start));
      if (sequential) ts.sort((a, b) => a - b); // playback order reuses what is shown
      for (const t of ts) {
        settle(p, p.seek(0, t), s.blobs);
        const st = p.state;
        const f = p.documentAt(t);
        assert.ok(f, `a frame at ${t}`);
        assert.equal(st.phase === "loading", false);
        const live = s.liveAt(t);
        // the base the player starts from, and the gap the live watcher's version falls in
        const base = kfs.filter((k) => k.t <= t).at(-1) ?? kfs[0];
        // the live watcher was at a version storage does not have at that time (not in a
        // segment, nor a keyframe by then): the player must say so
        const inSegment = s.index.segments.some((/** @type {any} */ g) => g.epoch === live.epoch && g.from <= live.v && live.v <= g.to);
        const inKeyframe = s.index.keyframes.some((/** @type {any} */ k) => k.epoch === live.epoch && k.v === live.v && k.t <= t);
        const missing = !inSegment && !inKeyframe;
        // (storage knows of it when a later keyframe of the epoch holds it; the end of an
        // epoch that never reached storage is unknowable: the player shows what was stored)
        const known = s.index.keyframes.some((/** @type {any} */ k) => k.epoch === live.epoch && k.v >= live.v);
        // a new epoch whose first keyframe was stored only later (the reload came during a
        // storage outage): when it began is unknowable, so the player still shows the last
        // stored document of the epoch before, exactly as stored
        const epochStored = s.index.keyframes.some((/** @type {any} */ k) => k.epoch === live.epoch && k.t <= t);
        if (!epochStored && f.epoch !== live.epoch) {
          assert.equal(f.doc, s.log.find((e) => e.epoch === f.epoch && e.v === f.v)?.doc);
          continue;
        }
        if (missing && known) assert.ok(st.gap, `a gap at ${t}`);
        if (st.gap || (missing && !known)) {
          // shown: the last document storage has before the gap, nothing invented; the live
          // watcher was there or further (the player cannot know when the missing edits came)
          assert.equal(f.epoch, live.epoch);
          assert.ok(f.v <= live.v);
          if (st.gap) assert.equal(f.v + 1, st.gap.from);
          assert.equal(f.doc, s.log.find((e) => e.epoch === f.epoch && e.v === f.v)?.doc);
        } else {
          const kept = live.selV > base.v && base.epoch === live.epoch ? live.sel : null;
          const sel = kept && kept[0] <= live.doc.length && kept[1] <= live.doc.length ? kept : null; // null once it no longer fits
          assert.deepEqual(f.sel, sel);
        }
      }
}

test("replaying to any time gives the document a live watcher had then; gaps say so", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 12 }), fc.boolean(), checkSeeks),
    { numRuns: Math.max(50, Math.floor(RUNS / 3)) },
  );
});

test("what the shell's editor shows, following the actions, is the frame at the playhead", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 10 }), (ops, points) => {
      const s = record(ops);
      const p = new ReplayPlayer({ streamId: "abcdefghijkl0001", checkpointDeltas: 4 });
      let shown = "";
      const perform = (/** @type {ReplayAction[]} */ actions) => {
        for (const a of actions) {
          if (a.type === "reset") shown = a.doc;
          else if (a.type === "apply") for (const [from, to, ins] of a.changes) shown = shown.slice(0, from) + ins + shown.slice(to);
        }
      };
      perform(settle(p, p.loadIndex(0, s.index), s.blobs));
      const { start, end } = p.state;
      for (const x of points) {
        perform(settle(p, p.seek(0, start + x * (end - start)), s.blobs));
        assert.equal(shown, p.documentAt(p.state.t)?.doc);
      }
      // then play to the end at 8x with idle skipping, 50 ms frames
      perform(settle(p, p.setSpeed(0, 8), s.blobs));
      perform(settle(p, p.setSkipIdle(0, true), s.blobs));
      perform(settle(p, p.play(0), s.blobs));
      let now = 0;
      for (let i = 0; i < 100_000 && p.state.playing; i++) {
        now += 50;
        perform(settle(p, p.tick(now), s.blobs, now));
        assert.equal(shown, p.documentAt(p.state.t)?.doc);
      }
      assert.equal(p.state.t, end);
      assert.equal(p.state.phase, "ended");
    }),
    { numRuns: Math.max(30, Math.floor(RUNS / 6)) },
  );
});
