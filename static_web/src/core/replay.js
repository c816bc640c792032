// @ts-check
// The replay player (protocol.md, "Replay" > "Player"), pure: the recording index, blob
// bodies, the shell's clock and the watcher's live document in; actions out (fetch a blob,
// reset or change the editor, show state). No DOM, no fetch, no timers: the page shell
// performs the actions and calls tick() when nextTick() says.
//
// Time: every position is a recording time `t` in ms on the streamer's clock (keyframe `t`,
// segment `t0 + dt`), the clock the index and markers use; `state.start`..`state.end` is the
// timeline. The document at `t` is the stored document after every delta numbered at or
// before `t`: the latest keyframe at or before `t` (its deltas are all older than it), then
// the deltas after it in its epoch while their time is at most `t`, applied with delta.js
// (the one delta application live watchers use). Checkpoints (the document every
// CHECKPOINT_DELTAS deltas, kept as they are computed) bound a seek to a few hundred
// applications.
//
// Selection at `t`: the `sel` of the latest delta at or before `t`, after the base keyframe,
// that carries one (null if none does): what a late joiner from that keyframe sees
// (join.js), and what a live watcher sees whenever the streamer sends its selection with each
// batch (it does, deltas.js).
//
// Gaps: a keyframe that jumped ahead leaves versions storage cannot rebuild (`gaps` in the
// index). Between the last stored delta before it and the keyframe's time the player shows
// the last document it can rebuild and says `state.gap` (never invents what is missing).
// A blob that cannot be fetched or does not add up is treated the same way (`state.gap` with
// `reason`).
//
// Live ("rewind while live"): the watcher page keeps its WatcherState for the live document
// and passes every action it performs for it (reset / apply / lang / title, with the
// machine's epoch and v after it) to live(); markers of live `control` messages to
// liveMarker(). The player keeps the live document and appends the live deltas to its
// timeline, so the watcher can scrub back while the stream goes on. In mode "live" the player
// returns the same editor actions for the shell to perform (the page drives its editor only
// from the player's actions); in mode "replay" it returns none for live input. jumpToLive()
// answers a reset to the live document at once; a playhead that reaches the live edge
// switches to "live" by itself.
//
// API (stable; a change is announced in a commit starting "API:"):
//
//   const p = new ReplayPlayer({ streamId, follow?, prefetchMs?, idleMs?, idleShownMs?, maxInFlight? })
//                                      follow: start in mode "live" (a watch page, no deep link)
//   p.loadIndex(now, index)            -> ReplayAction[]   the parsed GET .../recording answer
//                                                           (again later: a fresher index)
//   p.blob(now, name, body)            -> ReplayAction[]   a fetched blob's parsed JSON
//   p.blobFailed(now, name, status)    -> ReplayAction[]   it could not be fetched (0: network)
//   p.seek(now, t)                     -> ReplayAction[]   move the playhead (clamped); before
//                                                           the index: taken when it comes
//   p.seekMarker(now, n)               -> ReplayAction[]   to marker n (false-y if unknown)
//   p.seekLink(now, link)              -> ReplayAction[]   a parsed deep link (deep-link.js);
//                                                           before the index: as seek
//   p.play(now) / p.pause(now)         -> ReplayAction[]
//   p.setSpeed(now, speed)             -> ReplayAction[]   clamped to SPEEDS' range
//   p.setSkipIdle(now, on)             -> ReplayAction[]
//   p.tick(now)                        -> ReplayAction[]   advance the playhead
//   p.nextTick()                       -> number | null    when tick() is due (null: idle)
//   p.live(now, actions, at)           -> ReplayAction[]   WatcherState actions (one call's,
//                                                           one or a list) + {epoch, v, wallMs}
//   p.liveMarker(now, marker)          -> ReplayAction[]   {label, t} of a live control
//   p.liveStatus(now, status)          -> ReplayAction[]   "live" | "offline" | "ended"
//   p.jumpToLive(now)                  -> ReplayAction[]
//   p.documentAt(t)                    -> Frame | null     pure query (null: blobs missing)
//   p.histogram(buckets)               -> number[]         deltas per bucket over start..end
//   p.state                            -> PlayerState      a fresh copy
//   p.markers                          -> Marker[]         with times, stored then live
//
// `now` is the shell's monotonic clock (performance.now()); it only measures playback.
/** @import { Change } from "./delta.js" */
import { applyChanges, DeltaError } from "./delta.js";
import { parseTime } from "./deep-link.js";

