// @ts-check
// Property tests (fast-check) of the streamer core against an adversarial network, with real
// watcher cores on the other side. A run interleaves at random: edits, the clock, every
// outcome of the delta in flight (acknowledged; delivered but its ack lost; lost; refused by
// the service), snapshot chunks delivered or failed, drops, recoveries, new connections
// (whose sends on the old one are lost), watchers joining, and messages delivered late. Then
// the network behaves until everything is delivered. Whatever happened:
//   - per epoch, the deltas the group received have contiguous versions 1, 2, 3... (a repeat
//     after a new connection is the very same message, which watchers drop);
//   - every snapshot plus the deltas after it, and the first epoch's deltas from the starting
//     document, rebuild the streamer's document exactly;
//   - every watcher ends synced at the streamer's epoch and version, showing its document.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { applyChanges } from "../src/core/delta.js";
import { StreamerState } from "../src/core/streamer-state.js";
import { WatcherState } from "../src/core/watcher-state.js";
import { LIMITS } from "../src/core/contract.js";
import { rawChanges, RUNS, text, validChanges } from "./arbitraries.js";

/** @import { StreamerAction } from "../src/core/streamer-state.js" */
/** @import { DeltaMessage } from "../src/core/deltas.js" */

const SID = "stream-under-test";

const step = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant("edit"), raw: rawChanges, sel: fc.nat() }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant("time"), ms: fc.integer({ min: 0, max: 120 }) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant("delta"),
      outcome: fc.constantFrom("ack", "ack", "ack", "ackLost", "lost", "refused"),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("chunk"), pick: fc.nat(), ok: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("watcher"), pick: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("streamerInbox"), n: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom("drop", "recover", "reconnect", "join") }) },
);

/**
 * One streamer core, a service with one group, watcher cores; the test plays the network.
 * @param {string} start
 * @param {number} chunkBytes  the contract's snapshot chunk budget, small so chunks happen
 */
