// Streamer page: the editor is the one source of truth; every edit becomes numbered deltas sent
// straight to the stream group, and sync requests are answered with chunked snapshots.
import { EditorSelection } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { createEditor, EditorView } from "./ui/editor.js";
import { LANGUAGES, DEFAULT_LANG, findLanguage } from "./ui/languages.js";
import { announcer, copyText, flash, statusBadge, themeToggle, initialTheme } from "./ui/chrome.js";
import { Batcher } from "./core/batcher.js";
import { changeSetToChanges } from "./core/delta.js";
import { batchToDeltas, newEpoch, queueBatch } from "./core/deltas.js";
import { chunkString } from "./core/split.js";
import { LIMITS } from "./core/contract.js";
import { SnapshotQueue } from "./core/snapshot-queue.js";
import { negotiate, NegotiateError } from "./net/negotiate.js";
import { createPubSub, startWithRetry } from "./net/pubsub.js";
import { clearOwner, loadDoc, loadOwner, saveDoc, saveOwner } from "./storage.js";
import { shareLink, streamIdFromLocation } from "./config.js";

// a share link pasted with the wrong page (`/#<id>`, `/?s=<id>`) still leads to the watcher
const linked = streamIdFromLocation();
if (linked) {
  location.replace(shareLink(linked));
  await new Promise(() => {}); // stop here: this page must not start a stream of its own
}

const $ = (id) => document.getElementById(id);
const setStatus = statusBadge($("status"));
const announce = announcer($("announce"));

const WELCOME = `# Welcome to CodeStream: type here, share the link, and watchers see every keystroke.\n\ndef hello(name: str) -> str:\n    return f"Hello, {name}!"\n`;
const saved = loadDoc();
let lang = saved?.lang && findLanguage(saved.lang).id === saved.lang ? saved.lang : DEFAULT_LANG;
let title = typeof saved?.title === "string" ? saved.title : "";

// ---- stream identity and outgoing deltas ----
let owner = loadOwner(); // {streamId, ownerKey} once negotiated
let epoch = newEpoch();
let v = 0;
const batcher = new Batcher();
const outbox = []; // delta messages not yet acknowledged, in version order
let sealed = 0; // the last version a snapshot was taken at: no more changes may join it
let ackCounter = 1_000_000_000; // our own ack ids, far from the SDK's (which start at 1)
let batchTimer = null;
let connected = false;
let sending = false;
let ended = false;
let client = null;
let moved = false; // another tab of this browser took the stream over

function enqueue(batch) {
  if (!batch) return;
  // only outbox[0] is ever in flight: a later entry was never sent and can take more changes
  const tail = outbox.length > 1 ? outbox[outbox.length - 1].msg : null;
  const queued = queueBatch(tail, epoch, v, batch, { sealed });
  if (queued.replace) outbox.pop();
  v = queued.v;
  for (const d of queued.deltas) outbox.push({ msg: d, ackId: ackCounter++ });
  pump();
}

function handleBatch({ flush, timerAt }) {
  enqueue(flush);
  if (timerAt !== null && batchTimer === null) {
    batchTimer = setTimeout(() => {
      batchTimer = null;
      handleBatch(batcher.onTimer(performance.now()));
    }, Math.max(0, timerAt - performance.now()));
  }
}

/** Send queued deltas one at a time, in order, each acknowledged (so none is lost or reordered). */
async function pump() {
  if (sending || !connected || !owner || ended) return;
  sending = true;
  let retryIn = 0;
  try {
    while (outbox.length && connected && !ended) {
      const { msg, ackId } = outbox[0];
      try {
        await client.sendToGroup(owner.streamId, msg, "json", { noEcho: true, ackId });
        outbox.shift();
      } catch (e) {
        if (e?.errorDetail) {
          // the service refused it (not a network problem): start a new epoch so that every
          // watcher resynchronizes from a snapshot instead of waiting for a lost version
          console.warn("delta refused", e.errorDetail);
          restartEpoch();
          retryIn = 2000;
        } else {
          retryIn = 1000; // not sent; "connected"/recovery also restarts the pump
        }
        break;
      }
    }
  } finally {
    sending = false;
  }
  if (retryIn) setTimeout(pump, retryIn);
}

