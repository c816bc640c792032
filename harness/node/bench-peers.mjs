// @ts-check
// CodeStream's own client cores (static_web/src/core: StreamerState, WatcherState) played as
// a streamer and watchers over real WebSockets with Microsoft's @azure/web-pubsub-client, for
// the benchmarks (bench-ours.mjs). Each peer is a thin shell like the pages: it feeds its core
// events and performs its actions; the document is a plain string instead of an editor. The
// storage calls are the pages' own (static_web/src/net/streams.js): the streamer uploads its
// history, a watcher fetches the stored join state while it connects and syncs after it.
// Every WebSocket frame a peer sends or receives is metered (payload + frame header), through
// the SDK's socket factory seam, the one pubsub.js uses too; HTTP bodies are metered apart.
/** @import { StreamerAction } from "../../static_web/src/core/streamer-state.js" */
/** @import { Change } from "../../static_web/src/core/delta.js" */
import { WebPubSubClient, WebPubSubJsonReliableProtocol } from "./sdk.mjs";
import { StreamerState } from "../../static_web/src/core/streamer-state.js";
import { WatcherState } from "../../static_web/src/core/watcher-state.js";
import { applyChanges } from "../../static_web/src/core/delta.js";
import { STREAMER_PREFIX } from "../../static_web/src/core/contract.js";
import { loadJoinState, uploadHistory } from "../../static_web/src/net/streams.js";

export const now = () => performance.now();

/** Bytes of one WebSocket frame carrying `payload` bytes (RFC 6455 section 5.2). */
export function frameBytes(/** @type {number} */ payload, /** @type {boolean} */ masked) {
  const header = 2 + (payload >= 65536 ? 8 : payload >= 126 ? 2 : 0);
  return payload + header + (masked ? 4 : 0);
}

/** @param {unknown} data a frame's payload as the SDK hands it over */
function payloadBytes(data) {
  if (typeof data === "string") return Buffer.byteLength(data, "utf8");
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}

export class Meter {
  sent = 0;
  received = 0;
  sentFrames = 0;
  receivedFrames = 0;
  httpSent = 0; // bodies of history uploads
  httpReceived = 0; // join states as they came (compressed)
}

/**
 * The client the pages use (reliable JSON subprotocol, auto-reconnect, a fresh URL for every
 * connection, no group rejoin: the watcher's group comes with its token), metered.
 * @param {() => Promise<string>} getUrl
 * @param {Meter} meter
 */
export function meteredClient(getUrl, meter) {
  const client = new WebPubSubClient(
    { getClientAccessUrl: () => getUrl() },
    {
      protocol: WebPubSubJsonReliableProtocol(),
      autoReconnect: true,
      autoRejoinGroups: false,
      reconnectRetryOptions: { mode: "Exponential", retryDelayInMs: 500, maxRetryDelayInMs: 8000 },
      messageRetryOptions: { maxRetries: 2, retryDelayInMs: 500 },
    },
  );
  /** @type {any} the SDK's socket factory hook (private in its types; the SDK is pinned) */
  const hooked = client;
  const base = hooked._getWebSocketClientFactory();
  hooked._getWebSocketClientFactory = () => ({
    create(/** @type {string} */ uri, /** @type {string} */ protocol) {
      const socket = base.create(uri, protocol);
      const send = socket.send.bind(socket);
      const onmessage = socket.onmessage.bind(socket);
      socket.send = (/** @type {unknown} */ data, /** @type {unknown} */ signal) => {
        meter.sent += frameBytes(payloadBytes(data), true);
        meter.sentFrames += 1;
        return send(data, signal);
      };
      socket.onmessage = (/** @type {(data: unknown) => void} */ fn) =>
        onmessage((/** @type {unknown} */ data) => {
          meter.received += frameBytes(payloadBytes(data), false);
          meter.receivedFrames += 1;
          fn(data);
        });
      return socket;
    },
  });
  return client;
}

/**
 * POST {base}/api/negotiate, as the pages do.
 * @param {string} base  the dev host's origin
 * @param {Record<string, string>} body
 * @returns {Promise<{ url: string, streamId?: string, ownerKey?: string }>}
 */