function world(start, chunkBytes) {
  let epochs = 0;
  const s = new StreamerState({
    doc: start,
    sel: [0, 0],
    makeEpoch: () => `e${++epochs}`,
    limits: { ...LIMITS, snapshotChunkBytes: chunkBytes },
  });
  const w = {
    now: 0,
    s,
    online: false,
    conn: 0, // the streamer's connection number
    /** @type {{ ackId: number, msg: DeltaMessage, conn: number } | null} */
    delta: null,
    /** @type {Set<string>} ack ids the service has seen, per connection (its duplicate check) */
    seen: new Set(),
    /** @type {{ to: string, serial: number, data: any }[]} */
    chunks: [],
    /** @type {unknown[]} messages for the streamer, in order */
    inbox: [],
    /** @type {{ id: string, core: WatcherState, doc: string, inbox: unknown[] }[]} */
    watchers: [],
    /** @type {DeltaMessage[]} every delta the group received, in order */
    broadcast: [],
    /** @type {{ epoch: string, v: number, doc: string }[]} documents the stream was at */
    known: [{ epoch: "e1", v: 0, doc: start }],
  };

  /** @param {StreamerAction[]} actions */
  function perform(actions) {
    for (const a of actions) {
      if (a.type === "delta") {
        assert.equal(w.delta, null, "two deltas in flight");
        assert.equal(a.group, SID);
        w.delta = { ackId: a.ackId, msg: a.msg, conn: w.conn };
      } else if (a.type === "snapshot") {
        if (a.data.chunk[0] === 0) w.known.push({ epoch: a.data.epoch, v: a.data.v, doc: s.doc });
        assert.equal(a.data.ticket, `ticket-${a.to}`, "a snapshot echoes its watcher's ticket");
        w.chunks.push({ to: a.to, serial: a.serial, data: a.data });
      } else if (a.type === "catchup") {
        // catchups have their own property test (storage.property.test.js): here, delivered
        assert.equal(a.data.ticket, `ticket-${a.to}`, "a catchup echoes its watcher's ticket");
        const forwarded = /** @type {Record<string, unknown>} */ ({ ...a.data, type: "catchup" });
        delete forwarded.ticket;
        delete forwarded.to;
        w.watchers.find((x) => x.id === a.to)?.inbox.push(forwarded);
        perform(s.catchupSent(w.now, a.to, a.serial));
      }
    }
  }

  /** @param {{ id: string, core: WatcherState, doc: string }} watcher @param {any[]} actions */
  function watcherDoes(watcher, actions) {
    for (const a of actions) {
      if (a.type === "reset") watcher.doc = a.doc;
      else if (a.type === "apply") watcher.doc = applyChanges(watcher.doc, a.changes);
      else if (a.type === "sync" && w.online) {
        // the Function App asks the streamer; offline, the request goes nowhere
        w.inbox.push({ type: "sync-request", connectionId: watcher.id, have: a.data.have, ticket: `ticket-${watcher.id}` });
      }
    }
  }

  const toGroup = (/** @type {unknown} */ msg) => w.watchers.forEach((x) => x.inbox.push(msg));

  const api = {
    w,
    connect() {
      w.conn += 1;
      w.online = true;
      w.seen.clear();
      w.inbox = []; // what was addressed to the old connection is gone
      perform(s.connected(w.now, SID));
      toGroup({ type: "status", state: "live" });
    },
    /** @param {"ack" | "ackLost" | "lost" | "refused"} outcome */
    settleDelta(outcome) {
      const d = w.delta;
      if (!d) return;
      w.delta = null;
      if (outcome === "ack" || outcome === "ackLost") {
        const key = `${d.conn}:${d.ackId}`;
        if (!w.seen.has(key)) {
          w.seen.add(key);
          w.broadcast.push(d.msg);
          toGroup(d.msg);
        }
      }
      if (outcome === "ack") perform(s.deltaSent(w.now, d.ackId));
      else perform(s.deltaFailed(w.now, d.ackId, { refused: outcome === "refused" }));
    },
    settleChunk(/** @type {number} */ pick, /** @type {boolean} */ ok) {
      if (!w.chunks.length) return;
      const [c] = w.chunks.splice(pick % w.chunks.length, 1);
      if (ok) {
        const forwarded = { ...c.data }; // the Function App checks the ticket and drops it, and `to`
        delete forwarded.ticket;
        delete forwarded.to;
        w.watchers.find((x) => x.id === c.to)?.inbox.push({ type: "snapshot", ...forwarded });
        perform(s.snapshotSent(w.now, c.to, c.serial));
      } else {
        perform(s.snapshotFailed(w.now, c.to, c.serial, "lost"));
      }
    },
    deliverToWatcher(/** @type {number} */ pick, /** @type {number} */ n) {
      if (!w.watchers.length) return;
      const watcher = w.watchers[pick % w.watchers.length];
      for (const msg of watcher.inbox.splice(0, n)) watcherDoes(watcher, watcher.core.receive(w.now, msg));
    },
    deliverToStreamer(/** @type {number} */ n) {
      if (!w.online) return;
      for (const msg of w.inbox.splice(0, n)) perform(s.receive(w.now, msg));
    },
    /** The same connection comes back; what was addressed to it is replayed. */
    recover() {
      if (w.online) return;
      w.online = true;
      perform(s.recovered(w.now));
    },
    join() {
      const watcher = { id: `w${w.watchers.length + 1}`, core: new WatcherState(SID), doc: "", inbox: [] };
      w.watchers.push(watcher);
      watcherDoes(watcher, watcher.core.connected(w.now));
    },
    advance(/** @type {number} */ ms) {
      w.now += ms;
      const due = s.nextTick();
      if (due !== null && due <= w.now) perform(s.tick(w.now));
      for (const x of w.watchers) {
        const at = x.core.nextTick();
        if (at !== null && at <= w.now) watcherDoes(x, x.core.tick(w.now));
      }
    },
    /** The next moment anything has a timer, or null. */
    nextTimer() {
      const due = [s.nextTick(), ...w.watchers.map((x) => x.core.nextTick())].filter((t) => t !== null);
      return due.length ? Math.min(...due) : null;
    },
    edit(/** @type {[number, number, string][]} */ raw, /** @type {number} */ selRaw) {
      const changes = validChanges(s.doc, raw);
      const len = applyChanges(s.doc, changes).length;
      const at = selRaw % (len + 1);
      perform(s.edit(w.now, changes, [at, at]));
    },
  };
  return api;
}

