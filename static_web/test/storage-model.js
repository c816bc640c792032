// @ts-check
// A model of the stream storage endpoints' decisions (docs/protocol.md, "Upload endpoints"),
// for the property tests: the streamer core's uploads go to it and watchers read its join
// state. It keeps only what the decisions need (the head, the epochs used, what was accepted);
// the real server (codestream/manifest.py) is checked against the same rules by its own tests
// and by tests/integration/test_client_events_accepted.py. Not a test file itself.
import { checkChanges, DeltaError } from "../src/core/delta.js";

/** @typedef {{ status: number, code?: string, head?: { epoch: string, v: number } }} Answer */

export class ModelStorage {
  /** @param {{ tailMaxSegments: number }} storage */
  constructor(storage) {
    this.tailMaxSegments = storage.tailMaxSegments;
    /** @type {{ epoch: string, v: number, length: number } | null} */
    this.head = null;
    /** @type {Set<string>} */
    this.epochs = new Set();
    /** @type {Set<string>} kind + body: what was accepted (the server's blob names) */
    this.stored = new Set();
    /** @type {any} the latest keyframe body */
    this.keyframe = null;
    /** @type {any[]} segment bodies accepted after it */
    this.tail = [];
    /** @type {unknown[]} every join state there was, oldest first (a cache may serve an old one) */
    this.states = [];
    this.accepted = 0;
  }

  /** @returns {Answer} */
  #ok() {
    const h = /** @type {{ epoch: string, v: number }} */ (this.head);
    return { status: 200, head: { epoch: h.epoch, v: h.v } };
  }

  /** @returns {Answer} */
  #refuse(/** @type {number} */ status, /** @type {string} */ code) {
    const h = this.head;
    return h && code === "out_of_order" ? { status, code, head: { epoch: h.epoch, v: h.v } } : { status, code };
  }

  /**
   * @param {"keyframes" | "segments"} kind
   * @param {any} body  as the client sends it
   * @returns {Answer}
   */
  upload(kind, body) {
    body = JSON.parse(JSON.stringify(body)); // what reaches the server is the JSON
    const key = kind + JSON.stringify(body);
    if (kind === "keyframes") {
      if (this.head && this.stored.has(key)) return this.#ok();
      const h = this.head;
      if (h && body.epoch !== h.epoch && this.epochs.has(body.epoch)) return this.#refuse(409, "out_of_order");
      if (h && body.epoch === h.epoch && body.v < h.v) return this.#refuse(409, "out_of_order");
      if (h && body.epoch === h.epoch && body.v === h.v && body.doc.length !== h.length) return this.#refuse(400, "bad_delta");
      this.head = { epoch: body.epoch, v: body.v, length: body.doc.length };
      this.epochs.add(body.epoch);
      this.keyframe = body;
      this.tail = [];
    } else {
      const h = this.head;
      if (!h) return this.#refuse(404, "no_stream");
      if (this.stored.has(key)) return this.#ok();
      if (body.epoch !== h.epoch || body.from !== h.v + 1) return this.#refuse(409, "out_of_order");
      if (this.tail.length + 1 > this.tailMaxSegments) return this.#refuse(409, "out_of_order");
      let length = h.length;
      try {
        for (const [, changes] of body.deltas) length = checkChanges(length, changes);
      } catch (e) {
        if (e instanceof DeltaError) return this.#refuse(400, "bad_delta");
        throw e;
      }
      this.head = { epoch: h.epoch, v: body.to, length };
      this.tail.push(body);
    }
    this.stored.add(key);
    this.accepted += 1;
    this.states.push(this.joinState());
    return this.#ok();
  }

  /** GET /api/streams/{id}: null while nothing is stored (404). */
  joinState() {
    const h = this.head;
    if (!h) return null;
    return JSON.parse(
      JSON.stringify({
        streamId: "s",
        title: null,
        lang: null,
        ended: false,
        head: { epoch: h.epoch, v: h.v, t: 0 },
        keyframe: this.keyframe,
        segments: this.tail,
      }),
    );
  }
}