export async function negotiate(base, body) {
  const res = await fetch(`${base}/api/negotiate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await res.json();
  if (!res.ok || typeof data?.url !== "string") throw new Error(`negotiate answered ${res.status}: ${JSON.stringify(data)}`);
  return data;
}

/** Calls `fn` at `at` (performance.now() ms), replacing any earlier call not yet made. */
class OneTimer {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  handle;

  set(/** @type {number | null} */ at, /** @type {() => void} */ fn) {
    clearTimeout(this.handle);
    this.handle = at === null ? undefined : setTimeout(fn, Math.max(0, at - now()));
  }

  clear() {
    clearTimeout(this.handle);
  }
}

/** The streamer page's shell around StreamerState. */
export class StreamerPeer {
  /**
   * @param {object} o
   * @param {() => Promise<{ url: string, streamId: string }>} o.connect  a client access URL
   * @param {string} o.doc
   * @param {string} [o.lang]
   * @param {string} [o.title]
   * @param {{ base: string, ownerKey: () => string | null }} [o.storage]  where history goes
   *   (the dev host); without it uploads are answered as refused and storing stops
   */
  constructor({ connect, doc, lang = "python", title = "", storage }) {
    this.core = new StreamerState({ doc, sel: [doc.length, doc.length], lang, title, wall: (t) => Math.round(performance.timeOrigin + t) });
    this.storage = storage;
    this.meter = new Meter();
    /** @type {string | null} */
    this.streamId = null;
    this.timer = new OneTimer();
    this.sentDeltas = 0; // acknowledged delta messages
    this.changeBytes = 0; // JSON of the `changes` of those, without any envelope
    /** @type {Map<number, number>} v -> when it was handed to the SDK (ms) */
    this.sentAt = new Map();
    this.snapshots = 0; // snapshots whose every chunk was acknowledged
    /** @type {number[]} ms from a snapshot's first chunk to its last chunk's acknowledgement */
    this.snapshotMs = [];
    /** @type {Map<number, number>} serial -> when its first chunk went out */
    this.snapshotStarted = new Map();
    this.catchups = 0; // catchup events the service took
    this.groupCatchups = 0; // group catchups the service took (one answers a whole join storm)
    this.catchupBytes = 0; // their data, as sent (JSON)
    this.uploads = 0; // history uploads answered 200
    /** @type {Record<string, number>} error codes the server sent back */
    this.errors = {};
    /** @type {number[]} */
    this.watcherCounts = [];
    this.client = meteredClient(async () => {
      const { url, streamId } = await connect();
      this.streamId = streamId;
      return url;
    }, this.meter);
    this.client.on("connected", () => this.feed((c) => c.connected(now(), /** @type {string} */ (this.streamId))));
    this.client.on("disconnected", () => this.feed((c) => c.dropped(now())));
    this.client.on("stopped", () => this.feed((c) => c.stopped(now())));
    this.client.on("server-message", (e) => this.feed((c) => c.receive(now(), e.message.data)));
  }

  get doc() {
    return this.core.doc;
  }

  async start() {
    await this.client.start();
  }

  /** @param {Change[]} changes @param {[number, number]} sel */
  edit(changes, sel) {
    this.feed((c) => c.edit(now(), changes, sel));
  }

  /** Everything typed so far was numbered, sent and acknowledged. */
  get idle() {
    return this.core.queued === 0 && !this.core.batcher.dirty;
  }

  /** Storage holds the latest final version (what a joining watcher reads is current). */
  get stored() {
    const h = this.core.history.stored;
    return Boolean(h && h.epoch === this.core.epoch && h.v === this.core.finalV);
  }

  /** @param {(core: StreamerState) => StreamerAction[]} event */
  feed(event) {
    this.perform(event(this.core));
  }

  /** @param {StreamerAction[]} actions */
  perform(actions) {
    for (const a of actions) {
      switch (a.type) {
        case "delta": {
          const { ackId, msg } = a;
          this.sentAt.set(msg.v, now());
          this.client.sendToGroup(a.group, msg, "json", { noEcho: true, ackId }).then(
            () => {
              this.sentDeltas += 1;
              this.changeBytes += Buffer.byteLength(JSON.stringify(msg.changes), "utf8");
              this.feed((c) => c.deltaSent(now(), ackId));
            },
            (e) => this.feed((c) => c.deltaFailed(now(), ackId, { refused: Boolean(e?.errorDetail), detail: e?.errorDetail ?? String(e) })),
          );
          break;
        }
        case "snapshot": {
          const { to, serial, data } = a;
          if (data.chunk[0] === 0) this.snapshotStarted.set(serial, now());
          this.client.sendEvent("snapshot", data, "json").then(
            () => {
              if (data.chunk[0] === data.chunk[1] - 1) {
                this.snapshots += 1;
                this.snapshotMs.push(now() - (this.snapshotStarted.get(serial) ?? now()));
                this.snapshotStarted.delete(serial);
              }
              this.feed((c) => c.snapshotSent(now(), to, serial));
            },
            (e) => this.feed((c) => c.snapshotFailed(now(), to, serial, String(e))),
          );
          break;
        }
        case "catchup": {
          const { to, serial, data } = a;
          this.client.sendEvent("catchup", data, "json").then(
            () => {
              this.catchups += 1;
              this.catchupBytes += Buffer.byteLength(JSON.stringify(data), "utf8");
              this.feed((c) => c.catchupSent(now(), to, serial));
            },
            (e) => this.feed((c) => c.catchupFailed(now(), to, serial, String(e))),
          );
          break;
        }
        case "group-catchup":
          this.client.sendToGroup(a.group, a.msg, "json", { noEcho: true }).then(
            () => {
              this.groupCatchups += 1;
              this.catchupBytes += Buffer.byteLength(JSON.stringify(a.msg), "utf8");
            },
            () => undefined,
          );
          break;
        case "count":
          this.client.sendEvent("watchers", a.data, "json").catch(() => undefined);
          break;
        case "upload": {
          const key = this.storage?.ownerKey() ?? null;
          const { serial, kind, body, keepalive } = a;
          this.meter.httpSent += Buffer.byteLength(JSON.stringify(body), "utf8");
          const done = this.storage && key ? uploadHistory({ streamId: a.streamId, ownerKey: key, kind, body, keepalive, base: this.storage.base }) : Promise.resolve({ status: 403 });
          done.then((result) => {
            if (result.status === 200) this.uploads += 1;
            if (!keepalive) this.feed((c) => c.uploaded(now(), serial, result));
          });
          break;
        }
        case "control":
          this.client.sendEvent("control", a.data, "json").catch(() => undefined);
          break;
        case "watchers":
          this.watcherCounts.push(a.count);
          break;
        case "warn": {
          const detail = /** @type {any} */ (a.detail);
          if (a.what === "server refused a message") this.errors[detail?.code ?? "?"] = (this.errors[detail?.code ?? "?"] ?? 0) + 1;
          break;
        }
        case "restart":
          this.client.start().catch(() => undefined);
          break;
        case "stop":
          this.client.stop();
          break;
      }
    }
    this.timer.set(this.core.nextTick(), () => this.feed((c) => c.tick(now())));
  }

  stop() {
    this.timer.clear();
    this.client.stop();
  }
}

/** The watcher page's shell around WatcherState; the document is a string. */
export class WatcherPeer {
  /**
   * @param {object} o
   * @param {string} o.streamId
   * @param {() => Promise<string>} o.getUrl  a client access URL (negotiate)
   * @param {number} [o.index]
   * @param {(w: WatcherPeer, at: number) => void} [o.onDoc]  after every change it shows
   * @param {string | null} [o.storageBase]  the dev host: join from storage as the page does
   */
  constructor({ streamId, getUrl, index = 0, onDoc = () => {}, storageBase = null }) {
    this.streamId = streamId;
    this.index = index;
    this.onDoc = onDoc;
    this.storageBase = storageBase;
    this.core = new WatcherState(streamId, { storage: storageBase !== null });
    /** @type {string | null} null until a document (stored or live) arrived */
    this.doc = null;
    /** @type {number | null} when it showed the stored document */
    this.storedAt = null;
    this.meter = new Meter();
    this.timer = new OneTimer();
    this.syncs = 0;
    this.connectStarted = 0;
    /** @type {number | null} when it first held the live document (a snapshot or catchup) */
    this.synced = null;
    this.client = meteredClient(getUrl, this.meter);
    const streamer = `${STREAMER_PREFIX}${streamId}`;
    this.client.on("connected", () => this.perform(this.core.connected(now())));
    this.client.on("server-message", (e) => this.perform(this.core.receive(now(), e.message.data)));
    this.client.on("group-message", (e) => {
      const m = e.message;
      if (m.group !== streamId) return;
      // only the stream's owner may write deltas (the service enforces it, as on the page)
      if (["delta", "catchup"].includes(/** @type {any} */ (m.data)?.type) && m.fromUserId !== streamer) return;
      this.perform(this.core.receive(now(), m.data));
    });
  }

  async start() {
    this.connectStarted = now();
    if (this.storageBase !== null) {
      // in parallel with connecting, as the page does
      const meter = this.meter;
      loadJoinState(this.streamId, { base: this.storageBase, onBytes: (n) => (meter.httpReceived += n) }).then((state) =>
        this.perform(this.core.stored(now(), state)),
      );
    }
    await this.client.start();
  }

  /** @param {any[]} actions what WatcherState asks for */
  perform(actions) {
    let changed = false;
    for (const a of actions) {
      if (a.type === "reset") {
        this.doc = a.doc;
        changed = true;
        if (this.core.fromStorage && this.storedAt === null) this.storedAt = now();
      } else if (a.type === "apply") {
        this.doc = applyChanges(this.doc ?? "", a.changes);
        changed = true;
      } else if (a.type === "sync") {
        this.syncs += 1;
        this.client.sendEvent("sync", a.data, "json").catch(() => undefined);
      } else if (a.type === "stream" && a.state === "ended") {
        this.client.stop();
      }
    }
    if (this.synced === null && this.core.phase === "synced") this.synced = now();
    if (changed) this.onDoc(this, now());
    this.timer.set(this.core.nextTick(), () => this.perform(this.core.tick(now())));
  }

  stop() {
    this.timer.clear();
    this.client.stop();
  }
}