/**
 * @typedef {[number, number]} Selection
 * @typedef {{ name: string, epoch: string, v: number, t: number, bytes?: number }} IndexKeyframe
 * @typedef {{ name: string, epoch: string, from: number, to: number, t0: number, t1: number, bytes?: number }} IndexSegment
 * @typedef {{ epoch: string, from: number, to: number }} IndexGap
 * @typedef {{ n: number, label: string, epoch?: string, v?: number, t: number, live?: boolean }} Marker
 * @typedef {{ streamId: string, title: string | null, lang: string | null, ended: boolean,
 *             record?: boolean, createdAt?: number, updatedAt?: number,
 *             head: { epoch: string, v: number, t: number },
 *             keyframes: IndexKeyframe[], segments: IndexSegment[], gaps: IndexGap[],
 *             markers: Marker[] }} RecordingIndex  GET /api/streams/{id}/recording
 * @typedef {{ epoch: string, v: number, t: number, doc: string, sel: Selection | null,
 *             lang: string | null, title: string | null, ended: boolean,
 *             gap: Gap | null }} Frame  the document at a time, and what goes with it
 * @typedef {{ epoch: string, from: number, to: number, reason: "missing" | "unreadable" }} Gap
 * @typedef {"empty" | "loading" | "ready" | "buffering" | "ended" | "live"} Phase
 *   empty: no index yet (or nothing stored); loading: a seek waits for blobs; ready: showing
 *   the document at the playhead; buffering: playing, waiting for the next segment; ended:
 *   the playhead reached the end of a recording that is not live; live: following the live
 *   document
 * @typedef {{ phase: Phase, mode: "replay" | "live", t: number, start: number, end: number,
 *             playing: boolean, speed: number, skipIdle: boolean, atLiveEdge: boolean,
 *             liveAvailable: boolean, gap: Gap | null, epoch: string | null, v: number,
 *             lang: string | null, title: string | null, ended: boolean,
 *             pending: string[], failed: string[] }} PlayerState
 * @typedef {{ type: "fetch", name: string }
 *   | { type: "reset", doc: string, sel: Selection | null, lang: string | null, title: string | null }
 *   | { type: "apply", changes: Change[], sel?: Selection }
 *   | { type: "lang", lang: string }
 *   | { type: "title", title: string }
 *   | { type: "state", state: PlayerState }} ReplayAction
 *   fetch: GET /api/streams/{id}/blobs/{name}, answer with blob() or blobFailed();
 *   reset/apply/lang/title: as WatcherAction (the editor shows the document at the playhead);
 *   state: the player's state changed (playhead, phase, ...), redraw the controls. At most
 *   one `state` per call, last.
 * @typedef {{ type: string, doc?: string, changes?: Change[], sel?: Selection | null,
 *             lang?: unknown, title?: unknown }} LiveAction  a WatcherAction
 */

/** Playback speeds the player accepts (others are clamped into this range). */
export const SPEEDS = Object.freeze([0.5, 1, 1.5, 2, 4, 8]);
export const MIN_SPEED = 0.5;
export const MAX_SPEED = 8;
/** A checkpoint (a copy of the document) is kept every this many deltas. */
export const CHECKPOINT_DELTAS = 128;
/** Skip idle time: a stretch without activity longer than this... */
export const IDLE_MS = 3000;
/** ...plays in this much wall time (at 1x). */
export const IDLE_SHOWN_MS = 1000;
/** Segments are fetched this far (recording time, times the speed) ahead of the playhead. */
export const PREFETCH_MS = 60_000;
/** Blob fetches the player has going at once (a browser opens 6 connections per host). */
export const MAX_IN_FLIGHT = 6;
/** A playing player wants a tick at least this often (ms of the shell's clock). */
export const FRAME_MS = 50;

/** @typedef {{ t: number, changes: Change[], sel: Selection | null }} Delta */
/** @typedef {{ t: number, fields: Record<string, unknown> }} Control */
/** @typedef {{ v: number, t: number, doc: string, sel: Selection | null, selV: number }} Checkpoint */
/**
 * One epoch of the timeline: its keyframes (bases), its deltas by version and its controls.
 * @typedef {{ id: string, keyframes: Base[], segments: IndexSegment[], deltas: Map<number, Delta>,
 *             controls: Control[], checkpoints: Checkpoint[], gaps: IndexGap[],
 *             liveFrom: number }} Epoch
 * @typedef {{ epoch: string, v: number, t: number, name: string | null, doc: string | null,
 *             lang: string | null, title: string | null, sel?: Selection | null }} Base
 *   a keyframe, or (name null) a live base: the live document after a reset or a catchup
 */

const isNat = (/** @type {unknown} */ x) => Number.isInteger(x) && /** @type {number} */ (x) >= 0;
const isObj = (/** @type {unknown} */ x) => Boolean(x) && typeof x === "object" && !Array.isArray(x);
const str = (/** @type {unknown} */ x) => (typeof x === "string" ? x : null);
const isSel = (/** @type {unknown} */ s) => Array.isArray(s) && s.length === 2 && s.every(isNat);

