// @azure/web-pubsub-express's WebPubSubEventHandler in a real express server as the upstream of
// the emulator's hubs "events" and "guarded" (the pytest wrapper configured the emulator to call
// http://127.0.0.1:$WPS_UPSTREAM_PORT/api/webpubsub/hubs/<hub>), driven by
// @azure/web-pubsub-client connections. The SDK does not check ce-signature; this file does.
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, test } from "node:test";
import { WebPubSubClient } from "../../harness/node/sdk.mjs";
import { WebPubSubEventHandler } from "../../harness/node/sdk.mjs";
import { express } from "../../harness/node/sdk.mjs";
import {
  EventLog,
  KEEPALIVE,
  clientUrl,
  endpoint,
  signatureIsValid,
  startClient,
  stopClient,
  unique,
  withTimeout,
} from "../../harness/node/support.mjs";

const HUB = "events";
const ROOM = "lobby";
const REJECTED_USER = "mallory";
const PUBLISHER_USER = "publisher";
const emulatorHost = new URL(endpoint).host;

/** What the upstream saw: raw requests, and what the SDK handed to each handler. */
const requests = [];
const handled = new EventLog();
let watcherCount = 0;

/** A copy: the SDK's setState() mutates the request's `context.states` in place. */
function record(name, req) {
  handled.push(name, structuredClone(req));
}

const eventHandler = new WebPubSubEventHandler(HUB, {
  allowedEndpoints: [endpoint],
  handleConnect(req, res) {
    record("connect", req);
    const { userId } = req.context;
    if (userId === REJECTED_USER) {
      res.fail(401, "not on the list");
    } else if (userId === PUBLISHER_USER) {
      res.success({ roles: [`webpubsub.sendToGroup.${ROOM}`] });
    } else {
      watcherCount += 1;
      res.setState("counter", 0);
      res.setState("via", "connect");
      res.success({ userId: `watcher-${watcherCount}`, groups: [ROOM] });
    }
  },
  handleUserEvent(req, res) {
    record("user", req);
    if (req.context.eventName === "count" && req.dataType === "json") {
      const counter = req.context.states.counter + req.data.by;
      res.setState("counter", counter);
      res.success(JSON.stringify({ counter }), "json");
    } else if (req.context.eventName === "shout" && req.dataType === "text") {
      res.success(req.data.toUpperCase(), "text");
    } else {
      res.success();
    }
  },
  onConnected(req) {
    record("connected", req);
  },
  onDisconnected(req) {
    record("disconnected", req);
  },
});

// Hub "guarded" has an upstream that allows only another service's origin.
const GUARDED_HUB = "guarded";
const guardedHandler = new WebPubSubEventHandler(GUARDED_HUB, {
  allowedEndpoints: ["https://someone-else.webpubsub.azure.com"],
  handleConnect(req, res) {
    record("guarded-connect", req);
    res.success();
  },
});

let server;

before(async () => {
  const app = express();
  // Checks what the SDK does not: every event is signed with the emulator's access key.
  app.use((req, res, next) => {
    const record = { method: req.method, path: req.path, headers: req.headers };
    requests.push(record);
    if (req.method === "POST") {
      record.signed = signatureIsValid(req.headers["ce-connectionid"], req.headers["ce-signature"]);
      if (!record.signed) {
        res.status(401).send("bad ce-signature");
        return;
      }
    }
    next();
  });
  app.use(eventHandler.getMiddleware());
  app.use(guardedHandler.getMiddleware());
  // Anything the SDK declined (missing CloudEvents headers, wrong hub...) ends here.
  app.use((req, res) => {
    requests.at(-1).declined = true;
    res.status(404).send("not a Web PubSub event");
  });
  server = app.listen(Number(process.env.WPS_UPSTREAM_PORT), "127.0.0.1");
  await once(server, "listening");
});

after(() => {
  server?.closeAllConnections();
  server?.close();
});

const CE_TYPE = /^azure\.webpubsub\.(sys\.(connect|connected|disconnected)|user\.\w+)$/;
const posts = () => requests.filter((r) => r.method === "POST" && r.path.includes(`/${HUB}`));

test("abuse protection: the emulator validates the upstream before its first event", async (t) => {
  const { log } = await startClient(t, { hub: HUB });
  await log.waitFor("connected");
  const first = requests[0];
  assert.equal(first.method, "OPTIONS", JSON.stringify(requests.map((r) => r.method)));
  assert.ok(first.headers["webhook-request-origin"], "WebHook-Request-Origin is required");
  assert.equal(first.declined, undefined, "the SDK must answer the validation request");
});

test("abuse protection: an upstream that allows another origin gets no event", async () => {
  const client = new WebPubSubClient(await clientUrl({ hub: GUARDED_HUB }), KEEPALIVE);
  await assert.rejects(withTimeout(client.start(), 10_000, "start on the guarded hub"));
  client.stop();
  const guarded = requests.filter((r) => r.path.includes(`/${GUARDED_HUB}`));
  assert.deepEqual(
    guarded.map((r) => r.method),
    ["OPTIONS"],
    "only the validation request may reach an upstream that did not allow the emulator",
  );
  assert.equal(guarded[0].declined, undefined, "the SDK answered the validation request");
  assert.deepEqual(handled.of("guarded-connect"), []);
});

