// @ts-check
// The replay player driven event by event: what it fetches for a seek, what it shows, how
// playback moves on a fake clock (speeds, idle skipping), the live edge, markers, deep links.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FRAME_MS, IDLE_SHOWN_MS, ReplayPlayer } from "../src/core/replay.js";
import { formatFragment, formatTime, parseFragment, parseTime } from "../src/core/deep-link.js";

/** @import { ReplayAction } from "../src/core/replay.js" */

const K0 = "k/e1/0-00000000";
const S1 = "s/e1/1-3-11111111";
const S2 = "s/e1/4-5-22222222";
const K5 = "k/e1/5-55555555";
/** A recording: "ab" at t=1000, three deltas 2000..4000, a 20 s pause, two more, a keyframe. */
function recording() {
  const index = {
    streamId: "abcdefghijkl0001",
    title: "demo",
    lang: "python",
    ended: true,
    head: { epoch: "e1", v: 5, t: 26_000 },
    keyframes: [
      { name: K0, epoch: "e1", v: 0, t: 1000 },
      { name: K5, epoch: "e1", v: 5, t: 26_000 },
    ],
    segments: [
      { name: S1, epoch: "e1", from: 1, to: 3, t0: 2000, t1: 4000 },
      { name: S2, epoch: "e1", from: 4, to: 5, t0: 24_000, t1: 25_000 },
    ],
    gaps: [],
    markers: [{ n: 1, label: "step 2", epoch: "e1", v: 3, t: 4000 }],
  };
  /** @type {Map<string, any>} */
  const blobs = new Map([
    [K0, { epoch: "e1", v: 0, t: 1000, doc: "ab", lang: "python", title: "demo" }],
    [S1, { epoch: "e1", from: 1, to: 3, t0: 2000, deltas: [[0, [[2, 2, "c"]], [3, 3]], [1000, [[3, 3, "d"]], [4, 4]], [2000, [[0, 1, ""]], [0, 0]]], controls: [[1500, { title: "renamed" }]] }],
    [S2, { epoch: "e1", from: 4, to: 5, t0: 24_000, deltas: [[0, [[3, 3, "\n"]], [4, 4]], [1000, [[4, 4, "x"]], [5, 5]]], controls: [] }],
    [K5, { epoch: "e1", v: 5, t: 26_000, doc: "bcd\nx", lang: "python", title: "renamed" }],
  ]);
  return { index, blobs };
}

const fetches = (/** @type {ReplayAction[]} */ a) => a.filter((x) => x.type === "fetch").map((x) => /** @type {any} */ (x).name);
const edits = (/** @type {ReplayAction[]} */ a) => a.filter((x) => x.type === "reset" || x.type === "apply");

function loaded() {
  const { index, blobs } = recording();
  const p = new ReplayPlayer({ streamId: "abcdefghijkl0001" });
  const give = (/** @type {ReplayAction[]} */ actions, now = 0) => {
    const out = [...actions];
    for (const name of fetches(actions)) out.push(...give(p.blob(now, name, blobs.get(name)), now));
    return out;
  };
  return { p, index, blobs, give };
}

test("a seek asks for the latest keyframe at or before t and the segments after it", () => {
  const { p, index, blobs } = loaded();
  const a = p.loadIndex(0, index);
  // the start: keyframe 0, and (prefetch) the segments of the next minute
  assert.deepEqual(fetches(a), [K0, S1, S2, K5]);
  assert.equal(p.state.phase, "loading");
  assert.deepEqual(p.state.pending, [K0, S1, S2, K5]);
  const shown = p.blob(0, K0, blobs.get(K0));
  assert.deepEqual(edits(shown), [{ type: "reset", doc: "ab", sel: null, lang: "python", title: "demo" }]);
  assert.equal(p.state.phase, "ready");
  // a seek past S1 before it came: waits for it, shows nothing new meanwhile
  assert.deepEqual(edits(p.seek(0, 3500)), []);
  assert.equal(p.state.phase, "loading");
  const after = p.blob(0, S1, blobs.get(S1));
  assert.deepEqual(edits(after), [{ type: "apply", changes: [[2, 2, "c"], [3, 3, "d"]], sel: [4, 4] }]);
  assert.ok(after.some((x) => x.type === "title" && x.title === "renamed"));
  assert.equal(p.documentAt(3500)?.doc, "abcd");
  assert.equal(p.state.title, "renamed");
});

