// @ts-check
// Prints, as JSON lines, what the shipped client cores send the Function App in the usual
// situations, for tests/integration/test_client_events_accepted.py, which checks that the
// server accepts every one:
// - user events: a watcher joining (with nothing, then from the stored head) and finding a
//   gap; a streamer answering with snapshot chunks and with a catchup (both echoing the
//   ticket), asking for its watcher count, changing its title and language, ending the stream;
// - history uploads, in the order the streamer made them (keyframes and segments), plus the
//   document they must rebuild: {"sender": "streamer", "upload": kind, "body": ...} and
//   {"document": ..., "head": {epoch, v}} last.
import { StreamerState } from "../../static_web/src/core/streamer-state.js";
import { WatcherState } from "../../static_web/src/core/watcher-state.js";

const STREAM = "abcdefghijkl0001";
const TICKET = "Zm9yLXRoZS1jbGllbnQtZXZlbnRzLW9ubHktbm90LXJlYWw";
/** @param {unknown} line */
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");
/** @param {string} sender @param {string} event @param {unknown} data */
const emit = (sender, event, data) => print({ sender, event, data });

const watcher = new WatcherState(STREAM);
for (const a of watcher.connected(0)) if (a.type === "sync") emit("watcher", "sync", a.data);
watcher.receive(10, { type: "snapshot", epoch: "e1", v: 3, doc: "abc", chunk: [0, 1] });
for (const a of watcher.receive(5000, { type: "delta", epoch: "e1", v: 5, changes: [] })) {
  if (a.type === "sync") emit("watcher", "sync", a.data);
}
// a watcher joining from storage asks after the stored head
const joiner = new WatcherState(STREAM, { storage: true });
joiner.connected(0);
const stored = { streamId: STREAM, title: null, lang: null, ended: false, head: { epoch: "e1", v: 1, t: 1 },
  keyframe: { epoch: "e1", v: 0, t: 1, doc: "abc" }, segments: [{ epoch: "e1", from: 1, to: 1, t0: 1, deltas: [[0, [[3, 3, "d"]], [4, 4]]], controls: [] }] };
for (const a of joiner.stored(5, stored)) if (a.type === "sync") emit("watcher", "sync", a.data);

// a document that needs two snapshot chunks, with every kind of character JSON escapes
const doc = "x".repeat(300_000) + '"quoted" \\ tab\t é € 😀 \u0001\n'.repeat(5_000);
const streamer = new StreamerState({ doc, sel: [0, 0], lang: "python", title: "Demo", wall: (t) => 1_700_000_000_000 + t });
/** @type {{ kind: string, body: unknown }[]} */
const uploads = [];
const sendAll = (/** @type {import("../../static_web/src/core/streamer-state.js").StreamerAction[]} */ actions, /** @type {number} */ now) => {
  for (const a of actions) {
    if (a.type === "snapshot") {
      emit("streamer", "snapshot", a.data);
      sendAll(streamer.snapshotSent(now, a.to, a.serial), now);
    } else if (a.type === "catchup") {
      emit("streamer", "catchup", a.data);
    } else if (a.type === "control") {
      emit("streamer", "control", a.data);
    } else if (a.type === "count") {
      emit("streamer", "watchers", a.data);
    } else if (a.type === "delta") {
      sendAll(streamer.deltaSent(now, a.ackId), now);
    } else if (a.type === "upload") {
      uploads.push({ kind: a.kind, body: a.body });
      // every upload is accepted, as the server would (the test replays them to check)
      sendAll(streamer.uploaded(now, a.serial, { status: 200 }), now);
    }
  }
};
sendAll(streamer.connected(0, STREAM), 0);
sendAll(streamer.receive(1, { type: "sync-request", connectionId: "conn-1", have: null, ticket: TICKET }), 1);
// typing, in batches; then a watcher that holds version 2 gets only what it misses
let t = 100;
for (const piece of ["def f():", "\n    return 1", " + 2", "\n", "é😀"]) {
  const at = streamer.doc.length;
  sendAll(streamer.edit(t, [[at, at, piece]], [at + piece.length, at + piece.length]), t);
  t += 50;
  sendAll(streamer.tick(t), t);
}
sendAll(streamer.receive(t, { type: "sync-request", connectionId: "conn-2", have: { epoch: streamer.epoch, v: 2 }, ticket: TICKET }), t);
sendAll(streamer.edit(t + 10, [[0, 300_000, ""]], [0, 0]), t + 10); // a big delete
sendAll(streamer.setTitle(2000, "t".repeat(500)), 2000); // longer than the contract allows
sendAll(streamer.tick(5000), 5000);
sendAll(streamer.setLang(5001, "javascript"), 5001);
sendAll(streamer.tick(9000), 9000); // the segment is cut: it goes up
sendAll(streamer.end(9002), 9002);
sendAll(streamer.tick(20_000), 20_000);
for (const u of uploads) print({ sender: "streamer", upload: u.kind, body: u.body });
print({ document: streamer.doc, head: { epoch: streamer.epoch, v: streamer.finalV } });
