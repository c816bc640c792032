// @ts-check
// Prints, as JSON lines, the user events the shipped client cores emit in the usual
// situations (a watcher joining and finding a gap; a streamer answering with snapshot chunks,
// changing its title and language, ending the stream), for tests/integration/
// test_client_events_accepted.py, which checks that the Function App accepts every one.
import { StreamerState } from "../../static_web/src/core/streamer-state.js";
import { WatcherState } from "../../static_web/src/core/watcher-state.js";

const STREAM = "abcdefghijkl0001";
/** @param {string} sender @param {string} event @param {unknown} data */
const emit = (sender, event, data) => process.stdout.write(JSON.stringify({ sender, event, data }) + "\n");

const watcher = new WatcherState(STREAM);
for (const a of watcher.connected(0)) if (a.type === "sync") emit("watcher", "sync", a.data);
watcher.receive(10, { type: "snapshot", epoch: "e1", v: 3, doc: "abc", chunk: [0, 1] });
for (const a of watcher.receive(5000, { type: "delta", epoch: "e1", v: 5, changes: [] })) {
  if (a.type === "sync") emit("watcher", "sync", a.data);
}

// a document that needs two snapshot chunks, with every kind of character JSON escapes
const doc = "x".repeat(300_000) + '"quoted" \\ tab\t é € 😀 \u0001\n'.repeat(5_000);
const streamer = new StreamerState({ doc, sel: [0, 0], lang: "python", title: "Demo" });
const sendAll = (/** @type {import("../../static_web/src/core/streamer-state.js").StreamerAction[]} */ actions, /** @type {number} */ now) => {
  for (const a of actions) {
    if (a.type === "snapshot") {
      emit("streamer", "snapshot", a.data);
      sendAll(streamer.snapshotSent(now, a.to, a.ticket), now);
    } else if (a.type === "control") {
      emit("streamer", "control", a.data);
    } else if (a.type === "delta") {
      sendAll(streamer.deltaSent(now, a.ackId), now);
    }
  }
};
sendAll(streamer.connected(0, STREAM), 0);
sendAll(streamer.receive(1, { type: "sync-request", connectionId: "conn-1", have: null }), 1);
sendAll(streamer.setTitle(2, "t".repeat(500)), 2); // longer than the contract allows
sendAll(streamer.tick(5000), 5000);
sendAll(streamer.setLang(5001, "javascript"), 5001);
sendAll(streamer.end(5002), 5002);
