// @ts-check
// A streamer session recorded the way the page records it, for the replay tests: edits over
// time go to the real history core (history.js), its uploads to the storage model
// (storage-model.js), answered at once; what was accepted becomes a recording index and its
// blobs (protocol.md "Replay"), and every delta is logged with the time a live watcher saw it.
// Not a test file itself.
import { applyChanges } from "../src/core/delta.js";
import { STORAGE } from "../src/core/contract.js";
import { StreamHistory } from "../src/core/history.js";
import { ModelStorage } from "./storage-model.js";

/** @import { Change } from "../src/core/delta.js" */

/** 8 hex digits of a string (FNV-1a): names only need to differ, as content hashes do. */
function hash8(/** @type {string} */ s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/**
 * @typedef {{ t: number, epoch: string, v: number, doc: string, sel: [number, number] | null,
 *             selV: number, kfV: number }} LiveEntry  what a live watcher had from time t on
 */

export class RecordedSession {
  /** @param {{ storage?: Partial<typeof STORAGE> }} [options] */
  constructor({ storage = {} } = {}) {
    const st = { ...STORAGE, ...storage };
    this.history = new StreamHistory({ storage: st, wall: (now) => Math.round(now) });
    this.store = new ModelStorage(st);
    this.src = { epoch: "e0", v: 0, doc: "", lang: "python", title: "" };
    this.epochN = 0;
    this.now = 0;
    this.down = false; // storage refuses with 503 while true
    /** @type {LiveEntry[]} */
    this.log = [];
    /** @type {any} */
    this.index = { streamId: "abcdefghijkl0001", title: null, lang: null, ended: false, record: true, head: { epoch: "", v: 0, t: 0 }, keyframes: [], segments: [], gaps: [], markers: [] };
    /** @type {Map<string, any>} */
    this.blobs = new Map();
    /** @type {{ epoch: string, v: number } | null} */
    this.head = null;
    this.sel = /** @type {[number, number] | null} */ (null);
    this.selV = 0;
    this.history.startEpoch(0, "e0");
    this.history.start();
    this.#logNow();
    this.pump();
  }

  #logNow() {
    this.log.push({ t: this.now, epoch: this.src.epoch, v: this.src.v, doc: this.src.doc, sel: this.sel, selV: this.selV, kfV: 0 });
  }

  /** Hand out and answer uploads until none is due. */
  pump() {
    const get = () => ({ ...this.src });
    let actions = this.history.tick(this.now, get);
    for (let guard = 0; actions.length && guard < 1000; guard++) {
      const a = actions[0];
      if (this.down) {
        actions = this.history.uploaded(this.now, a.serial, { status: 503, retryAfterMs: 1000 }, get);
        continue;
      }
      const before = this.store.head;
      const answer = this.store.upload(a.kind, a.body);
      if (answer.status === 200) this.#file(a.kind, JSON.parse(JSON.stringify(a.body)), before);
      actions = this.history.uploaded(this.now, a.serial, answer, get);
    }
  }

  /** An accepted upload joins the index (once: a retry finds the same name). */
  #file(/** @type {string} */ kind, /** @type {any} */ body, /** @type {any} */ before) {
    const json = JSON.stringify(body);
    if (kind === "keyframes") {
      const name = `k/${body.epoch}/${body.v}-${hash8(json)}`;
      if (this.blobs.has(name)) return;
      if (before && before.epoch === body.epoch && body.v > before.v + 1) this.index.gaps.push({ epoch: body.epoch, from: before.v + 1, to: body.v - 1 });
      this.blobs.set(name, body);
      this.index.keyframes.push({ name, epoch: body.epoch, v: body.v, t: body.t, bytes: json.length });
      this.index.head = { epoch: body.epoch, v: body.v, t: body.t };
      if (body.lang) this.index.lang = body.lang;
    } else {
      const name = `s/${body.epoch}/${body.from}-${body.to}-${hash8(json)}`;
      if (this.blobs.has(name)) return;
      const dts = [...body.deltas.map((/** @type {any} */ d) => d[0]), ...body.controls.map((/** @type {any} */ c) => c[0])];
      const t1 = body.t0 + Math.max(0, ...dts);
      this.blobs.set(name, body);
      this.index.segments.push({ name, epoch: body.epoch, from: body.from, to: body.to, t0: body.t0, t1, bytes: json.length });
      this.index.head = { epoch: body.epoch, v: body.to, t: Math.max(this.index.head.t, t1) };
    }
  }

  /** Time passes (segments are cut, retries go). */
  wait(/** @type {number} */ ms) {
    const end = this.now + ms;
    for (;;) {
      const due = this.history.nextTick();
      if (due === null || due > end) break;
      this.now = Math.max(this.now, due);
      this.pump();
    }
    this.now = end;
    this.pump();
  }

  /**
   * The streamer edits: one final delta (numbered and acknowledged now).
   * @param {Change[]} changes
   * @param {[number, number] | null} sel
   */
  edit(changes, sel = null) {
    const doc = applyChanges(this.src.doc, changes);
    this.src = { ...this.src, v: this.src.v + 1, doc };
    const s = sel && sel[0] <= doc.length && sel[1] <= doc.length ? sel : null;
    if (s) {
      this.sel = s;
      this.selV = this.src.v;
    }
    const msg = { type: /** @type {const} */ ("delta"), epoch: this.src.epoch, v: this.src.v, changes, ...(s ? { sel: s } : {}) };
    this.history.record(this.now, msg);
    this.#logNow();
    this.pump();
  }

  /** The page reloads: a new epoch at version 0, the document kept (the local draft) or not. */
  reload(/** @type {string} */ doc) {
    this.epochN += 1;
    this.src = { ...this.src, epoch: `e${this.epochN}`, v: 0, doc };
    this.sel = null;
    this.selV = 0;
    this.history.startEpoch(this.now, this.src.epoch);
    this.#logNow();
    this.pump();
  }

  /** Storage goes down (503) or comes back. */
  outage(/** @type {boolean} */ down) {
    this.down = down;
    this.pump();
  }

  /** The end of the session: what is open is cut and stored. */
  finish() {
    this.down = false;
    this.history.cutNow(this.now);
    this.wait(20_000);
  }

  /** What a live watcher had at time t (the latest entry at or before it). */
  liveAt(/** @type {number} */ t) {
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid].t <= t) lo = mid + 1;
      else hi = mid;
    }
    return this.log[Math.max(0, lo - 1)];
  }
}