/** Let the network behave until nothing is pending and every timer has run its course. */
function settle(/** @type {ReturnType<typeof world>} */ sim) {
  const { w } = sim;
  sim.recover();
  for (let round = 0; round < 2000; round++) {
    const busy = w.delta || w.chunks.length || w.inbox.length || w.watchers.some((x) => x.inbox.length);
    if (busy) {
      sim.settleDelta("ack");
      while (w.chunks.length) sim.settleChunk(0, true);
      sim.deliverToStreamer(Infinity);
      w.watchers.forEach((_, i) => sim.deliverToWatcher(i, Infinity));
      sim.advance(1);
      continue;
    }
    const allSynced = w.watchers.every((x) => x.core.phase === "synced" && x.core.epoch === w.s.epoch && x.core.v === w.s.v);
    const next = sim.nextTimer();
    // (the watcher count and the history have timers of their own, forever)
    if (allSynced && w.s.queued === 0 && !w.s.batcher.dirty) return;
    if (next === null) return;
    sim.advance(Math.max(1, next - w.now));
  }
  assert.fail("the network behaved and still nothing settled");
}

test("any interleaving of edits, acks, failures and reconnects: watchers rebuild the document", () => {
  fc.assert(
    fc.property(
      text(30),
      fc.integer({ min: 8, max: 64 }),
      fc.array(step, { maxLength: 80 }),
      (start, chunkBytes, steps) => {
        const sim = world(start, chunkBytes);
        const { w } = sim;
        sim.connect();
        sim.join();
        for (const st of steps) {
          switch (st.k) {
            case "edit":
              sim.edit(/** @type {any} */ (st).raw, /** @type {any} */ (st).sel);
              break;
            case "time":
              sim.advance(/** @type {any} */ (st).ms);
              break;
            case "delta":
              sim.settleDelta(/** @type {any} */ (st).outcome);
              break;
            case "chunk":
              sim.settleChunk(/** @type {any} */ (st).pick, /** @type {any} */ (st).ok);
              break;
            case "watcher":
              sim.deliverToWatcher(/** @type {any} */ (st).pick, /** @type {any} */ (st).n);
              break;
            case "streamerInbox":
              sim.deliverToStreamer(/** @type {any} */ (st).n);
              break;
            case "drop":
              if (w.online) {
                w.online = false;
                w.s.dropped(w.now);
              }
              break;
            case "recover":
              sim.recover();
              break;
            case "reconnect":
              w.s.dropped(w.now);
              w.watchers.forEach((x) => x.inbox.push({ type: "status", state: "offline" }));
              w.chunks = []; // the old connection's sends are gone
              sim.connect();
              break;
            case "join":
              if (w.watchers.length < 4) sim.join();
              break;
          }
        }
        settle(sim);

        // versions are contiguous per epoch; a repeat is the same message
        /** @type {Map<string, DeltaMessage[]>} */
        const byEpoch = new Map();
        for (const d of w.broadcast) {
          const list = byEpoch.get(d.epoch) ?? [];
          if (d.v <= list.length) assert.deepEqual(d, list[d.v - 1], "a repeated version differs");
          else {
            assert.equal(d.v, list.length + 1, `epoch ${d.epoch}: v${d.v} after v${list.length}`);
            list.push(d);
          }
          byEpoch.set(d.epoch, list);
        }
        // snapshots (and the start) plus the deltas after them rebuild the document
        const final = byEpoch.get(w.s.epoch) ?? [];
        assert.equal(final.length, w.s.v, "every version of the current epoch was delivered");
        for (const k of w.known.filter((x) => x.epoch === w.s.epoch)) {
          const rebuilt = final.slice(k.v).reduce((doc, d) => applyChanges(doc, d.changes), k.doc);
          assert.equal(rebuilt, w.s.doc, `from ${k.epoch}:${k.v}`);
        }
        for (const x of w.watchers) {
          assert.equal(x.core.phase, "synced", `${x.id} synced`);
          assert.equal(x.core.epoch, w.s.epoch);
          assert.equal(x.core.v, w.s.v);
          assert.equal(x.doc, w.s.doc, `${x.id} shows the document`);
        }
        assert.equal(w.s.queued, 0);
      },
    ),
    { numRuns: RUNS },
  );
});
