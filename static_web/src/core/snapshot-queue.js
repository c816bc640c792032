// @ts-check
// The streamer's answer policy for `sync-request`s, pure: at most one snapshot in flight per
// watcher connection, plus at most one follow-up. A watcher that hears nothing repeats its
// `sync`; answering every repeat with a fresh snapshot is what floods a busy stream.
//
// Why a repeat can share the snapshot in flight: a watcher repeats a sync with the same `have`
// only while it is still waiting, and a waiting watcher buffers every delta it receives. The
// snapshot in flight was sealed after its first request arrived, i.e. after the watcher had
// joined the group, so every later delta reaches that buffer and the snapshot plus the buffer
// is the current document. A request with another `have` means the watcher applied something
// and then found a gap; it needs a snapshot sealed after that request, unless nothing was
// numbered since the one in flight was sealed (then the one in flight is already current).

/** "epoch:v", or "" for no (or a malformed) `have`: repeats of one request compare equal. */
function haveKey(/** @type {unknown} */ have) {
  const h = /** @type {{ epoch?: unknown, v?: unknown } | null} */ (have);
  if (h && typeof h === "object" && typeof h.epoch === "string" && Number.isInteger(h.v)) {
    return `${h.epoch}:${h.v}`;
  }
  return "";
}

/** @typedef {{ epoch: string, v: number }} Version */

export class SnapshotQueue {
  constructor() {
    /** @type {Map<string, { have: string, at: Version | null, again: boolean, serial: number }>} */
    this.pending = new Map();
    this.serials = 0;
  }

  /**
   * A `sync-request` from `connectionId` asking after `have`, while the streamer is at
   * `current` ({epoch, v}). Returns "start" (take and send a snapshot now, then call started()),
   * "merged" (the snapshot in flight or the queued follow-up answers it) or "covered" (the
   * snapshot in flight is already at `current`).
   * @param {string} connectionId
   * @param {unknown} have  as the request carried it
   * @param {Version} current
   * @returns {"start" | "merged" | "covered"}
   */
  request(connectionId, have, current) {
    const key = haveKey(have);
    const p = this.pending.get(connectionId);
    if (!p) {
      this.pending.set(connectionId, { have: key, at: null, again: false, serial: 0 });
      return "start";
    }
    if (p.again) {
      p.have = key; // the follow-up is sealed when it starts: later than this request too
      return "merged";
    }
    if (p.at === null || key === p.have) return "merged";
    if (p.at.epoch === current.epoch && p.at.v === current.v) return "covered";
    p.again = true;
    p.have = key;
    return "merged";
  }

  /**
   * The snapshot for `connectionId` was sealed at `at` ({epoch, v}) and is being sent. Returns
   * the serial to hand to finished()/failed(), so a send that outlived clear() changes nothing.
   * @param {string} connectionId
   * @param {Version} at
   */
  started(connectionId, at) {
    const p = this.pending.get(connectionId);
    if (!p) return 0;
    p.at = { epoch: at.epoch, v: at.v };
    p.serial = ++this.serials;
    return p.serial;
  }

  #current(/** @type {string} */ connectionId, /** @type {number} */ serial) {
    const p = this.pending.get(connectionId);
    return p && p.serial === serial && serial !== 0 ? p : null;
  }

  /** Every chunk went out. True: send the follow-up now (take a new snapshot, call started()). */
  finished(/** @type {string} */ connectionId, /** @type {number} */ serial) {
    const p = this.#current(connectionId, serial);
    if (!p) return false;
    if (!p.again) {
      this.pending.delete(connectionId);
      return false;
    }
    p.again = false;
    p.at = null;
    return true;
  }

  /** Sending failed (watcher gone, refused, streamer offline): forget it; the watcher asks again. */
  failed(/** @type {string} */ connectionId, /** @type {number} */ serial) {
    if (this.#current(connectionId, serial)) this.pending.delete(connectionId);
  }

  /** The streamer's connection was replaced: whatever was in flight is lost. */
  clear() {
    this.pending.clear();
  }

  get size() {
    return this.pending.size;
  }
}