test("a seek back resets; a seek forward applies only the changes between", () => {
  const { p, index, give } = loaded();
  give(p.loadIndex(0, index));
  assert.deepEqual(edits(p.seek(0, 4000)), [{ type: "apply", changes: [[2, 2, "c"], [3, 3, "d"], [0, 1, ""]], sel: [0, 0] }]);
  assert.deepEqual(edits(p.seek(0, 1500)), [{ type: "reset", doc: "ab", sel: null, lang: "python", title: "demo" }]);
  assert.deepEqual(edits(p.seek(0, 24_500)), [{ type: "apply", changes: [[2, 2, "c"], [3, 3, "d"], [0, 1, ""], [3, 3, "\n"]], sel: [4, 4] }]);
  assert.deepEqual(edits(p.seek(0, 24_000)), [], "the same version: nothing to do");
  assert.deepEqual(edits(p.seek(0, 25_000)), [{ type: "apply", changes: [[4, 4, "x"]], sel: [5, 5] }]);
  // past the last keyframe: its document; clamped to the end
  assert.equal(p.documentAt(30_000)?.doc, "bcd\nx");
  p.seek(0, 99_000);
  assert.equal(p.state.t, 26_000);
  assert.equal(p.state.phase, "ended");
  assert.equal(p.state.ended, true);
});

test("playback at 1x, 2x, 0.5x follows the shell's clock; the end stops it", () => {
  const { p, index, give } = loaded();
  give(p.loadIndex(0, index));
  give(p.play(100));
  assert.equal(p.nextTick(), 100 + FRAME_MS);
  give(p.tick(1100));
  assert.equal(p.state.t, 2000);
  assert.equal(p.documentAt(p.state.t)?.doc, "abc");
  give(p.setSpeed(1100, 2));
  give(p.tick(1600));
  assert.equal(p.state.t, 3000);
  give(p.setSpeed(1600, 0.25)); // clamped to 0.5
  assert.equal(p.state.speed, 0.5);
  give(p.tick(2600));
  assert.equal(p.state.t, 3500);
  give(p.pause(2600));
  give(p.tick(9000));
  assert.equal(p.state.t, 3500, "paused: the clock does not move it");
  assert.equal(p.nextTick(), null);
  give(p.setSpeed(9000, 8));
  give(p.play(9000));
  give(p.tick(9000 + 100_000));
  assert.equal(p.state.t, 26_000);
  assert.equal(p.state.playing, false);
  assert.equal(p.state.phase, "ended");
  // play again from the start
  give(p.play(200_000));
  assert.equal(p.state.t, 1000);
});

test("skip idle time: a 20 s pause plays in IDLE_SHOWN_MS", () => {
  const { p, index, give } = loaded();
  give(p.loadIndex(0, index));
  give(p.seek(0, 4000)); // the last edit before the pause (4000..24000)
  give(p.setSkipIdle(0, true));
  give(p.play(0));
  give(p.tick(IDLE_SHOWN_MS / 2));
  assert.equal(p.state.t, 14_000, "half the shown time: half the pause");
  give(p.tick(IDLE_SHOWN_MS));
  assert.equal(p.state.t, 24_000);
  // busy time plays at the speed again
  give(p.tick(IDLE_SHOWN_MS + 500));
  assert.equal(p.state.t, 24_500);
  // without skipping the same pause takes 20 s
  give(p.seek(IDLE_SHOWN_MS + 500, 4000));
  give(p.setSkipIdle(IDLE_SHOWN_MS + 500, false));
  give(p.tick(IDLE_SHOWN_MS + 500 + 10_000));
  assert.equal(p.state.t, 14_000);
});

