// @ts-check
// Streamer page: the editor is where the document is written; the pure StreamerState turns its
// edits into numbered deltas and answers sync requests with chunked snapshots. This file only
// feeds it events (edits, the clock, connection changes, how each send ended, server messages)
// and performs its actions (sends, status), plus the page's own chores (storage, controls).
/** @import { StreamerAction, StreamerStatus } from "./core/streamer-state.js" */
/** @import { EditorState } from "@codemirror/state" */
import { EditorSelection } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { createEditor, EditorView } from "./ui/editor.js";
import { LANGUAGES, DEFAULT_LANG, findLanguage } from "./ui/languages.js";
import { announcer, copyText, flash, statusBadge, themeToggle, initialTheme } from "./ui/chrome.js";
import { changeSetToChanges } from "./core/delta.js";
import { LIMITS } from "./core/contract.js";
import { StreamerState } from "./core/streamer-state.js";
import { negotiate, NegotiateError } from "./net/negotiate.js";
import { createPubSub, startWithRetry } from "./net/pubsub.js";
import { clearOwner, loadDoc, loadOwner, saveDoc, saveOwner } from "./storage.js";
import { shareLink, streamIdFromLocation } from "./config.js";
import { byId } from "./ui/dom.js";

// a share link pasted with the wrong page (`/#<id>`, `/?s=<id>`) still leads to the watcher
const linked = streamIdFromLocation();
if (linked) {
  location.replace(shareLink(linked));
  await new Promise(() => {}); // stop here: this page must not start a stream of its own
}

const setStatus = statusBadge(byId("status"));
const announce = announcer(byId("announce"));
const endButton = byId("end", HTMLButtonElement);
const watchersLabel = byId("watchers");

const WELCOME = `# Welcome to CodeStream: type here, share the link, and watchers see every keystroke.\n\ndef hello(name: str) -> str:\n    return f"Hello, {name}!"\n`;
const saved = loadDoc();
let lang = saved?.lang && findLanguage(saved.lang).id === saved.lang ? saved.lang : DEFAULT_LANG;
let title = typeof saved?.title === "string" ? saved.title : "";

// ---- the protocol core ----
/** @type {{ streamId: string, ownerKey: string } | null} */
let owner = loadOwner(); // once negotiated
/** @type {StreamerState | null} made once the editor holds the document (the core mirrors it) */
let core = null;
/** @type {ReturnType<typeof createPubSub> | null} */
let client = null;
let moved = false; // another tab of this browser took the stream over
const now = () => performance.now();
const isEnded = () => core?.ended ?? false;

/** The `control` events handed to the client so far: "stop" waits for them (`ended` last). */
/** @type {Promise<unknown>} */
let controls = Promise.resolve();

/** @param {StreamerAction[]} actions */
function perform(actions) {
  for (const a of actions) {
    switch (a.type) {
      case "delta":
        sendDelta(a.group, a.ackId, a.msg);
        break;
      case "snapshot":
        sendSnapshotChunk(a.to, a.ticket, a.data);
        break;
      case "control": {
        const sent = client?.sendEvent("control", a.data, "json").catch((e) => console.warn("control", e));
        controls = controls.then(() => sent);
        break;
      }
      case "status":
        showStatus(a.state);
        break;
      case "watchers":
        watchersLabel.textContent = `${a.count} watching`;
        break;
      case "warn":
        console.warn(a.what, a.detail);
        break;
      case "epoch":
        console.info("a new epoch begins:", a.reason); // every watcher resyncs from a snapshot
        break;
      case "restart":
        if (client) startWithRetry(client, { isCancelled: isEnded });
        break;
      case "stop":
        controls.then(() => client?.stop());
        break;
    }
  }
  scheduleTick();
}

/** @param {(core: StreamerState) => StreamerAction[]} event */
function feed(event) {
  if (core) perform(event(core));
}

/**
 * @param {string} group
 * @param {number} ackId
 * @param {import("./core/deltas.js").DeltaMessage} msg
 */
function sendDelta(group, ackId, msg) {
  client?.sendToGroup(group, msg, "json", { noEcho: true, ackId }).then(
    () => feed((c) => c.deltaSent(now(), ackId)),
    // an errorDetail means the service refused it (not a network problem)
    (e) => feed((c) => c.deltaFailed(now(), ackId, { refused: Boolean(e?.errorDetail), detail: e?.errorDetail ?? e })),
  );
}

/**
 * @param {string} to
 * @param {number} ticket
 * @param {import("./core/streamer-state.js").SnapshotData} data
 */
