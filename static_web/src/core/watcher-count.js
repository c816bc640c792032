// @ts-check
// When the streamer asks for its watcher count (protocol.md, "Server -> clients"), pure: right
// after it connects, then at most every `watcherCountMs` while watchers are joining (a
// sync-request arrived since the last count), and every `watcherCountIdleMs` regardless, so
// that leaves show too. The Function App counts only when asked: a join storm costs one count
// per period, not one per join.
import { STREAMER } from "./contract.js";

export class WatcherCountPacer {
  constructor({ countMs = STREAMER.watcherCountMs, idleMs = STREAMER.watcherCountIdleMs } = {}) {
    this.countMs = countMs;
    this.idleMs = idleMs;
    /** @type {number | null} when the last count was asked for; null while offline */
    this.lastAt = null;
    this.joined = false; // a sync-request arrived since then
  }

  /** Online (again): count now. */
  connected(/** @type {number} */ now) {
    this.lastAt = now;
    this.joined = false;
  }

  /** Offline: nothing to count until the next connection. */
  paused() {
    this.lastAt = null;
  }

  /** A watcher asked for the document. */
  syncRequest() {
    this.joined = true;
  }

  /** When the next count is due (null: none while offline). */
  nextAt() {
    if (this.lastAt === null) return null;
    return this.joined ? Math.min(this.lastAt + this.countMs, this.lastAt + this.idleMs) : this.lastAt + this.idleMs;
  }

  /** True when a count is due now (and then it counts as asked). */
  due(/** @type {number} */ now) {
    const at = this.nextAt();
    if (at === null || now < at) return false;
    this.lastAt = now;
    this.joined = false;
    return true;
  }
}