function restartEpoch() {
  outbox.length = 0;
  epoch = newEpoch();
  v = 0;
  sealed = 0;
  const announce = batchToDeltas(epoch, v, { changes: [], sel: selectionOf(editor.view.state) });
  v += announce.length;
  for (const d of announce) outbox.push({ msg: d, ackId: ackCounter++ });
}

const selectionOf = (state) => [state.selection.main.anchor, state.selection.main.head];

// ---- persistence ----
let saveTimer = null;
function persistSoon() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(persistNow, 300);
}
function persistNow() {
  clearTimeout(saveTimer);
  if (moved) return; // another tab owns the stream and its stored document now
  saveDoc({ text: editor.view.state.doc.toString(), lang, title });
}
addEventListener("pagehide", persistNow);
// a closed tab stops the client: a 1001 "going away" close would keep the connection (and the
// stream "live" for watchers) for the service's recovery window
addEventListener("pagehide", (e) => {
  if (!e.persisted) client?.stop();
});

// ---- editor ----
const onEdit = EditorView.updateListener.of((u) => {
  if (!u.docChanged && !u.selectionSet) return;
  const changes = u.docChanged ? changeSetToChanges(u.changes) : [];
  handleBatch(batcher.push(performance.now(), changes, selectionOf(u.state)));
  if (u.docChanged) persistSoon();
});
const editor = createEditor({
  host: $("editor"),
  doc: saved ? saved.text : WELCOME,
  readOnly: false,
  label: "Code editor (your stream). Press Escape then Tab to leave the editor.",
  theme: initialTheme(),
  extensions: [history(), keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]), onEdit],
});
if (!saved) editor.view.dispatch({ selection: EditorSelection.cursor(editor.view.state.doc.length) });
editor.setLanguage(lang);
themeToggle($("theme"), (t) => editor.setTheme(t));

// ---- controls ----
const langSelect = $("lang");
for (const l of LANGUAGES) langSelect.append(new Option(l.label, l.id, false, l.id === lang));
langSelect.addEventListener("change", () => {
  lang = langSelect.value;
  editor.setLanguage(lang);
  persistNow();
  sendControl({ lang });
});
const titleInput = $("title");
titleInput.maxLength = LIMITS.titleChars; // the server refuses longer titles
titleInput.value = title;
let titleTimer = null;
titleInput.addEventListener("input", () => {
  title = titleInput.value.slice(0, LIMITS.titleChars);
  persistSoon();
  clearTimeout(titleTimer);
  titleTimer = setTimeout(() => sendControl({ title }), 400);
});

function sendControl(fields) {
  if (!connected || !owner || ended) return; // snapshots carry lang and title for later joiners
  client.sendEvent("control", { streamId: owner.streamId, ...fields }, "json").catch((e) => console.warn("control", e));
}

$("copy-link").addEventListener("click", async () => {
  const ok = await copyText($("share").value);
  flash($("copy-link"), ok ? "Copied!" : "Copy failed", announce);
});
$("share").addEventListener("focus", (e) => e.target.select());

$("end").addEventListener("click", async () => {
  if (ended || !confirmEnd()) return;
  ended = true;
  $("end").disabled = true;
  try {
    if (connected && owner) await client.sendEvent("control", { streamId: owner.streamId, ended: true }, "json");
  } catch (e) {
    console.warn("end", e);
  }
  client?.stop();
  clearOwner(); // the next visit starts a new stream; the document stays
  persistNow();
  setStatus("ended");
  $("watchers").textContent = "";
  $("new-stream").hidden = false;
  $("new-stream").focus();
});
$("new-stream").addEventListener("click", () => location.reload());

function confirmEnd() {
  return $("end").dataset.noconfirm === "1" || window.confirm("End this stream for every watcher?");
}

function showStream(streamId) {
  const link = shareLink(streamId);
  $("share").value = link;
  $("open-watch").href = link;
}
if (owner) showStream(owner.streamId);

