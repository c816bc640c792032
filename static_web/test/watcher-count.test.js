// @ts-check
// When the streamer asks for its watcher count: at connect, at most every watcherCountMs while
// watchers join, and every watcherCountIdleMs regardless; never while offline.
import { test } from "node:test";
import assert from "node:assert/strict";
import { STREAMER } from "../src/core/contract.js";
import { WatcherCountPacer } from "../src/core/watcher-count.js";

const MS = STREAMER.watcherCountMs;
const IDLE = STREAMER.watcherCountIdleMs;

test("joins are counted at most once per watcherCountMs; quiet streams every watcherCountIdleMs", () => {
  const p = new WatcherCountPacer();
  assert.equal(p.nextAt(), null, "offline: no count");
  p.connected(1000);
  assert.equal(p.nextAt(), 1000 + IDLE);
  for (let i = 0; i < 50; i++) p.syncRequest(); // a storm of joins
  assert.equal(p.nextAt(), 1000 + MS);
  assert.equal(p.due(1000 + MS - 1), false);
  assert.equal(p.due(1000 + MS), true);
  assert.equal(p.due(1000 + MS), false, "once");
  assert.equal(p.nextAt(), 1000 + MS + IDLE, "no joins since: the idle period");
  assert.equal(p.due(1000 + MS + IDLE), true);
  p.syncRequest();
  assert.equal(p.nextAt(), 1000 + 2 * MS + IDLE);
  p.paused();
  assert.equal(p.nextAt(), null);
  assert.equal(p.due(10 ** 9), false);
});

test("the periods come from the contract and can be others", () => {
  const p = new WatcherCountPacer({ countMs: 10, idleMs: 100 });
  p.connected(0);
  p.syncRequest();
  assert.equal(p.nextAt(), 10);
  assert.ok(MS < IDLE);
});
