// The Web PubSub client as both pages use it: reliable JSON subprotocol, auto-reconnect, and
// a fresh negotiate for every new connection, since client access URLs are short-lived.
import { WebPubSubClient, WebPubSubJsonReliableProtocol } from "@azure/web-pubsub-client";

/**
 * The SDK recovers a dropped reliable connection silently (no event until recovery fails, up to
 * 30 s later), so a page could not show "reconnecting" in time. This subclass observes the
 * socket the SDK opens; it relies on the SDK's socket factory hook, hence the exact pin of
 * @azure/web-pubsub-client in package.json.
 */
class ObservedClient extends WebPubSubClient {
  constructor(credential, options, onSocket) {
    super(credential, options);
    this.onSocket = onSocket;
  }

  _getWebSocketClientFactory() {
    const base = super._getWebSocketClientFactory();
    const notify = this.onSocket;
    return {
      create(uri, protocolName) {
        const socket = base.create(uri, protocolName);
        const recovery = uri.includes("awps_reconnection_token");
        const onopen = socket.onopen.bind(socket);
        const onclose = socket.onclose.bind(socket);
        socket.onopen = (fn) => onopen((...a) => (fn(...a), notify("open", recovery)));
        socket.onclose = (fn) => onclose((...a) => (notify("close", recovery), fn(...a)));
        return socket;
      },
    };
  }
}

/**
 * @param {() => Promise<string>} getUrl  negotiate and return the client access URL
 * @param {object} handlers  onConnected, onRecovered, onDropped, onDisconnected, onStopped,
 *                           onServerMessage(data), onGroupMessage(data, message)
 */
export function createPubSub(getUrl, handlers) {
  const onSocket = (what, recovery) => {
    if (what === "close") handlers.onDropped?.();
    else if (recovery) handlers.onRecovered?.(); // same connection, missed messages replayed
  };
  const client = new ObservedClient(
    { getClientAccessUrl: () => getUrl() },
    {
      protocol: WebPubSubJsonReliableProtocol(),
      autoReconnect: true,
      autoRejoinGroups: false, // the watcher's group comes with its token
      reconnectRetryOptions: { mode: "Exponential", retryDelayInMs: 500, maxRetryDelayInMs: 8000 },
      messageRetryOptions: { maxRetries: 2, retryDelayInMs: 500 },
    },
    onSocket,
  );
  client.on("connected", (e) => handlers.onConnected?.(e));
  client.on("disconnected", (e) => handlers.onDisconnected?.(e));
  client.on("stopped", () => handlers.onStopped?.());
  client.on("server-message", (e) => handlers.onServerMessage?.(e.message.data));
  client.on("group-message", (e) => handlers.onGroupMessage?.(e.message.data, e.message));
  return client;
}

/** Start, retrying with backoff until it works (the first negotiate may fail too). */
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
