// @ts-check
// The Web PubSub client as both pages use it: reliable JSON subprotocol, auto-reconnect, and
// a fresh negotiate for every new connection, since client access URLs are short-lived.
import { WebPubSubClient, WebPubSubJsonReliableProtocol } from "@azure/web-pubsub-client";

/**
 * @typedef {object} Handlers
 * @property {() => void} [onConnected]
 * @property {() => void} [onRecovered]  the same connection came back, missed messages replayed
 * @property {() => void} [onDropped]  its socket closed (it may still recover)
 * @property {(reason: string | undefined) => void} [onDisconnected]  with the service's reason, if it gave one
 * @property {() => void} [onStopped]
 * @property {(data: unknown) => void} [onServerMessage]
 * @property {(data: unknown, message: import("@azure/web-pubsub-client").GroupDataMessage) => void} [onGroupMessage]
 */

/**
 * The SDK recovers a dropped reliable connection silently (no event until recovery fails, up to
 * 30 s later), so a page could not show "reconnecting" in time. This observes the socket the
 * SDK opens; it relies on the SDK's socket factory hook (private in its types), hence the
 * exact pin of @azure/web-pubsub-client in package.json.
 * @param {WebPubSubClient} client
 * @param {(what: "open" | "close", recovery: boolean) => void} notify
 */
function observeSockets(client, notify) {
  /** @type {any} */
  const hooked = client;
  const base = hooked._getWebSocketClientFactory.bind(client);
  hooked._getWebSocketClientFactory = () => {
    const factory = base();
    return {
      create(/** @type {string} */ uri, /** @type {string} */ protocolName) {
        const socket = factory.create(uri, protocolName);
        const recovery = uri.includes("awps_reconnection_token");
        const onopen = socket.onopen.bind(socket);
        const onclose = socket.onclose.bind(socket);
        socket.onopen = (/** @type {Function} */ fn) => onopen((/** @type {unknown[]} */ ...a) => (fn(...a), notify("open", recovery)));
        socket.onclose = (/** @type {Function} */ fn) => onclose((/** @type {unknown[]} */ ...a) => (notify("close", recovery), fn(...a)));
        return socket;
      },
    };
  };
}

/**
 * @param {() => Promise<string>} getUrl  negotiate and return the client access URL
 * @param {Handlers} handlers
 */
export function createPubSub(getUrl, handlers) {
  const client = new WebPubSubClient(
    { getClientAccessUrl: () => getUrl() },
    {
      protocol: WebPubSubJsonReliableProtocol(),
      autoReconnect: true,
      autoRejoinGroups: false, // the watcher's group comes with its token
      reconnectRetryOptions: { mode: "Exponential", retryDelayInMs: 500, maxRetryDelayInMs: 8000 },
      messageRetryOptions: { maxRetries: 2, retryDelayInMs: 500 },
    },
  );
  observeSockets(client, (what, recovery) => {
    if (what === "close") handlers.onDropped?.();
    else if (recovery) handlers.onRecovered?.(); // same connection, missed messages replayed
  });
  client.on("connected", () => handlers.onConnected?.());
  client.on("disconnected", (e) => handlers.onDisconnected?.(e.message?.message));
  client.on("stopped", () => handlers.onStopped?.());
  client.on("server-message", (e) => handlers.onServerMessage?.(e.message.data));
  client.on("group-message", (e) => handlers.onGroupMessage?.(e.message.data, e.message));
  return client;
}

/** Start, retrying with backoff until it works (the first negotiate may fail too). */
/**
 * @param {WebPubSubClient} client
 * @param {{ isCancelled?: () => boolean, onRetry?: (e: unknown) => void }} [options]
 */
export async function startWithRetry(client, { isCancelled = () => false, onRetry } = {}) {
  let delay = 500;
  for (;;) {
    try {
      await client.start();
      return true;
    } catch (e) {
      if (isCancelled()) return false;
      onRetry?.(e);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 8000);
    }
  }
}
