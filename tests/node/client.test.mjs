// @azure/web-pubsub-client against the emulator: json.reliable.webpubsub.azure.v1 (the SDK's
// default), and json.webpubsub.azure.v1 in the last test; tokens and REST calls come from
// Microsoft's Python service SDK. Hub "chat" has no event handler.
import assert from "node:assert/strict";
import { test } from "node:test";
import { WebPubSubClient, WebPubSubJsonProtocol } from "../../harness/node/sdk.mjs";
import {
  ConnectionGate,
  KEEPALIVE,
  clientUrl,
  recordEvents,
  serviceSdk,
  startClient,
  stopClient,
  unique,
  withTimeout,
} from "../../harness/node/support.mjs";

const HUB = "chat";
const NO_RETRY = { messageRetryOptions: { maxRetries: 0 } };

/** Two members of a fresh group: alice may publish, bob may only join. */
async function pair(t, bobOptions = {}) {
  const group = unique("room");
  const alice = await startClient(t, {
    hub: HUB,
    user: unique("alice"),
    roles: ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"],
  });
  const bob = await startClient(
    t,
    { hub: HUB, user: unique("bob"), roles: [`webpubsub.joinLeaveGroup.${group}`] },
    bobOptions,
  );
  for (const member of [alice, bob]) {
    const joined = await member.client.joinGroup(group);
    assert.equal(typeof joined.ackId, "number");
    assert.equal(joined.isDuplicated, false);
  }
  return { group, alice, bob };
}

test("connected event carries the connection id and the token's user id", async (t) => {
  const user = unique("carol");
  const { log } = await startClient(t, { hub: HUB, user });
  const connected = await log.waitFor("connected");
  assert.equal(connected.userId, user);
  assert.match(connected.connectionId, /^\S{8,}$/);
  assert.equal(log.of("connected").length, 1);
});

test("sendToGroup is acked, reaches the other member and honours noEcho", async (t) => {
  const { group, alice, bob } = await pair(t);

  const first = await alice.client.sendToGroup(group, { n: 1 }, "json", { noEcho: true });
  assert.equal(first.isDuplicated, false);
  assert.equal(typeof first.ackId, "number");
  const got = await bob.log.waitFor("group-message");
  assert.equal(got.message.group, group);
  assert.equal(got.message.fromUserId, alice.log.of("connected")[0].userId);
  assert.equal(got.message.dataType, "json");
  assert.deepEqual(got.message.data, { n: 1 });
  assert.equal(typeof got.message.sequenceId, "number", "reliable protocol numbers messages");

  await alice.client.sendToGroup(group, "plain text", "text");
  await alice.log.waitFor("group-message");
  await bob.log.waitForCount("group-message", 2);
  // messages arrive in order, so had {n: 1} been echoed it would be before this one
  assert.deepEqual(alice.log.data(), ["plain text"]);
  assert.deepEqual(bob.log.data(), [{ n: 1 }, "plain text"]);
  assert.equal(bob.log.of("group-message")[1].message.dataType, "text");
});

test("a send the token does not permit is refused as Forbidden and reaches nobody", async (t) => {
  const { group, alice, bob } = await pair(t, NO_RETRY);

  await assert.rejects(bob.client.sendToGroup(group, { evil: true }, "json"), (err) => {
    assert.equal(err.name, "SendMessageError");
    assert.equal(err.errorDetail?.name, "Forbidden");
    return true;
  });
  // bob may join only his own group
  await assert.rejects(bob.client.joinGroup(unique("elsewhere")), (err) => {
    assert.equal(err.errorDetail?.name, "Forbidden");
    return true;
  });

  await alice.client.sendToGroup(group, { n: "after" }, "json");
  await bob.log.waitFor("group-message");
  await alice.log.waitFor("group-message");
  assert.deepEqual(alice.log.data(), [{ n: "after" }]);
  assert.deepEqual(bob.log.data(), [{ n: "after" }]);
});

test("a resent ackId is acked as Duplicate and delivered only once", async (t) => {
  const { group, alice, bob } = await pair(t);

  const sent = await alice.client.sendToGroup(group, { n: 1 }, "json", { ackId: 4242 });
  assert.deepEqual(sent, { ackId: 4242, isDuplicated: false });
  const again = await alice.client.sendToGroup(group, { n: 1 }, "json", { ackId: 4242 });
  assert.deepEqual(again, { ackId: 4242, isDuplicated: true });
  await alice.client.sendToGroup(group, { n: 2 }, "json");

  await bob.log.waitFor("group-message", (m) => m.message.data.n === 2);
  assert.deepEqual(bob.log.data(), [{ n: 1 }, { n: 2 }]);
});

