// @ts-check
// Leading-edge batching as a small state machine driven by injected time (no timers inside):
// the first change after a quiet period goes out at once; changes within the next window are
// held and sent together when it closes; a window with nothing in it ends the burst.

/** @import { Change } from "./delta.js" */
/** @import { Batch, Selection } from "./deltas.js" */
import { STREAMER } from "./contract.js";

export const BATCH_WINDOW_MS = STREAMER.batchWindowMs;

export class Batcher {
  constructor(windowMs = BATCH_WINDOW_MS) {
    this.windowMs = windowMs;
    /** @type {Change[]} sequential protocol changes, concatenation composes them */
    this.pending = [];
    /** @type {Selection | null} */
    this.sel = null;
    this.dirty = false; // true when something (changes or selection) waits to be sent
    /** @type {number | null} end of the current window, null when quiet */
    this.windowEnd = null;
  }

  /**
   * Record an edit (changes may be empty for a selection-only move).
   * Returns {flush: batch | null, timerAt: number | null}: send `flush` now, and call
   * onTimer(at) no later than `timerAt`.
   * @param {number} now
   * @param {Change[]} changes
   * @param {Selection | null} sel
   * @returns {{ flush: Batch | null, timerAt: number | null }}
   */
  push(now, changes, sel) {
    for (const c of changes) this.pending.push(c);
    if (sel) this.sel = sel;
    this.dirty = true;
    if (this.windowEnd === null || now >= this.windowEnd) {
      return { flush: this.#take(now), timerAt: this.windowEnd };
    }
    return { flush: null, timerAt: this.windowEnd };
  }

  /**
   * The window's timer fired: send what accumulated, or fall quiet.
   * @param {number} now
   * @returns {{ flush: Batch | null, timerAt: number | null }}
   */
  onTimer(now) {
    if (this.windowEnd !== null && now < this.windowEnd) return { flush: null, timerAt: this.windowEnd };
    if (!this.dirty) {
      this.windowEnd = null;
      return { flush: null, timerAt: null };
    }
    return { flush: this.#take(now), timerAt: this.windowEnd };
  }

  /** Send everything now (before a snapshot, on unload); the window keeps running. */
  drain(/** @type {number} */ now) {
    if (!this.dirty) return null;
    return this.#take(now);
  }

  /** @returns {Batch} */
  #take(/** @type {number} */ now) {
    const batch = { changes: this.pending, sel: this.sel };
    this.pending = [];
    this.dirty = false;
    this.windowEnd = now + this.windowMs;
    return batch;
  }
}