function sendSnapshotChunk(to, ticket, data) {
  client?.sendEvent("snapshot", data, "json").then(
    () => feed((c) => c.snapshotSent(now(), to, ticket)),
    (e) => feed((c) => c.snapshotFailed(now(), to, ticket, e)), // the watcher asks again
  );
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let tickTimer;
function scheduleTick() {
  clearTimeout(tickTimer);
  const at = core?.nextTick() ?? null;
  if (at !== null) tickTimer = setTimeout(() => feed((c) => c.tick(now())), Math.max(0, at - now()));
}

/** @param {StreamerStatus} state */
function showStatus(state) {
  setStatus(state);
  if (state === "live") endButton.disabled = false;
  if (state === "ended" || state === "moved") endButton.disabled = true;
}

/** @returns {[number, number]} */
const selectionOf = (/** @type {EditorState} */ state) => [state.selection.main.anchor, state.selection.main.head];

// ---- persistence ----
/** @type {ReturnType<typeof setTimeout> | undefined} */
let saveTimer;
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
  feed((c) => c.edit(now(), changes, selectionOf(u.state)));
  if (u.docChanged) persistSoon();
});
const editor = createEditor({
  host: byId("editor"),
  doc: saved ? saved.text : WELCOME,
  readOnly: false,
  label: "Code editor (your stream). Press Escape then Tab to leave the editor.",
  theme: initialTheme(),
  extensions: [history(), keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]), onEdit],
});
if (!saved) editor.view.dispatch({ selection: EditorSelection.cursor(editor.view.state.doc.length) });
editor.setLanguage(lang);
themeToggle(byId("theme", HTMLButtonElement), (t) => editor.setTheme(t));
core = new StreamerState({ doc: editor.view.state.doc.toString(), sel: selectionOf(editor.view.state), lang, title });

// ---- controls ----
const langSelect = byId("lang", HTMLSelectElement);
for (const l of LANGUAGES) langSelect.append(new Option(l.label, l.id, false, l.id === lang));
langSelect.addEventListener("change", () => {
  lang = langSelect.value;
  editor.setLanguage(lang);
  persistNow();
  feed((c) => c.setLang(now(), lang));
});
const titleInput = byId("title", HTMLInputElement);
titleInput.maxLength = LIMITS.titleChars; // the server refuses longer titles
titleInput.value = title;
titleInput.addEventListener("input", () => {
  title = titleInput.value.slice(0, LIMITS.titleChars);
  persistSoon();
  feed((c) => c.setTitle(now(), title));
});

const shareInput = byId("share", HTMLInputElement);
byId("copy-link").addEventListener("click", async () => {
  const ok = await copyText(shareInput.value);
  flash(byId("copy-link"), ok ? "Copied!" : "Copy failed", announce);
});
shareInput.addEventListener("focus", () => shareInput.select());

endButton.addEventListener("click", () => {
  if (isEnded() || !confirmEnd()) return;
  feed((c) => c.end(now()));
  clearOwner(); // the next visit starts a new stream; the document stays
  persistNow();
  watchersLabel.textContent = "";
  const again = byId("new-stream");
  again.hidden = false;
  again.focus();
});
byId("new-stream").addEventListener("click", () => location.reload());

function confirmEnd() {
  return endButton.dataset.noconfirm === "1" || window.confirm("End this stream for every watcher?");
}

/** @param {string} streamId */
function showStream(streamId) {
  const link = shareLink(streamId);
  shareInput.value = link;
  byId("open-watch", HTMLAnchorElement).href = link;
}
if (owner) showStream(owner.streamId);

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
    const streamId = owner?.streamId;
    if (streamId) feed((c) => c.connected(now(), streamId));
  },
  onRecovered: () => feed((c) => c.recovered(now())),
  onDropped: () => feed((c) => c.dropped(now())),
  onDisconnected: () => feed((c) => c.dropped(now())),
  onStopped: () => feed((c) => c.stopped(now())),
  onServerMessage: (data) => feed((c) => c.receive(now(), data)),
});
// One streamer tab per browser: the newest takes over, so two tabs never fight over the one
// streamer connection the service allows (each would replace the other's, forever).
const tabs = "BroadcastChannel" in window ? new BroadcastChannel("codestream-streamer") : null;
tabs?.postMessage({ type: "takeover" });
tabs?.addEventListener("message", (e) => {
  if (e.data?.type !== "takeover" || isEnded()) return;
  persistNow();
  moved = true;
  feed((c) => c.moved(now()));
  byId("moved").hidden = false;
});
byId("take-back").addEventListener("click", () => location.reload());

setStatus("connecting");
startWithRetry(client, { isCancelled: isEnded });

// test and debugging hook: read-only facts about the page, no secrets
window.codestream = {
  get doc() {
    return editor.view.state.doc.toString();
  },
  get state() {
    return { streamId: owner?.streamId ?? null, epoch: core?.epoch, v: core?.v, queued: core?.queued, connected: core?.online ?? false };
  },
  view: editor.view,
};
