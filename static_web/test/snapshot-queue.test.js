// @ts-check
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyChanges } from "../src/core/delta.js";
import { SnapshotQueue } from "../src/core/snapshot-queue.js";
import { WatcherState } from "../src/core/watcher-state.js";

const at = (epoch, v) => ({ epoch, v });

test("the first request starts a snapshot; repeats of it while in flight are merged", () => {
  const q = new SnapshotQueue();
  assert.equal(q.request("c1", null, at("e", 5)), "start");
  const t = q.started("c1", at("e", 5));
  assert.equal(q.request("c1", null, at("e", 9)), "merged", "a retry of the same sync");
  assert.equal(q.request("c1", null, at("e", 12)), "merged");
  assert.equal(q.request("c2", null, at("e", 12)), "start", "other connections are independent");
  assert.equal(q.finished("c1", t), false, "no follow-up for mere repeats");
  assert.equal(q.request("c1", null, at("e", 12)), "start", "done: a later request starts anew");
});

test("a request with another `have` gets one follow-up, sealed after it, unless nothing changed", () => {
  const q = new SnapshotQueue();
  q.request("c1", null, at("e", 5));
  const t1 = q.started("c1", at("e", 5));
  assert.equal(q.request("c1", at("e", 3), at("e", 5)), "covered", "the one in flight is current");
  assert.equal(q.request("c1", at("e", 3), at("e", 7)), "merged");
  assert.equal(q.request("c1", at("e", 4), at("e", 8)), "merged", "one follow-up takes them all");
  assert.equal(q.finished("c1", t1), true, "send the follow-up now");
  const t2 = q.started("c1", at("e", 9));
  assert.equal(q.request("c1", at("e", 4), at("e", 9)), "merged", "a repeat of the follow-up's request");
  assert.equal(q.finished("c1", t2), false);
  assert.equal(q.size, 0);
});

test("a new epoch since the snapshot in flight was sealed is not covered by it", () => {
  const q = new SnapshotQueue();
  q.request("c1", null, at("old", 5));
  const t = q.started("c1", at("old", 5));
  assert.equal(q.request("c1", at("old", 2), at("new", 5)), "merged");
  assert.equal(q.finished("c1", t), true);
});

test("a failed send forgets the connection; a send that outlived clear() changes nothing", () => {
  const q = new SnapshotQueue();
  q.request("c1", null, at("e", 1));
  const t1 = q.started("c1", at("e", 1));
  q.request("c1", at("e", 0), at("e", 2)); // follow-up queued...
  q.failed("c1", t1); // ...and dropped with it: the watcher asks again
  assert.equal(q.size, 0);
  assert.equal(q.request("c1", null, at("e", 2)), "start");
  const t2 = q.started("c1", at("e", 2));
  q.clear(); // the streamer reconnected
  assert.equal(q.request("c1", null, at("e", 2)), "start");
  const t3 = q.started("c1", at("e", 2));
  assert.equal(q.finished("c1", t2), false, "stale ticket");
  q.failed("c1", t2);
  assert.equal(q.request("c1", null, at("e", 3)), "merged", "the new send is still pending");
  assert.equal(q.finished("c1", t3), false);
  assert.equal(q.size, 0);
});

test("malformed `have` values count as no `have`", () => {
  const q = new SnapshotQueue();
  q.request("c1", { epoch: 3, v: "x" }, at("e", 1));
  q.started("c1", at("e", 1));
  assert.equal(q.request("c1", null, at("e", 2)), "merged");
  assert.equal(q.request("c1", "junk", at("e", 2)), "merged");
});

/**
 * Streamer and watcher pages without the network: the streamer numbers edits, answers sync
 * requests through the queue, and each message is delivered when the test says so.
 */
class World {
  constructor() {
    this.q = new SnapshotQueue();
    this.doc = "";
    this.v = 0;
    this.w = new WatcherState("s");
    this.wdoc = null;
    this.toWatcher = []; // messages on their way to the watcher, in order
    this.sent = 0; // snapshots taken
    this.inflight = null; // {msg, ticket}
  }
  edit(text) {
    this.v++;
    const changes = [[this.doc.length, this.doc.length, text]];
    this.doc += text;
    this.toWatcher.push({ type: "delta", epoch: "e", v: this.v, changes });
  }
  run(actions) {
    for (const a of actions) {
      if (a.type === "reset") this.wdoc = a.doc;
      else if (a.type === "apply") this.wdoc = applyChanges(this.wdoc, a.changes);
      else if (a.type === "sync") this.syncRequest(a.data.have);
    }
  }
  syncRequest(have) {
    if (this.q.request("c", have, at("e", this.v)) === "start") this.take();
  }
  take() {
    this.sent++;
    const ticket = this.q.started("c", at("e", this.v));
    this.inflight = { msg: { type: "snapshot", epoch: "e", v: this.v, doc: this.doc, chunk: [0, 1] }, ticket };
  }
  /** The snapshot in flight arrives (after the deltas already on their way) and is acknowledged. */
  deliverSnapshot(now, { lost = false } = {}) {
    const { msg, ticket } = this.inflight;
    this.inflight = null;
    this.deliverAll(now);
    if (!lost) this.run(this.w.receive(now, msg));
    if (this.q.finished("c", ticket)) this.take();
  }
  deliverAll(now, { drop = new Set() } = {}) {
    for (const m of this.toWatcher.splice(0)) if (!drop.has(m.v)) this.run(this.w.receive(now, m));
  }
}

test("a watcher's timed-out retry shares the snapshot in flight and still converges", () => {
  const world = new World();
  world.edit("hello ");
  world.run(world.w.connected(0)); // sync #1: snapshot sealed at v=1
  world.edit("big ");
  world.edit("world");
  world.run(world.w.tick(world.w.nextTick())); // the streamer is slow: sync #2, merged
  world.edit("!");
  assert.equal(world.sent, 1);
  world.deliverSnapshot(5000);
  world.deliverAll(5001);
  assert.equal(world.wdoc, "hello big world!");
  assert.equal(world.w.phase, "synced");
  assert.equal(world.sent, 1, "one snapshot for one watcher");
});

test("a gap found while a snapshot is in flight gets a follow-up at a later version", () => {
  const world = new World();
  world.edit("a");
  world.run(world.w.connected(0));
  world.deliverSnapshot(10); // synced at v=1, nothing pending
  world.edit("b"); // v=2, lost on its way
  world.edit("c"); // v=3: the watcher sees the gap and asks with have v=1
  world.deliverAll(2000, { drop: new Set([2]) });
  assert.equal(world.sent, 2, "snapshot of v=3 in flight");
  world.edit("d"); // v=4
  world.edit("e"); // v=5, lost too
  world.edit("f"); // v=6
  world.deliverAll(2100, { drop: new Set([5]) });
  // the snapshot of v=3 arrives before its acknowledgement: the watcher applies it and v=4, finds
  // the gap at v=6 and asks with have v=4 while v=3 is still in flight: a follow-up is owed
  world.deliverSnapshot(3200);
  assert.equal(world.sent, 3, "follow-up taken at v=6");
  assert.deepEqual([world.inflight.msg.v, world.inflight.msg.doc], [6, "abcdef"]);
  world.deliverSnapshot(3400);
  assert.equal(world.wdoc, "abcdef");
  assert.equal(world.w.phase, "synced");
  assert.equal(world.inflight, null);
});