/** Last index i with key(arr[i]) <= x (-1 if none); arr sorted by key. */
function lastAtOrBefore(/** @type {any[]} */ arr, /** @type {number} */ x, /** @type {(e: any) => number} */ key) {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(arr[mid]) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

export class ReplayPlayer {
  /**
   * @param {object} options
   * @param {string} options.streamId
   * @param {number} [options.prefetchMs]
   * @param {number} [options.idleMs]
   * @param {number} [options.idleShownMs]
   * @param {number} [options.maxInFlight]
   * @param {number} [options.checkpointDeltas]
   * @param {boolean} [options.follow]  start following the live document (a watch page of a
   *   live stream without a deep link); otherwise start replaying at the start or the link
   */
  constructor({
    streamId,
    prefetchMs = PREFETCH_MS,
    idleMs = IDLE_MS,
    idleShownMs = IDLE_SHOWN_MS,
    maxInFlight = MAX_IN_FLIGHT,
    checkpointDeltas = CHECKPOINT_DELTAS,
    follow = false,
  }) {
    this.streamId = streamId;
    this.opts = { prefetchMs, idleMs, idleShownMs, maxInFlight, checkpointDeltas };
    /** @type {RecordingIndex | null} */
    this.index = null;
    /** @type {Map<string, Epoch>} */
    this.epochs = new Map();
    /** @type {Base[]} every base of every epoch, by time */
    this.bases = [];
    /** @type {Map<string, IndexKeyframe | IndexSegment>} blobs the index names */
    this.names = new Map();
    /** @type {Set<string>} */
    this.loaded = new Set();
    /** @type {Set<string>} */
    this.inFlight = new Set();
    /** @type {Set<string>} */
    this.failed = new Set();
    /** @type {Marker[]} */
    this.liveMarkers = [];
    /** @type {{ epoch: string, v: number, doc: string, sel: Selection | null, lang: string | null, title: string | null, t: number } | null} */
    this.liveDoc = null;
    this.liveEnded = false;
    /** @type {"replay" | "live"} */
    this.mode = follow ? "live" : "replay";
    this.t = 0;
    this.playing = false;
    this.speed = 1;
    this.skipIdle = false;
    /** @type {number | null} the shell's clock at the last tick while playing */
    this.lastNow = null;
    /** @type {Frame | null} what the editor shows */
    this.shown = null;
    this.waiting = false; // a render waits for blobs
    /** @type {number[] | null} sorted activity times (cache, rebuilt when data changes) */
    this.activity = null;
    this.lastStateKey = "";
    /** @type {{ t?: number, m?: string, link: { t?: string, m?: string } } | null} a seek asked before the index came */
    this.requested = null;
  }

  // ---------------------------------------------------------------- events

  /**
   * The recording index (or a fresher one). Lists are taken as the server orders them.
   * @param {number} now
   * @param {unknown} index
   * @returns {ReplayAction[]}
   */
  loadIndex(now, index) {
    const ix = checkIndex(index);
    const first = this.index === null;
    this.index = ix;
    for (const k of ix.keyframes) {
      if (this.names.has(k.name)) continue;
      this.names.set(k.name, k);
      const ep = this.#epoch(k.epoch);
      /** @type {Base} */
      const base = { epoch: k.epoch, v: k.v, t: k.t, name: k.name, doc: null, lang: null, title: null };
      ep.keyframes.push(base);
      ep.keyframes.sort((a, b) => a.v - b.v);
      this.bases.push(base);
    }
    for (const s of ix.segments) {
      if (this.names.has(s.name)) continue;
      this.names.set(s.name, s);
      const ep = this.#epoch(s.epoch);
      ep.segments.push(s);
      ep.segments.sort((a, b) => a.from - b.from || a.t0 - b.t0);
    }
    for (const g of ix.gaps) {
      const ep = this.#epoch(g.epoch);
      if (!ep.gaps.some((x) => x.from === g.from && x.to === g.to)) ep.gaps.push(g);
    }
    this.bases.sort((a, b) => a.t - b.t);
    this.activity = null;
    if (first) {
      this.t = this.#start();
      const link = this.requested;
      this.requested = null;
      if (link) return link.t !== undefined && link.m === undefined ? this.seek(now, link.t) : this.seekLink(now, link.link);
    }
    return this.#render(now);
  }

  /**
   * A blob's body arrived (parsed JSON). A body that does not match its name counts as failed.
   * @param {number} now
   * @param {string} name
   * @param {unknown} body
   * @returns {ReplayAction[]}
   */
  blob(now, name, body) {
    this.inFlight.delete(name);
    const entry = this.names.get(name);
    if (!entry || this.loaded.has(name)) return this.#render(now);
    if (!this.#accept(entry, body)) this.failed.add(name);
    else this.loaded.add(name);
    this.activity = null;
    return this.#render(now);
  }

  /**
   * A blob could not be fetched (HTTP status, 0 for a network error). It is not asked for
   * again until the next seek.
   * @param {number} now
   * @param {string} name
   * @param {number} _status
   */
  blobFailed(now, name, _status) {
    this.inFlight.delete(name);
    if (this.names.has(name)) this.failed.add(name);
    return this.#render(now);
  }

  /** Move the playhead (clamped to the timeline); leaves live mode. */
  seek(/** @type {number} */ now, /** @type {number} */ t) {
    if (!this.index && !this.liveDoc) {
      this.requested = { t, link: {} }; // taken when the index comes
      return this.#render(now);
    }
    this.failed.clear();
    this.mode = "replay";
    this.t = Math.min(Math.max(t, this.#start()), this.#end());
    if (this.playing) this.lastNow = now;
    return this.#render(now);
  }

  /** To marker `n` (stored or live); nothing if there is no such marker. */
  seekMarker(/** @type {number} */ now, /** @type {number} */ n) {
    const m = this.markers.find((x) => x.n === n);
    return m ? this.seek(now, m.t) : this.#render(now);
  }

  /**
   * A deep link (deep-link.js parseFragment): `m` wins over `t` when the marker exists; `t`
   * counts from the start of the recording.
   * @param {number} now
   * @param {{ t?: string, m?: string }} link
   */
  seekLink(now, link) {
    if (!this.index && !this.liveDoc) {
      this.requested = { m: link.m, link }; // taken when the index comes
      return this.#render(now);
    }
    if (link.m !== undefined && this.markers.some((x) => x.n === Number(link.m))) return this.seekMarker(now, Number(link.m));
    const ms = link.t !== undefined ? parseTime(link.t) : null;
    return ms !== null ? this.seek(now, this.#start() + ms) : this.#render(now);
  }

  play(/** @type {number} */ now) {
    if (this.mode === "live") return this.#render(now);
    if (this.t >= this.#end() && !this.#liveAvailable()) this.t = this.#start(); // play again
    this.playing = true;
    this.lastNow = now;
    return this.#render(now);
  }

  pause(/** @type {number} */ now) {
    if (this.playing) this.#advance(now);
    this.playing = false;
    this.lastNow = null;
    return this.#render(now);
  }

  setSpeed(/** @type {number} */ now, /** @type {number} */ speed) {
    if (this.playing) this.#advance(now);
    this.speed = Math.min(MAX_SPEED, Math.max(MIN_SPEED, Number.isFinite(speed) ? speed : 1));
    return this.#render(now);
  }

  setSkipIdle(/** @type {number} */ now, /** @type {boolean} */ on) {
    if (this.playing) this.#advance(now);
    this.skipIdle = on;
    return this.#render(now);
  }

  /** The shell's clock moved: advance the playhead while playing. */
  tick(/** @type {number} */ now) {
    if (this.playing) this.#advance(now);
    return this.#render(now);
  }

  /** When the shell should call tick() next (its clock), or null while nothing moves. */
  nextTick() {
    if (!this.playing || this.lastNow === null) return null;
    return this.lastNow + FRAME_MS;
  }

  /**
   * The watcher's live document changed: `actions` are the WatcherActions the page got from
   * one call of its WatcherState (reset, apply, lang, title; others are ignored), one or a
   * list, and `at` the machine's epoch and v after all of them. In mode "live" the same
   * actions come back for the editor.
   * @param {number} now
   * @param {LiveAction | LiveAction[]} actions
   * @param {{ epoch: string | null, v: number, wallMs: number }} at  wallMs: the shell's
   *   Date.now(), the live entry's time on the timeline (the streamer's clock is not known;
   *   it is never put before the stored head)
   * @returns {ReplayAction[]}
   */
  live(now, actions, at) {
    const list = Array.isArray(actions) ? actions : [actions];
    const out = this.#liveBatch(list, at);
    if (this.mode === "live") {
      this.t = this.#end();
      this.shown = this.liveDoc ? this.#liveFrame() : this.shown;
      return out.concat(this.#render(now, { quiet: true }));
    }
    return this.#render(now);
  }

  /**
   * The live stream's status (a `status` message): "ended" ends it for good (the playhead's
   * end is then the end of the recording); "live" again after a new epoch.
   * @param {number} now
   * @param {"live" | "offline" | "ended"} status
   */
  liveStatus(now, status) {
    if (status === "ended") this.liveEnded = true;
    else if (status === "live") this.liveEnded = false;
    return this.#render(now);
  }

  /** A live control's marker `{label, t}` (t: the server's ms): appended to the markers. */
  liveMarker(/** @type {number} */ now, /** @type {{ label: string, t: number }} */ marker) {
    if (typeof marker?.label === "string" && Number.isFinite(marker.t)) {
      const all = this.markers;
      const n = all.reduce((m, x) => Math.max(m, x.n), 0) + 1;
      if (!all.some((x) => x.label === marker.label && x.t === marker.t)) this.liveMarkers.push({ n, label: marker.label, t: marker.t, live: true });
    }
    return this.#render(now);
  }

  /** Follow the live document again: a reset to it at once (nothing if there is none). */
  jumpToLive(/** @type {number} */ now) {
    if (!this.liveDoc) return this.#render(now);
    this.mode = "live";
    this.playing = false;
    this.lastNow = null;
    this.t = this.#end();
    const f = this.#liveFrame();
    this.shown = f;
    return [
      /** @type {ReplayAction} */ ({ type: "reset", doc: f.doc, sel: f.sel, lang: f.lang, title: f.title }),
      ...this.#render(now, { quiet: true }),
    ];
  }

  // ---------------------------------------------------------------- queries

  /** @returns {PlayerState} */
  get state() {
    const f = this.shown;
    return {
      phase: this.#phase(),
      mode: this.mode,
      t: this.t,
      start: this.#start(),
      end: this.#end(),
      playing: this.playing,
      speed: this.speed,
      skipIdle: this.skipIdle,
      atLiveEdge: this.mode === "live" || (this.#liveAvailable() && this.t >= this.#end()),
      liveAvailable: this.#liveAvailable(),
      gap: f ? f.gap : null,
      epoch: f ? f.epoch : null,
      v: f ? f.v : 0,
      lang: f ? f.lang : null,
      title: f ? f.title : null,
      ended: this.liveEnded || Boolean(this.index?.ended && this.mode === "replay" && this.t >= this.#end()),
      pending: [...this.inFlight],
      failed: [...this.failed],
    };
  }

  /** Stored markers then live ones, by time. @returns {Marker[]} */
  get markers() {
    const stored = this.index ? this.index.markers : [];
    return [...stored, ...this.liveMarkers].sort((a, b) => a.t - b.t || a.n - b.n);
  }

  /**
   * Deltas per bucket over start..end (the scrubber's activity). Segments not fetched yet
   * count their deltas spread evenly over [t0, t1]; fetched ones and live deltas count each.
   * @param {number} buckets
   * @returns {number[]}
   */
  histogram(buckets) {
    const n = Math.max(1, Math.floor(buckets));
    const out = new Array(n).fill(0);
    const start = this.#start();
    const span = Math.max(1, this.#end() - start);
    const at = (/** @type {number} */ t) => Math.min(n - 1, Math.max(0, Math.floor(((t - start) / span) * n)));
    for (const ep of this.epochs.values()) {
      for (const s of ep.segments) {
        const count = s.to - s.from + 1;
        if (count <= 0) continue;
        if (this.loaded.has(s.name)) {
          for (let v = s.from; v <= s.to; v++) {
            const d = ep.deltas.get(v);
            if (d) out[at(d.t)] += 1;
          }
        } else {
          const b0 = at(s.t0);
          const b1 = at(s.t1);
          for (let b = b0; b <= b1; b++) out[b] += count / (b1 - b0 + 1);
        }
      }
      for (const [v, d] of ep.deltas) if (v >= ep.liveFrom && !this.#segmentOf(ep, v)) out[at(d.t)] += 1;
    }
    return out.map((x) => Math.round(x * 100) / 100);
  }

  /**
   * The document at time `t`, computed from what is loaded; null when a blob it needs is not
   * loaded yet (or before anything is). Pure but for the checkpoints it keeps.
   * @param {number} t
   * @returns {Frame | null}
   */
  documentAt(t) {
    const r = this.#frameAt(t);
    return r && r.missing.length === 0 ? r.frame : null;
  }

  // ---------------------------------------------------------------- internals

  #epoch(/** @type {string} */ id) {
    let ep = this.epochs.get(id);
    if (!ep) {
      ep = { id, keyframes: [], segments: [], deltas: new Map(), controls: [], checkpoints: [], gaps: [], liveFrom: Infinity };
      this.epochs.set(id, ep);
    }
    return ep;
  }

  #start() {
    const b = this.bases.length ? this.bases[0].t : null;
    return b ?? this.liveDoc?.t ?? 0;
  }

  #end() {
    let end = this.#start();
    if (this.index) end = Math.max(end, this.index.head.t);
    for (const ep of this.epochs.values()) {
      const last = ep.segments.length ? ep.segments[ep.segments.length - 1] : null;
      if (last) end = Math.max(end, last.t1);
    }
    for (const b of this.bases) end = Math.max(end, b.t);
    if (this.liveDoc) end = Math.max(end, this.liveDoc.t);
    return end;
  }

  #liveAvailable() {
    return this.liveDoc !== null && !this.liveEnded;
  }

  /** Check a blob body against its index entry and file its contents. */
  #accept(/** @type {IndexKeyframe | IndexSegment} */ entry, /** @type {unknown} */ body) {
    if (!isObj(body)) return false;
    const b = /** @type {Record<string, any>} */ (body);
    if (b.epoch !== entry.epoch) return false;
    const ep = this.#epoch(entry.epoch);
    if ("v" in entry) {
      if (b.v !== entry.v || typeof b.doc !== "string" || b.doc.includes("\r")) return false;
      const base = ep.keyframes.find((k) => k.name === entry.name);
      if (!base) return false;
      base.doc = b.doc;
      base.lang = str(b.lang);
      base.title = str(b.title);
      return true;
    }
    if (b.from !== entry.from || b.to !== entry.to || !isNat(b.t0) || !Array.isArray(b.deltas) || !Array.isArray(b.controls)) return false;
    if (b.to !== b.from + b.deltas.length - 1) return false;
    let prev = 0;
    /** @type {Delta[]} */
    const ds = [];
    for (const d of b.deltas) {
      if (!Array.isArray(d) || d.length !== 3 || !isNat(d[0]) || d[0] < prev || !Array.isArray(d[1])) return false;
      if (d[2] !== null && !isSel(d[2])) return false;
      prev = d[0];
      ds.push({ t: b.t0 + d[0], changes: d[1], sel: d[2] });
    }
    /** @type {Control[]} */
    const cs = [];
    for (const c of b.controls) {
      if (!Array.isArray(c) || c.length !== 2 || !isNat(c[0]) || !isObj(c[1])) return false;
      cs.push({ t: b.t0 + c[0], fields: c[1] });
    }
    ds.forEach((d, i) => ep.deltas.set(b.from + i, d));
    ep.controls.push(...cs);
    ep.controls.sort((x, y) => x.t - y.t);
    return true;
  }

  /**
   * The base for time t: the latest keyframe (or live reset) at or before t, else the first.
   * @returns {Base | null}
   */
  #baseAt(/** @type {number} */ t) {
    if (!this.bases.length) return null;
    const i = lastAtOrBefore(this.bases, t, (b) => b.t);
    return this.bases[Math.max(0, i)];
  }

  /** The segment of `ep` holding version v (null if none does). */
  #segmentOf(/** @type {Epoch} */ ep, /** @type {number} */ v) {
    const i = lastAtOrBefore(ep.segments, v, (s) => s.from);
    for (let j = i; j >= 0 && j > i - 2; j--) {
      const s = ep.segments[j];
      if (s.from <= v && v <= s.to) return s;
    }
    return null;
  }

  /**
   * The frame at t and the blobs it still needs.
   * @returns {{ frame: Frame, missing: string[] } | null}
   */
  #frameAt(/** @type {number} */ t) {
    const base = this.#baseAt(t);
    if (!base) return null;
    const ep = /** @type {Epoch} */ (this.epochs.get(base.epoch));
    if (base.doc === null) {
      const more = [...this.#needed(ep, base.v + 1, t), ...this.#controlsNeeded(ep, base, Infinity, t)];
      return { frame: this.#emptyFrame(base), missing: base.name ? [base.name, ...more] : [] };
    }
    // the latest checkpoint after the base, at or before t
    const ci = lastAtOrBefore(ep.checkpoints, t, (c) => c.t);
    let cp = ci >= 0 ? ep.checkpoints[ci] : null;
    // a checkpoint is valid for this base when it lies after it (same document history)
    while (cp && cp.v < base.v) cp = null;
    let doc = cp ? cp.doc : base.doc;
    let v = cp ? cp.v : base.v;
    let sel = cp && cp.selV > base.v ? cp.sel : (base.sel ?? null);
    let selV = cp && cp.selV > base.v ? cp.selV : base.v;
    /** @type {string[]} */
    const missing = [];
    /** @type {Gap | null} */
    let gap = null;
    const every = this.opts.checkpointDeltas;
    for (;;) {
      const d = ep.deltas.get(v + 1);
      if (d) {
        if (d.t > t) {
          break;
        }
        try {
          doc = applyChanges(doc, d.changes);
        } catch (e) {
          if (!(e instanceof DeltaError)) throw e;
          gap = { epoch: ep.id, from: v + 1, to: v + 1, reason: "unreadable" };
          break;
        }
        v += 1;
        if (d.sel) {
          sel = d.sel;
          selV = v;
        }
        if ((v - base.v) % every === 0 && !ep.checkpoints.some((c) => c.v === v)) {
          ep.checkpoints.splice(lastAtOrBefore(ep.checkpoints, v, (c) => c.v) + 1, 0, { v, t: d.t, doc, sel, selV });
        }
        continue;
      }
      const seg = this.#segmentOf(ep, v + 1);
      if (seg && !this.loaded.has(seg.name)) {
        if (seg.t0 <= t) {
          if (this.failed.has(seg.name)) gap = { epoch: ep.id, from: seg.from, to: seg.to, reason: "unreadable" };
          else missing.push(...this.#needed(ep, v + 1, t)); // all at once: fetched in parallel
        }
        break;
      }
      // nothing stored holds v + 1. A later keyframe of the epoch that holds it means the
      // versions up to it are missing (a gap the server recorded, or a history queue replaced
      // by a keyframe: their times are lost); until that keyframe, say so and show v
      const next = ep.keyframes.find((k) => k.v > v);
      if (next && next.t > t) {
        const g = ep.gaps.find((x) => x.from <= v + 1 && v + 1 <= x.to);
        gap = { epoch: ep.id, from: v + 1, to: g ? Math.max(g.to, next.v) : next.v, reason: "missing" };
      }
      break;
    }
    missing.push(...this.#controlsNeeded(ep, base, v, t));
    const meta = this.#metaAt(ep, base, t);
    /** @type {Frame} */
    const frame = { epoch: ep.id, v, t, doc, sel: sel && sel[0] <= doc.length && sel[1] <= doc.length ? sel : null, ...meta, gap };
    return { frame, missing };
  }

  /** The segments not loaded yet that a frame at t needs from version `from` on, in order. */
  #needed(/** @type {Epoch} */ ep, /** @type {number} */ from, /** @type {number} */ t) {
    /** @type {string[]} */
    const out = [];
    let v = from;
    for (let seg = this.#segmentOf(ep, v); seg && seg.t0 <= t; seg = this.#segmentOf(ep, v)) {
      if (!this.loaded.has(seg.name) && !this.failed.has(seg.name)) out.push(seg.name);
      v = seg.to + 1;
      if (seg.to < seg.from) break; // controls only: nothing follows it in versions
    }
    return out;
  }

  /** Segments holding only controls (a title, a marker, the end) after the base, up to v + 1 and t. */
  #controlsNeeded(/** @type {Epoch} */ ep, /** @type {Base} */ base, /** @type {number} */ v, /** @type {number} */ t) {
    return ep.segments
      .filter((sg) => sg.to < sg.from && sg.from > base.v && sg.from <= v + 1 && sg.t0 <= t && !this.loaded.has(sg.name) && !this.failed.has(sg.name))
      .map((sg) => sg.name);
  }

  /** Language, title and ended at t: the base keyframe's, then the controls after it. */
  #metaAt(/** @type {Epoch} */ ep, /** @type {Base} */ base, /** @type {number} */ t) {
    let lang = base.lang ?? this.index?.lang ?? null;
    let title = base.title ?? this.index?.title ?? null;
    let ended = false;
    for (const c of ep.controls) {
      if (c.t > t) break;
      if (c.t < base.t && base.name !== null) continue;
      if (typeof c.fields.lang === "string") lang = c.fields.lang;
      if (typeof c.fields.title === "string") title = c.fields.title;
      if (c.fields.ended === true) ended = true;
    }
    return { lang, title, ended };
  }

  /** @returns {Frame} */
  #emptyFrame(/** @type {Base} */ base) {
    return { epoch: base.epoch, v: base.v, t: base.t, doc: "", sel: null, lang: null, title: null, ended: false, gap: null };
  }

  /** @returns {Frame} */
  #liveFrame() {
    const l = /** @type {NonNullable<typeof this.liveDoc>} */ (this.liveDoc);
    return { epoch: l.epoch, v: l.v, t: l.t, doc: l.doc, sel: l.sel, lang: l.lang, title: l.title, ended: this.liveEnded, gap: null };
  }

  /**
   * File one batch of live WatcherActions; returns the editor actions they mean. One apply
   * taking v to v + 1 becomes a delta of the timeline; anything else (a reset, a catchup of
   * many versions, several actions) a live base at the version after it.
   * @param {LiveAction[]} list
   * @param {{ epoch: string | null, v: number, wallMs: number }} at
   * @returns {ReplayAction[]}
   */
  #liveBatch(list, at) {
    /** @type {ReplayAction[]} */
    const out = [];
    const before = this.liveDoc ? { epoch: this.liveDoc.epoch, v: this.liveDoc.v } : null;
    const prevT = this.liveDoc ? this.liveDoc.t : -Infinity;
    /** @type {NonNullable<typeof this.liveDoc> | null} */
    let l = this.liveDoc;
    let edits = 0;
    let reset = false;
    /** @type {{ changes: Change[], sel: Selection | null } | null} */
    let single = null;
    for (const a of list) {
      if (a.type === "reset") {
        const doc = typeof a.doc === "string" ? a.doc : "";
        const sel = isSel(a.sel) ? /** @type {Selection} */ (a.sel) : null;
        const lang = str(a.lang) ?? l?.lang ?? null;
        const title = str(a.title) ?? l?.title ?? null;
        l = { epoch: at?.epoch ?? "", v: at?.v ?? 0, doc, sel, lang, title, t: 0 };
        reset = true;
        edits += 1;
        out.push({ type: "reset", doc, sel, lang, title });
      } else if (a.type === "apply") {
        if (!l || !Array.isArray(a.changes)) continue;
        const changes = /** @type {Change[]} */ (a.changes);
        try {
          l.doc = applyChanges(l.doc, changes);
        } catch (e) {
          if (e instanceof DeltaError) continue; // the watcher's machine checked it; never here
          throw e;
        }
        const sel = isSel(a.sel) ? /** @type {Selection} */ (a.sel) : null;
        if (sel) l.sel = sel;
        edits += 1;
        single = { changes, sel };
        out.push(sel ? { type: "apply", changes, sel } : { type: "apply", changes });
      } else if (a.type === "lang" && typeof a.lang === "string") {
        if (l) l.lang = a.lang;
        out.push({ type: "lang", lang: a.lang });
      } else if (a.type === "title" && typeof a.title === "string") {
        if (l) l.title = a.title;
        out.push({ type: "title", title: a.title });
      }
    }
    this.liveDoc = l;
    if (!l || !at || typeof at.epoch !== "string" || !isNat(at.v)) return out;
    const wall = Math.max(Number.isFinite(at.wallMs) ? at.wallMs : 0, prevT, this.#storedEnd());
    l.t = wall;
    if (edits === 0 && before && before.epoch === at.epoch && before.v === at.v) return out;
    const ep = this.#epoch(at.epoch);
    if (!reset && edits === 1 && single && before && before.epoch === at.epoch && at.v === before.v + 1) {
      if (!ep.deltas.has(at.v)) ep.deltas.set(at.v, { t: wall, changes: single.changes, sel: single.sel });
    } else {
      /** @type {Base} */
      const base = { epoch: at.epoch, v: at.v, t: wall, name: null, doc: l.doc, lang: l.lang, title: l.title, sel: l.sel };
      ep.keyframes.push(base);
      ep.keyframes.sort((x, y) => x.v - y.v);
      this.bases.push(base);
      this.bases.sort((x, y) => x.t - y.t);
    }
    l.epoch = at.epoch;
    l.v = at.v;
    ep.liveFrom = Math.min(ep.liveFrom, at.v);
    this.activity = null;
    return out;
  }

  #storedEnd() {
    return this.index ? this.index.head.t : -Infinity;
  }

  /** Sorted times where something happens (deltas, keyframes, segment spans, markers). */
  #activity() {
    if (this.activity) return this.activity;
    /** @type {number[]} */
    const ts = [];
    for (const b of this.bases) ts.push(b.t);
    for (const ep of this.epochs.values()) {
      for (const s of ep.segments) {
        if (!this.loaded.has(s.name)) {
          // not fetched: its span counts as busy (no idle skip inside it)
          for (let x = s.t0; x < s.t1; x += this.opts.idleMs) ts.push(x);
          ts.push(s.t1);
        }
      }
      for (const d of ep.deltas.values()) ts.push(d.t);
      for (const c of ep.controls) ts.push(c.t);
    }
    for (const m of this.markers) ts.push(m.t);
    ts.sort((a, b) => a - b);
    this.activity = ts;
    return ts;
  }

  /** Move the playhead by the shell's clock since the last tick, speed and idle skipping applied. */
  #advance(/** @type {number} */ now) {
    if (this.lastNow === null) {
      this.lastNow = now;
      return;
    }
    let wall = Math.max(0, now - this.lastNow);
    this.lastNow = now;
    const end = this.#end();
    const ts = this.skipIdle ? this.#activity() : [];
    let t = this.t;
    let limit = -Infinity;
    for (let guard = 0; wall > 0 && t < end && guard < 100_000; guard++) {
      if (t >= limit) limit = Math.min(end, this.#limitFrom(t)); // again only once reached
      if (limit <= t) break; // waiting for a blob
      let rate = this.speed;
      let stop = limit;
      if (this.skipIdle) {
        const i = lastAtOrBefore(ts, t, (x) => x);
        const prev = i >= 0 ? ts[i] : this.#start();
        const next = i + 1 < ts.length ? ts[i + 1] : end;
        if (next - prev > this.opts.idleMs) rate = this.speed * ((next - prev) / this.opts.idleShownMs);
        stop = Math.min(limit, Math.max(next, t));
      }
      const step = Math.min(stop - t, wall * rate);
      if (step <= 0) break;
      t += step;
      wall -= step / rate;
    }
    this.t = t;
    // reached the end: a live stream continues live, a recording ends
    if (this.t >= end) {
      this.playing = false;
      this.lastNow = null;
      if (this.#liveAvailable()) this.mode = "live";
    }
  }

  /**
   * How far the playhead may move from t with what is loaded: to the first segment of its
   * chain not fetched yet, and at most to the next base (whose chain is checked from there).
   */
  #limitFrom(/** @type {number} */ t) {
    const r = this.#frameAt(t);
    if (!r || r.missing.length) return t;
    const f = r.frame;
    const ep = /** @type {Epoch} */ (this.epochs.get(f.epoch));
    let v = f.v;
    let limit = Infinity;
    for (;;) {
      const seg = this.#segmentOf(ep, v + 1);
      if (!seg) break;
      if (!this.loaded.has(seg.name)) {
        limit = Math.max(seg.t0, t);
        break;
      }
      v = seg.to;
    }
    const i = lastAtOrBefore(this.bases, t, (b) => b.t);
    const nb = this.bases[i + 1];
    if (nb) limit = Math.min(limit, nb.doc === null && nb.t > t ? nb.t : Math.max(nb.t, t + 1e-9));
    return limit;
  }

  #phase() {
    if (this.mode === "live") return this.liveDoc ? "live" : "empty";
    if (!this.index && !this.liveDoc) return "empty";
    if (this.waiting) return this.playing ? "buffering" : "loading";
    if (this.t >= this.#end() && !this.playing && !this.#liveAvailable() && this.shown) return "ended";
    return "ready";
  }

  /**
   * Show the frame at the playhead (as a change from what is shown when it follows it),
   * fetch what it needs and what comes next, and report the state when it changed.
   * @param {number} _now
   * @param {{ quiet?: boolean }} [opts]  quiet: the editor is driven by live actions
   * @returns {ReplayAction[]}
   */
  #render(_now, { quiet = false } = {}) {
    /** @type {ReplayAction[]} */
    const out = [];
    /** @type {string[]} */
    let want = [];
    if (this.mode === "live") {
      if (!quiet && this.liveDoc) {
        const f = this.#liveFrame();
        this.#show(f, out);
      }
      this.waiting = false;
    } else {
      const r = this.#frameAt(this.t);
      if (r) {
        want = r.missing;
        this.waiting = r.missing.length > 0;
        if (!this.waiting) this.#show(r.frame, out);
        want = want.concat(this.#ahead(r.frame));
      } else {
        this.waiting = false;
      }
    }
    for (const name of want) {
      if (this.inFlight.size >= this.opts.maxInFlight) break;
      if (this.inFlight.has(name) || this.loaded.has(name) || this.failed.has(name)) continue;
      this.inFlight.add(name);
      out.push({ type: "fetch", name });
    }
    const state = this.state;
    const key = JSON.stringify(state);
    if (key !== this.lastStateKey) {
      this.lastStateKey = key;
      out.push({ type: "state", state });
    }
    return out;
  }

  /** Segments of the playhead's epoch after it, within the prefetch window. */
  #ahead(/** @type {Frame} */ f) {
    const ep = this.epochs.get(f.epoch);
    if (!ep) return [];
    const horizon = f.t + this.opts.prefetchMs * this.speed;
    /** @type {string[]} */
    const out = [];
    for (const s of ep.segments) {
      if (s.to <= f.v && s.from <= f.v) continue;
      if (s.t0 > horizon) break;
      if (!this.loaded.has(s.name)) out.push(s.name);
    }
    // the next base (another epoch or a jump) when it is near
    const nb = this.bases.find((b) => b.t > f.t);
    if (nb && nb.name && nb.doc === null && nb.t <= horizon) out.push(nb.name);
    return out;
  }

  /** Editor actions taking what is shown to `f`: changes when it only moved forward. */
  #show(/** @type {Frame} */ f, /** @type {ReplayAction[]} */ out) {
    const s = this.shown;
    if (s && s.epoch === f.epoch && s.v === f.v && s.doc === f.doc) {
      if (f.sel && (!s.sel || s.sel[0] !== f.sel[0] || s.sel[1] !== f.sel[1])) out.push({ type: "apply", changes: [], sel: f.sel });
    } else if (s && s.epoch === f.epoch && f.v > s.v && this.#forward(s, f, out)) {
      // changes emitted
    } else {
      out.push({ type: "reset", doc: f.doc, sel: f.sel, lang: f.lang, title: f.title });
    }
    if (s && s.lang !== f.lang && f.lang !== null && out.every((a) => a.type !== "reset")) out.push({ type: "lang", lang: f.lang });
    if (s && s.title !== f.title && f.title !== null && out.every((a) => a.type !== "reset")) out.push({ type: "title", title: f.title });
    this.shown = f;
  }

  /** The changes from s.v to f.v, when every delta between is loaded and they apply. */
  #forward(/** @type {Frame} */ s, /** @type {Frame} */ f, /** @type {ReplayAction[]} */ out) {
    const ep = /** @type {Epoch} */ (this.epochs.get(f.epoch));
    /** @type {Change[]} */
    const changes = [];
    for (let v = s.v + 1; v <= f.v; v++) {
      const d = ep.deltas.get(v);
      if (!d) return false;
      for (const c of d.changes) changes.push(c);
    }
    if (changes.length > 4096) return false; // a reset is cheaper for the editor
    try {
      if (applyChanges(s.doc, changes) !== f.doc) return false;
    } catch (e) {
      if (e instanceof DeltaError) return false;
      throw e;
    }
    out.push(f.sel ? { type: "apply", changes, sel: f.sel } : { type: "apply", changes });
    return true;
  }
}

