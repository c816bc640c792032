// @ts-check
// bench/replay.py's recording: a streamer typing at a human pace for a given time, recorded
// by the shipped history core (static_web/src/core/history.js) exactly as the page records
// it (every keystroke one final delta with its selection, segments cut every
// storage.segmentMs of editing, keyframes by the core's rule, a marker now and then).
// Deterministic (seeded). The core's uploads are answered 200 at once here; the Python side
// then sends them, in order, to the real dev host.
//
//   node harness/node/replay-recording.mjs < {"seconds": 3600, "seed": 1, "t0": <ms>}
//
// Output: JSON lines {"kind": "keyframes" | "segments", "body": {...}}, then
// {"done": {"deltas", "chars", "doc_chars"}}.
/** @import { Change } from "../../static_web/src/core/delta.js" */
import { readFileSync } from "node:fs";
import { applyChanges } from "../../static_web/src/core/delta.js";
import { StreamHistory } from "../../static_web/src/core/history.js";

const params = JSON.parse(readFileSync(0, "utf8"));
const seconds = Number(params.seconds ?? 3600);
const t0 = Number(params.t0 ?? 1_700_000_000_000);

/** mulberry32: a small seeded PRNG, so the same parameters give the same recording. */
function prng(/** @type {number} */ seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = prng(Number(params.seed ?? 1));
const between = (/** @type {number} */ lo, /** @type {number} */ hi) => lo + rnd() * (hi - lo);
const WORDS = "def return self value items index result print if else for while in import from class None True False list dict len range append data config parse stream delta".split(" ");

const history = new StreamHistory({ wall: (now) => t0 + Math.round(now) });
let src = { epoch: "bench1", v: 0, doc: "", lang: "python", title: "One hour of typing" };
const get = () => ({ ...src });
const emit = (/** @type {unknown} */ value) => process.stdout.write(JSON.stringify(value) + "\n");
let serial = 0;

function pump(/** @type {number} */ now) {
  let actions = history.tick(now, get);
  while (actions.length) {
    const a = actions[0];
    emit({ kind: a.kind, body: a.body });
    serial = a.serial;
    const head = "v" in a.body ? a.body.v : a.body.to;
    actions = history.uploaded(now, serial, { status: 200, head: { epoch: a.body.epoch, v: head } }, get);
  }
}

let now = 0;
let deltas = 0;
let chars = 0;
let pos = 0;
/** @param {Change[]} changes @param {number} newPos the caret after it */
function edit(changes, newPos) {
  src = { ...src, v: src.v + 1, doc: applyChanges(src.doc, changes) };
  pos = newPos;
  history.record(now, { type: "delta", epoch: src.epoch, v: src.v, changes, sel: [pos, pos] });
  deltas += 1;
  pump(now);
}
/** Wait `ms`, letting the core cut segments when they are due. */
function wait(/** @type {number} */ ms) {
  const end = now + ms;
  for (;;) {
    const due = history.nextTick();
    if (due === null || due > end) break;
    now = Math.max(now, due);
    pump(now);
  }
  now = end;
}

history.startEpoch(0, src.epoch);
history.start();
pump(0);
let nextMarker = 600_000;
let markers = 0;
while (now < seconds * 1000) {
  // one line: words typed at 3-5 characters a second, a typo fixed now and then
  if (rnd() < 0.15 && src.doc.length > 0) pos = Math.floor(rnd() * src.doc.length); // edit elsewhere
  const indent = "    ".repeat(Math.floor(rnd() * 3));
  let line = indent;
  const words = 2 + Math.floor(rnd() * 8);
  for (let w = 0; w < words; w++) line += (w ? " " : "") + WORDS[Math.floor(rnd() * WORDS.length)];
  for (const ch of line + "\n") {
    wait(between(200, 330));
    edit([[pos, pos, ch]], pos + 1);
    chars += 1;
    if (rnd() < 0.03) {
      // a typo: backspace a few characters and retype them
      const n = Math.min(pos, 1 + Math.floor(rnd() * 4));
      const gone = src.doc.slice(pos - n, pos);
      for (let i = 0; i < n; i++) {
        wait(between(120, 220));
        edit([[pos - 1, pos, ""]], pos - 1);
      }
      for (const c of gone) {
        wait(between(200, 330));
        edit([[pos, pos, c]], pos + 1);
      }
    }
  }
  // a pause between lines; a longer one to think now and then
  wait(rnd() < 0.12 ? between(5000, 40_000) : between(400, 3000));
  if (now >= nextMarker) {
    markers += 1;
    history.control(now, /** @type {any} */ ({ marker: `step ${markers}` }));
    nextMarker += 600_000;
  }
}
history.control(now, { ended: true });
history.cutNow(now);
wait(10_000);
emit({ done: { deltas, chars, doc_chars: src.doc.length, markers, seconds } });