test("playing into a segment not fetched yet buffers, then goes on", () => {
  const { index, blobs } = recording();
  const p = new ReplayPlayer({ streamId: "abcdefghijkl0001", prefetchMs: 0 });
  p.loadIndex(0, index);
  p.blob(0, K0, blobs.get(K0));
  p.blob(0, S1, blobs.get(S1));
  p.play(0);
  p.tick(10_000);
  assert.equal(p.state.t, 11_000);
  const a = p.tick(13_000);
  assert.equal(p.state.t, 14_000);
  const more = p.tick(23_500);
  assert.equal(p.state.t, 24_000, "stops where the next segment starts");
  assert.deepEqual([...fetches(a), ...fetches(more)], [S2]);
  assert.equal(p.state.phase, "buffering");
  const got = p.blob(23_500, S2, blobs.get(S2));
  assert.deepEqual(edits(got), [{ type: "apply", changes: [[3, 3, "\n"]], sel: [4, 4] }]);
  assert.equal(p.state.phase, "ready");
});

test("a blob that fails or does not match its name is a gap, not invented content", () => {
  const { p, index, blobs } = loaded();
  p.loadIndex(0, index);
  p.blob(0, K0, blobs.get(K0));
  p.blob(0, S1, { ...blobs.get(S1), from: 2 });
  p.blobFailed(0, S2, 503);
  p.seek(0, 3000);
  // the seek asks again (failures are forgotten on a seek)...
  assert.equal(p.state.phase, "loading");
  p.blob(0, S1, { ...blobs.get(S1), from: 2 });
  assert.deepEqual(p.state.gap, { epoch: "e1", from: 1, to: 3, reason: "unreadable" });
  assert.equal(p.documentAt(3000)?.doc, "ab");
});

test("a gap in the index: the document before it, and the state says so until the keyframe", () => {
  const { index, blobs } = recording();
  const p = new ReplayPlayer({ streamId: "abcdefghijkl0001" });
  const ix = { ...index, segments: [index.segments[0]], gaps: [{ epoch: "e1", from: 4, to: 4 }] };
  const give = (/** @type {ReplayAction[]} */ a) => {
    for (const n of fetches(a)) give(p.blob(0, n, blobs.get(n)));
  };
  give(p.loadIndex(0, ix));
  give(p.seek(0, 10_000));
  assert.deepEqual(p.state.gap, { epoch: "e1", from: 4, to: 5, reason: "missing" });
  assert.equal(p.documentAt(10_000)?.doc, "bcd");
  give(p.seek(0, 26_000));
  assert.equal(p.state.gap, null);
  assert.equal(p.documentAt(26_000)?.doc, "bcd\nx");
});

test("markers: seek to one; deep links by time and by marker", () => {
  const { p, index, give } = loaded();
  give(p.loadIndex(0, index));
  give(p.seekMarker(0, 1));
  assert.equal(p.state.t, 4000);
  give(p.seekLink(0, { t: "0:02" }));
  assert.equal(p.state.t, 3000, "2 s after the start");
  give(p.seekLink(0, { t: "5", m: "1" }));
  assert.equal(p.state.t, 4000, "the marker wins");
  give(p.seekLink(0, { t: "5", m: "9" }));
  assert.equal(p.state.t, 6000, "an unknown marker: the time");
  assert.deepEqual(p.markers, index.markers);
});