test("handleConnect sets userId, groups and state; state comes back on connected", async (t) => {
  const { log } = await startClient(t, { hub: HUB });
  const { connectionId, userId } = await log.waitFor("connected");
  assert.match(userId, /^watcher-\d+$/, "the userId the handler returned");

  const connect = await handled.waitFor("connect", (r) => r.context.connectionId === connectionId);
  assert.equal(connect.context.hub, HUB);
  assert.equal(connect.context.eventName, "connect");
  assert.equal(connect.context.userId, undefined, "the token had no user");
  assert.deepEqual(connect.subprotocols, ["json.reliable.webpubsub.azure.v1"]);

  const connected = await handled.waitFor(
    "connected",
    (r) => r.context.connectionId === connectionId,
  );
  assert.equal(connected.context.userId, userId);
  assert.deepEqual(connected.context.states, { counter: 0, via: "connect" });

  // the handler's groups: a publisher's message to ROOM reaches this client, no joinGroup sent
  const publisher = await startClient(t, { hub: HUB, user: PUBLISHER_USER });
  const text = unique("hello");
  const ack = await publisher.client.sendToGroup(ROOM, { text }, "json");
  assert.equal(ack.isDuplicated, false);
  const got = await log.waitFor("group-message", (m) => m.message.data.text === text);
  assert.equal(got.message.group, ROOM);
  assert.equal(got.message.fromUserId, PUBLISHER_USER);
});

test("handleUserEvent's reply reaches the client, its state the next event", async (t) => {
  const { client, log } = await startClient(t, { hub: HUB });
  const { connectionId } = await log.waitFor("connected");

  const ack = await client.sendEvent("count", { by: 2 }, "json");
  assert.equal(ack.isDuplicated, false);
  const first = await log.waitFor("server-message");
  assert.equal(first.message.dataType, "json");
  assert.deepEqual(first.message.data, { counter: 2 });

  await client.sendEvent("count", { by: 3 }, "json");
  await log.waitForCount("server-message", 2);
  assert.deepEqual(log.data("server-message"), [{ counter: 2 }, { counter: 5 }]);

  await client.sendEvent("shout", "quiet please", "text");
  const shout = await log.waitForCount("server-message", 3);
  assert.equal(shout[2].message.dataType, "text");
  assert.equal(shout[2].message.data, "QUIET PLEASE");

  const seen = handled.of("user").filter((r) => r.context.connectionId === connectionId);
  assert.deepEqual(
    seen.map((r) => [r.context.eventName, r.dataType, r.data]),
    [
      ["count", "json", { by: 2 }],
      ["count", "json", { by: 3 }],
      ["shout", "text", "quiet please"],
    ],
  );
  assert.deepEqual(seen[1].context.states, { counter: 2, via: "connect" });
  assert.deepEqual(seen[2].context.states, { counter: 5, via: "connect" });
});

test("handleConnect can reject: no connection, and no other event follows", async (t) => {
  const url = await clientUrl({ hub: HUB, user: REJECTED_USER });
  const client = new WebPubSubClient(url, KEEPALIVE);
  // the upstream's 401 is the answer to the client's WebSocket handshake
  await assert.rejects(withTimeout(client.start(), 10_000, "rejected start"), /\b401\b/);
  client.stop();
  const connect = await handled.waitFor("connect", (r) => r.context.userId === REJECTED_USER);

  // a later client's whole life is a barrier: its disconnected event comes after anything
  // the emulator would (wrongly) have sent about the rejected connection
  const next = await startClient(t, { hub: HUB });
  const { connectionId } = await next.log.waitFor("connected");
  await stopClient(next.client, next.log);
  await handled.waitFor("disconnected", (r) => r.context.connectionId === connectionId);
  const rejectedId = connect.context.connectionId;
  const later = handled.entries.filter(
    (e) => e.name !== "connect" && e.args.context.connectionId === rejectedId,
  );
  assert.deepEqual(later, []);
});

test("onDisconnected fires when a client stops, with its last state", async (t) => {
  const { client, log } = await startClient(t, { hub: HUB });
  const { connectionId, userId } = await log.waitFor("connected");
  await client.sendEvent("count", { by: 7 }, "json");
  await log.waitFor("server-message");

  client.stop();
  const gone = await handled.waitFor(
    "disconnected",
    (r) => r.context.connectionId === connectionId,
  );
  assert.equal(gone.context.userId, userId);
  assert.deepEqual(gone.context.states, { counter: 7, via: "connect" });
});

test("every event carried the CloudEvents headers and a valid signature", () => {
  assert.ok(posts().length >= 10, `only ${posts().length} events`);
  for (const { headers, signed, declined } of posts()) {
    assert.equal(signed, true);
    assert.equal(declined, undefined, `the SDK declined ${headers["ce-type"]}`);
    assert.equal(headers["ce-specversion"], "1.0");
    assert.equal(headers["ce-hub"], HUB);
    assert.equal(headers["webhook-request-origin"], emulatorHost);
    assert.match(headers["ce-type"], CE_TYPE);
    assert.ok(headers["ce-id"] && headers["ce-time"] && headers["ce-source"]);
  }
});