/**
 * Check the recording index's shape (protocol.md "GET .../recording"); throws a clear error.
 * @param {unknown} index
 * @returns {RecordingIndex}
 */
export function checkIndex(index) {
  if (!isObj(index)) throw new Error("recording index: not an object");
  const ix = /** @type {Record<string, any>} */ (index);
  const list = (/** @type {string} */ k) => {
    if (!Array.isArray(ix[k] ?? [])) throw new Error(`recording index: ${k} is not a list`);
    return /** @type {any[]} */ (ix[k] ?? []);
  };
  const keyframes = list("keyframes").filter((k) => isObj(k) && typeof k.name === "string" && typeof k.epoch === "string" && isNat(k.v) && isNat(k.t));
  const segments = list("segments").filter(
    (s) => isObj(s) && typeof s.name === "string" && typeof s.epoch === "string" && isNat(s.from) && Number.isInteger(s.to) && isNat(s.t0) && isNat(s.t1),
  );
  const gaps = list("gaps").filter((g) => isObj(g) && typeof g.epoch === "string" && isNat(g.from) && isNat(g.to));
  const markers = list("markers").filter((m) => isObj(m) && isNat(m.n) && typeof m.label === "string" && isNat(m.t));
  const head = isObj(ix.head) && isNat(ix.head.t) ? ix.head : { epoch: "", v: 0, t: 0 };
  return {
    streamId: String(ix.streamId ?? ""),
    title: str(ix.title),
    lang: str(ix.lang),
    ended: ix.ended === true,
    record: ix.record !== false,
    head,
    keyframes,
    segments,
    gaps,
    markers,
  };
}
