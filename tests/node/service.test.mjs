// The REST data plane through Microsoft's npm service SDK (@azure/web-pubsub), with
// @azure/web-pubsub-client receivers: OData filters, bulk group operations, error codes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { WebPubSubServiceClient } from "../../harness/node/sdk.mjs";
import { connectionString, startClient, unique } from "../../harness/node/support.mjs";

const HUB = "chat";
// the emulator is plain http on loopback: the SDK's own switch for that
const service = new WebPubSubServiceClient(connectionString, HUB, { allowInsecureConnection: true });

async function two(t, group) {
  const vip = unique("vip");
  const a = await startClient(t, { hub: HUB, user: vip, groups: [group] });
  const b = await startClient(t, { hub: HUB, user: unique("plain"), groups: [group] });
  const ids = [
    (await a.log.waitFor("connected")).connectionId,
    (await b.log.waitFor("connected")).connectionId,
  ];
  return { vip, a, b, ids };
}

test("sendToGroup with a filter reaches only the matching members, as group messages", async (t) => {
  const group = unique("room");
  const { vip, a, b } = await two(t, group);
  await service.group(group).sendToAll({ n: 1 }, { filter: `userId eq '${vip}'` });
  await service.group(group).sendToAll({ n: 2 }, { filter: `userId ne '${vip}'` });
  await service.group(group).sendToAll({ n: 3 }); // barrier
  await a.log.waitFor("group-message", (m) => m.message.data.n === 3);
  await b.log.waitFor("group-message", (m) => m.message.data.n === 3);
  assert.deepEqual(a.log.data(), [{ n: 1 }, { n: 3 }]);
  assert.deepEqual(b.log.data(), [{ n: 2 }, { n: 3 }]);
  const got = a.log.of("group-message")[0].message;
  assert.equal(got.group, group);
  assert.equal(got.fromUserId ?? null, null, "a REST send has no sender");
});

test("sendToAll with a filter on groups", async (t) => {
  const group = unique("room");
  const { a, b } = await two(t, group);
  await service.sendToAll({ only: "room" }, { filter: `'${group}' in groups` });
  await a.log.waitFor("server-message");
  await b.log.waitFor("server-message");
  await service.sendToAll({ never: true }, { filter: `'${group}-other' in groups` });
  await service.sendToAll({ barrier: group }, { filter: `'${group}' in groups` });
  await a.log.waitForCount("server-message", 2);
  assert.deepEqual(a.log.data("server-message"), [{ only: "room" }, { barrier: group }]);
});

test("an invalid filter is a 400 and nothing is sent", async () => {
  await assert.rejects(
    service.sendToAll({ n: 1 }, { filter: "not length(userId) gt 5" }),
    (err) => err.statusCode === 400 && /Invalid syntax/.test(err.message),
  );
});

test("addConnectionsToGroups / removeConnectionsFromGroups select by filter", async (t) => {
  const group = unique("room");
  const team = unique("team");
  const { vip, ids } = await two(t, group);
  await service.addConnectionsToGroups([team], `userId eq '${vip}'`);
  assert.equal(await service.groupExists(team), true);
  await service.group(team).sendToAll({ team: true });
  await service.removeConnectionsFromGroups([team, group], `connectionId eq '${ids[0]}'`);
  assert.equal(await service.groupExists(team), false);
  assert.equal(await service.groupExists(group), true, "the other member stayed");
  await assert.rejects(
    service.addConnectionsToGroups([team], "userId gt 'x'"),
    (err) => err.statusCode === 400,
  );
});

test("adding a missing connection or an unconnected user: 404 with the service's codes", async () => {
  const group = unique("room");
  await assert.rejects(service.group(group).addConnection("no-such-connection"), (err) => {
    assert.equal(err.statusCode, 404);
    assert.equal(err.response.headers.get("x-ms-error-code"), "Error.Connection.NotExisted");
    return true;
  });
  await assert.rejects(service.group(group).addUser(unique("nobody")), (err) => err.statusCode === 404);
  assert.equal(await service.groupExists(group), false);
});