test("histogram: deltas per bucket, from the index before anything is fetched", () => {
  const { p, index, give } = loaded();
  p.loadIndex(0, index);
  const before = p.histogram(5); // 1000..26000, 5 s buckets: S1 in 0, S2 in 4
  assert.deepEqual(before, [3, 0, 0, 0, 2]);
  give(p.seek(0, 1000));
  for (const [name, body] of recording().blobs) p.blob(0, name, body);
  assert.deepEqual(p.histogram(5), [3, 0, 0, 0, 2]);
});

test("live: the timeline grows while the watcher scrubs back; jumpToLive is the live document", () => {
  const { p, index, give } = loaded();
  give(p.loadIndex(0, index));
  // the watcher's machine: a catchup from the stored head, then live deltas
  const r = p.live(0, { type: "reset", doc: "bcd\nx", sel: null, lang: "python", title: "renamed" }, { epoch: "e1", v: 5, wallMs: 27_000 });
  assert.deepEqual(edits(r), [], "replay mode: the live document is kept, not shown");
  p.live(0, { type: "apply", changes: [[5, 5, "y"]], sel: [6, 6] }, { epoch: "e1", v: 6, wallMs: 28_000 });
  p.live(0, { type: "apply", changes: [[6, 6, "z"]], sel: [7, 7] }, { epoch: "e1", v: 7, wallMs: 29_000 });
  p.liveMarker(0, { label: "live one", t: 28_500 });
  assert.equal(p.state.end, 29_000);
  assert.equal(p.state.liveAvailable, true);
  assert.equal(p.documentAt(28_000)?.doc, "bcd\nxy");
  assert.deepEqual(p.markers.map((m) => [m.n, m.label]), [[1, "step 2"], [2, "live one"]]);
  const j = p.jumpToLive(0);
  assert.deepEqual(edits(j), [{ type: "reset", doc: "bcd\nxyz", sel: [7, 7], lang: "python", title: "renamed" }]);
  assert.equal(p.state.mode, "live");
  // live: the watcher's actions come back for the editor
  const next = p.live(0, { type: "apply", changes: [[7, 7, "!"]], sel: [8, 8] }, { epoch: "e1", v: 8, wallMs: 30_000 });
  assert.deepEqual(edits(next), [{ type: "apply", changes: [[7, 7, "!"]], sel: [8, 8] }]);
  // scrub back, play at 8x: reaching the live edge follows live again
  give(p.seek(0, 28_000));
  assert.equal(p.state.mode, "replay");
  give(p.setSpeed(0, 8));
  give(p.play(0));
  give(p.tick(1000));
  assert.equal(p.state.mode, "live");
  assert.equal(p.state.atLiveEdge, true);
  assert.equal(p.state.phase, "live");
});

test("deep links: times in ms both ways", () => {
  assert.equal(parseTime("12:30"), 750_000);
  assert.equal(parseTime("750"), 750_000);
  assert.equal(parseTime("1:02:03"), 3_723_000);
  assert.equal(parseTime("1:5"), null);
  assert.equal(formatTime(750_999), "12:30");
  assert.equal(formatTime(3_723_000), "1:02:03");
  assert.equal(formatFragment({ streamId: "abcdefghijkl0001", ms: 750_000 }), "#abcdefghijkl0001&t=12:30");
  assert.equal(formatFragment({ streamId: "abcdefghijkl0001", marker: 3 }), "#abcdefghijkl0001&m=3");
  assert.deepEqual(parseFragment("#abcdefghijkl0001&t=12:30&m=3"), { streamId: "abcdefghijkl0001", t: "12:30", m: "3" });
  assert.deepEqual(parseFragment("#abcdefghijkl0001&t=-1"), { streamId: "abcdefghijkl0001" });
  assert.equal(parseFragment("#nope"), null);
  assert.throws(() => formatFragment({ streamId: "abcdefghijkl0001", marker: 0 }));
});