test("REST sends: to a user as server-message, to a group as group-message", async (t) => {
  const { group, bob } = await pair(t);
  const bobUser = bob.log.of("connected")[0].userId;

  await serviceSdk("send-to-user", { hub: HUB, user: bobUser, data: { hi: "bob" } });
  const direct = await bob.log.waitFor("server-message");
  assert.equal(direct.message.dataType, "json");
  assert.deepEqual(direct.message.data, { hi: "bob" });

  // a REST send to a group comes "from": "group" with no sender, as in Azure
  await serviceSdk("send-to-group", { hub: HUB, group, data: { to: "all" } });
  const grouped = await bob.log.waitFor("group-message", (m) => m.message.data.to === "all");
  assert.equal(grouped.message.group, group);
  assert.equal(grouped.message.fromUserId ?? null, null);
  assert.deepEqual(bob.log.data("server-message"), [{ hi: "bob" }]);
});

test("a dropped socket recovers the same connection and loses no message", async (t) => {
  const group = unique("room");
  const alice = await startClient(t, {
    hub: HUB,
    user: unique("alice"),
    roles: ["webpubsub.sendToGroup"],
  });
  const bobUser = unique("bob");
  const bobUrl = await clientUrl({ hub: HUB, user: bobUser, groups: [group] });
  const bob = new WebPubSubClient(bobUrl, KEEPALIVE);
  const gate = new ConnectionGate(bob);
  const log = recordEvents(bob);
  t.after(() => stopClient(bob, log));
  await withTimeout(bob.start(), 10_000, "start bob");
  const { connectionId } = await log.waitFor("connected");

  await alice.client.sendToGroup(group, { n: 0 }, "json");
  await log.waitFor("group-message");

  gate.hold();
  const reconnecting = gate.nextAttempt();
  gate.dropConnection();
  const attempt = await reconnecting;
  // the SDK reconnects to the original URL plus its session, not through negotiate
  assert.equal(attempt.uri.searchParams.get("awps_connection_id"), connectionId);
  assert.ok(attempt.uri.searchParams.get("awps_reconnection_token"));

  // published (and acked by the service) while bob has no socket at all
  for (let n = 1; n <= 5; n += 1) {
    const ack = await alice.client.sendToGroup(group, { n }, "json");
    assert.equal(ack.isDuplicated, false);
  }
  gate.release();

  await log.waitForCount("group-message", 6, 10_000);
  await alice.client.sendToGroup(group, { n: 6 }, "json");
  await log.waitForCount("group-message", 7);
  assert.deepEqual(
    log.data().map((d) => d.n),
    [0, 1, 2, 3, 4, 5, 6],
  );
  assert.equal(log.of("disconnected").length, 0, "recovery must not look like a new connection");
  assert.equal(log.of("connected").length, 1);
  assert.equal(gate.attempts.length, 2, "one recovery attempt was enough");
});

test("plain json subprotocol: a drop means a new connection that rejoins its group", async (t) => {
  const group = unique("room");
  const alice = await startClient(t, {
    hub: HUB,
    user: unique("alice"),
    roles: ["webpubsub.sendToGroup"],
  });
  const spec = { hub: HUB, user: unique("dave"), roles: [`webpubsub.joinLeaveGroup.${group}`] };
  const dave = new WebPubSubClient(
    { getClientAccessUrl: () => clientUrl(spec) },
    { ...KEEPALIVE, protocol: WebPubSubJsonProtocol() },
  );
  const gate = new ConnectionGate(dave);
  const log = recordEvents(dave);
  t.after(() => stopClient(dave, log));
  await withTimeout(dave.start(), 10_000, "start dave");
  await dave.joinGroup(group);
  const first = (await log.waitFor("connected")).connectionId;

  await alice.client.sendToGroup(group, { n: 1 }, "json");
  const got = await log.waitFor("group-message");
  assert.equal(got.message.sequenceId, undefined, "no sequence ids without the reliable protocol");

  gate.dropConnection();
  await log.waitFor("disconnected");
  // the SDK emits connected once it has rejoined the group on the new connection
  const second = await log.waitFor("connected", (c) => c.connectionId !== first, 10_000);
  assert.equal(second.userId, spec.user);
  await alice.client.sendToGroup(group, { n: 2 }, "json");
  await log.waitForCount("group-message", 2);
  assert.deepEqual(log.data(), [{ n: 1 }, { n: 2 }]);
});