// ---- server messages ----
const snapshots = new SnapshotQueue(); // at most one snapshot (and one follow-up) per watcher

function answerSync(req) {
  if (typeof req.connectionId !== "string" || !owner) return;
  if (snapshots.request(req.connectionId, req.have, { epoch, v }) === "start") sendSnapshot(req.connectionId);
}

async function sendSnapshot(to) {
  handleBatch({ flush: batcher.drain(performance.now()), timerAt: null }); // snapshot at a numbered version
  const doc = editor.view.state.doc.toString();
  const parts = chunkString(doc);
  const at = { epoch, v };
  sealed = v;
  const ticket = snapshots.started(to, at);
  for (let i = 0; i < parts.length; i++) {
    const data = { streamId: owner.streamId, to, epoch: at.epoch, v: at.v, doc: parts[i], lang, title, chunk: [i, parts.length] };
    try {
      await client.sendEvent("snapshot", data, "json");
    } catch (e) {
      console.warn("snapshot", e); // the watcher asks again
      snapshots.failed(to, ticket);
      return;
    }
  }
  if (snapshots.finished(to, ticket)) sendSnapshot(to);
}

function onServerMessage(data) {
  if (!data || typeof data !== "object") return;
  if (data.type === "watchers" && Number.isInteger(data.count)) {
    $("watchers").textContent = `${data.count} watching`;
  } else if (data.type === "sync-request") {
    answerSync(data);
  } else if (data.type === "error") {
    console.warn("server refused a message", data.code, data.message);
  }
}

// ---- connection ----
async function getUrl() {
  if (owner) {
    try {
      return (await negotiate({ streamId: owner.streamId, ownerKey: owner.ownerKey })).url;
    } catch (e) {
      if (!(e instanceof NegotiateError) || (e.status !== 403 && e.status !== 400)) throw e;
      clearOwner(); // the key no longer proves ownership: start a new stream, keep the text
      owner = null;
      announce("The previous stream could not be resumed; a new share link was created.");
    }
  }
  const res = await negotiate({});
  owner = { streamId: res.streamId, ownerKey: res.ownerKey };
  saveOwner(owner.streamId, owner.ownerKey);
  showStream(owner.streamId);
  return res.url;
}

client = createPubSub(getUrl, {
  onConnected: () => {
    connected = true;
    snapshots.clear(); // a new connection: sends in flight on the old one are lost
    setStatus("live");
    $("end").disabled = false;
    if (v === 0 && outbox.length === 0) enqueue({ changes: [], sel: selectionOf(editor.view.state) }); // announce this epoch
    pump();
  },
  onRecovered: () => {
    connected = true;
    setStatus("live");
    pump();
  },
  onDropped: () => {
    connected = false;
    if (!ended) setStatus("reconnecting");
  },
  onDisconnected: () => {
    connected = false;
    if (!ended) setStatus("reconnecting");
  },
  onStopped: () => {
    connected = false;
    if (!ended) {
      setStatus("reconnecting");
      startWithRetry(client, { isCancelled: () => ended });
    }
  },
  onServerMessage,
});
// One streamer tab per browser: the newest takes over, so two tabs never fight over the one
// streamer connection the service allows (each would replace the other's, forever).
const tabs = "BroadcastChannel" in window ? new BroadcastChannel("codestream-streamer") : null;
tabs?.postMessage({ type: "takeover" });
tabs?.addEventListener("message", (e) => {
  if (e.data?.type !== "takeover" || ended) return;
  persistNow();
  moved = true;
  ended = true;
  client?.stop();
  setStatus("moved");
  $("end").disabled = true;
  $("moved").hidden = false;
});
$("take-back").addEventListener("click", () => location.reload());

setStatus("connecting");
startWithRetry(client, { isCancelled: () => ended });

// test and debugging hook: read-only facts about the page, no secrets
window.codestream = {
  get doc() {
    return editor.view.state.doc.toString();
  },
  get state() {
    return { streamId: owner?.streamId ?? null, epoch, v, queued: outbox.length, connected };
  },
  view: editor.view,
};