test("a seek (or deep link) before the index is taken when the index comes", () => {
  const { index, blobs } = recording();
  const p = new ReplayPlayer({ streamId: "abcdefghijkl0001" });
  assert.deepEqual(fetches(p.seekLink(0, { m: "1" })), []);
  assert.equal(p.state.phase, "empty");
  const a = p.loadIndex(0, index);
  assert.equal(p.state.t, 4000, "marker 1");
  assert.deepEqual(fetches(a).slice(0, 2), [K0, S1], "what the seek needs first");
  const q = new ReplayPlayer({ streamId: "abcdefghijkl0001" });
  q.seek(0, 25_500);
  q.loadIndex(0, index);
  assert.equal(q.state.t, 25_500);
  for (const [n, b] of blobs) q.blob(0, n, b);
  assert.equal(q.documentAt(25_500)?.doc, "bcd\nx");
});

test("live: one call's actions together (a reset and the buffered deltas after it) make one base", () => {
  const p = new ReplayPlayer({ streamId: "abcdefghijkl0001", follow: true });
  assert.equal(p.state.phase, "empty");
  /** @type {import("../src/core/replay.js").LiveAction[]} */
  const batch = [
    { type: "reset", doc: "hello", sel: null, lang: "go", title: "t" },
    { type: "apply", changes: [[5, 5, "!"]], sel: [6, 6] },
    { type: "apply", changes: [[6, 6, "?"]] },
  ];
  assert.deepEqual(edits(p.live(0, batch, { epoch: "e9", v: 12, wallMs: 5000 })), batch, "following: the editor does as the machine says");
  assert.equal(p.state.phase, "live");
  p.seek(0, 0);
  assert.equal(p.state.mode, "replay");
  assert.deepEqual(p.documentAt(5000), { epoch: "e9", v: 12, t: 5000, doc: "hello!?", sel: [6, 6], lang: "go", title: "t", ended: false, gap: null });
  p.live(0, { type: "apply", changes: [[0, 0, ">"]], sel: [1, 1] }, { epoch: "e9", v: 13, wallMs: 7000 });
  assert.equal(p.documentAt(6000)?.doc, "hello!?");
  assert.equal(p.documentAt(7000)?.doc, ">hello!?");
  assert.deepEqual(p.histogram(2), [0, 1]);
  assert.deepEqual(edits(p.jumpToLive(0)), [{ type: "reset", doc: ">hello!?", sel: [1, 1], lang: "go", title: "t" }]);
  assert.deepEqual(p.live(0, [{ type: "title", title: "u" }], { epoch: "e9", v: 13, wallMs: 8000 }).filter((a) => a.type === "title"), [{ type: "title", title: "u" }]);
});

test("a segment of controls only (a title change while not typing) is fetched and applies", () => {
  const { index, blobs } = recording();
  const C = "s/e1/6-5-cccccccc";
  const ix = { ...index, head: { epoch: "e1", v: 5, t: 30_000 }, segments: [...index.segments, { name: C, epoch: "e1", from: 6, to: 5, t0: 30_000, t1: 30_000 }] };
  blobs.set(C, { epoch: "e1", from: 6, to: 5, t0: 30_000, deltas: [], controls: [[0, { title: "final" }]] });
  const p = new ReplayPlayer({ streamId: "abcdefghijkl0001" });
  const a = [...p.loadIndex(0, ix), ...p.seek(0, 30_000)];
  assert.ok(fetches(a).includes(C), JSON.stringify(fetches(a)));
  for (const [n, b] of blobs) p.blob(0, n, b);
  assert.equal(p.documentAt(30_000)?.title, "final");
  assert.equal(p.documentAt(29_999)?.title, "renamed");
  // a seek that needs it waits for it
  const q = new ReplayPlayer({ streamId: "abcdefghijkl0001", prefetchMs: 0 });
  q.loadIndex(0, ix);
  for (const [n, b] of blobs) if (n !== C) q.blob(0, n, b);
  q.seek(0, 30_000);
  assert.equal(q.state.phase, "loading");
  assert.equal(q.documentAt(30_000), null);
});
