// @ts-check
// Streamer page: the editor is where the document is written; the pure StreamerState turns its
// edits into numbered deltas, answers sync requests with catchups or chunked snapshots and
// decides what history to store. This file only feeds it events (edits, the clock, connection
// changes, how each send and upload ended, server messages, the page going) and performs its
// actions (sends, uploads, status), plus the page's own chores (localStorage, controls, resume).
/** @import { StreamerAction, StreamerStatus } from "./core/streamer-state.js" */
/** @import { EditorState } from "@codemirror/state" */
import { EditorSelection } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { createEditor, EditorView } from "./ui/editor.js";
import { LANGUAGES, DEFAULT_LANG, findLanguage } from "./ui/languages.js";
import { announcer, copyText, flash, statusBadge, themeToggle, initialTheme } from "./ui/chrome.js";
import { changeSetToChanges } from "./core/delta.js";
import { LIMITS, STREAMER_REPLACED_REASON } from "./core/contract.js";
import { replayJoinState } from "./core/join.js";
import { formatResumeCode, parseResumeCode } from "./core/resume-code.js";
import { StreamerState } from "./core/streamer-state.js";
import { negotiate, NegotiateError } from "./net/negotiate.js";
import { createPubSub, startWithRetry } from "./net/pubsub.js";
import { checkLabel, embedCode, recordChange, storedRecord } from "./core/markers.js";
import { deleteRecording, loadJoinState, recordingDownloadUrl, uploadHistory } from "./net/streams.js";
import { clearOwner, loadDoc, loadOwner, loadRecord, saveDoc, saveOwner, saveRecord } from "./storage.js";
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
let moved = false; // another tab or device took the stream over
let replacing = false; // this page is reloading to resume another stream: keep what it saved
const now = () => performance.now();
const wall = (/** @type {number} */ t) => Math.round(performance.timeOrigin + t);
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
        sendSnapshotChunk(a.to, a.serial, a.data);
        break;
      case "catchup":
        client?.sendEvent("catchup", a.data, "json").then(
          () => feed((c) => c.catchupSent(now(), a.to, a.serial)),
          (e) => feed((c) => c.catchupFailed(now(), a.to, a.serial, e)),
        );
        break;
      case "group-catchup": // a watcher it misses asks again
        client?.sendToGroup(a.group, a.msg, "json", { noEcho: true }).catch((e) => console.warn("group catchup", e));
        break;
      case "count":
        client?.sendEvent("watchers", a.data, "json").catch((e) => console.warn("watchers", e));
        break;
      case "upload":
        upload(a);
        break;
      case "control": {
        const sent = client?.sendEvent("control", a.data, "json").catch((e) => console.warn("control", e));
        controls = controls.then(() => sent);
        break;
      }
      case "marker":
        client?.sendEvent("control", a.data, "json").then(
          () => feed((c) => c.markerSent(now(), a.n)),
          (e) => feed((c) => c.markerFailed(now(), a.n, { refused: Boolean(e?.errorDetail), error: e?.errorDetail?.message ?? String(e?.message ?? e) })),
        );
        break;
      case "markers":
        showMarkers();
        break;
      case "deleted":
        showDeleted();
        break;
      case "status":
        showStatus(a.state);
        break;
      case "watchers":
        watchersLabel.textContent = `${a.count} watching`;
        break;
      case "warn":
        console.warn(a.what, a.detail);
        if (a.what === "server refused a message") showServerError(a.detail);
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
 * @param {number} serial
 * @param {import("./core/streamer-state.js").SnapshotData} data
 */
function sendSnapshotChunk(to, serial, data) {
  client?.sendEvent("snapshot", data, "json").then(
    () => feed((c) => c.snapshotSent(now(), to, serial)),
    (e) => feed((c) => c.snapshotFailed(now(), to, serial, e)), // the watcher asks again
  );
}

/** A history upload; a keepalive one (the page is going) reports nothing back. */
function upload(/** @type {Extract<StreamerAction, { type: "upload" }>} */ a) {
  const key = owner && owner.streamId === a.streamId ? owner.ownerKey : null;
  const done = key
    ? uploadHistory({ streamId: a.streamId, ownerKey: key, kind: a.kind, body: a.body, keepalive: a.keepalive })
    : Promise.resolve({ status: 403 });
  if (!a.keepalive) done.then((result) => feed((c) => c.uploaded(now(), a.serial, result)));
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
  if (moved || replacing) return; // another page owns the stream (and its document) now
  saveDoc({ text: editor.view.state.doc.toString(), lang, title });
}
addEventListener("pagehide", (e) => {
  persistNow();
  // what storage has not got yet goes as one keepalive request (it outlives the page)
  if (!moved) feed((c) => c.pagehide(now()));
  // a closed tab stops the client: a 1001 "going away" close would keep the connection (and
  // the stream "live" for watchers) for the service's recovery window
  if (!e.persisted) client?.stop();
});
// a hidden page may be discarded without a pagehide (phones): store what was collected
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") feed((c) => c.hidden(now()));
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
core = new StreamerState({
  doc: editor.view.state.doc.toString(),
  sel: selectionOf(editor.view.state),
  lang,
  title,
  wall,
  record: owner ? loadRecord(owner.streamId) : true,
});

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
  showEmbed();
  const dl = byId("download-recording", HTMLAnchorElement);
  dl.href = recordingDownloadUrl(streamId);
  dl.download = `codestream-${streamId}.jsonl`;
}
if (owner) showStream(owner.streamId);


// ---- replay controls: markers, the record setting, share, downloads, delete ----
const markerButton = byId("marker", HTMLButtonElement);
const markerForm = byId("marker-form", HTMLFormElement);
const markerInput = byId("marker-label", HTMLInputElement);
const markerError = byId("marker-error");
const markerList = byId("markers");

function showMarkerError(/** @type {string} */ text) {
  markerError.textContent = text;
  markerError.hidden = !text;
  markerInput.setAttribute("aria-invalid", String(Boolean(text)));
}
function openMarkerForm() {
  if (isEnded() || !core) return;
  showPanel(markerForm, markerButton, true);
  showMarkerError("");
  markerInput.value = core.markers.nextLabel;
  markerInput.focus();
  markerInput.select();
}
function closeMarkerForm() {
  showPanel(markerForm, markerButton, false);
  showMarkerError("");
  editor.view.focus();
}
markerButton.addEventListener("click", () => (markerForm.hidden ? openMarkerForm() : closeMarkerForm()));
byId("marker-cancel").addEventListener("click", closeMarkerForm);
markerForm.addEventListener("keydown", (e) => {
  if (e.key === "Escape") closeMarkerForm();
});
markerForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const checked = checkLabel(markerInput.value);
  if (!checked.ok) return showMarkerError(checked.message);
  feed((c) => c.marker(now(), checked.label));
  announce(`Marker added: ${checked.label}`);
  closeMarkerForm();
});
// Alt+M (by key position, so macOS's Option+M, which types µ, works too): not a CodeMirror binding
addEventListener(
  "keydown",
  (e) => {
    if (e.altKey && !e.ctrlKey && !e.metaKey && !e.shiftKey && e.code === "KeyM") {
      e.preventDefault();
      openMarkerForm();
    }
  },
  { capture: true },
);

const clock = (/** @type {number} */ t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
function showMarkers() {
  const items = core?.markers.items ?? [];
  markerList.replaceChildren(
    ...items.map((m) => {
      const li = document.createElement("li");
      li.dataset.n = String(m.n);
      li.append(m.label);
      const time = document.createElement("time");
      time.className = "marker-time";
      time.dateTime = new Date(m.at).toISOString();
      time.textContent = clock(m.at);
      li.append(time);
      if (m.live === "refused" || m.live === "not sent") {
        const problem = document.createElement("span");
        problem.className = "marker-problem";
        problem.textContent = m.live === "refused" ? `refused: ${m.error ?? "by the server"}` : "not sent live (it is in the recording)";
        li.append(problem);
      }
      return li;
    }),
  );
}
/** A refusal from the server (a marker or another control, rate-limited or invalid), shown until the next one. */
function showServerError(/** @type {unknown} */ detail) {
  const d = /** @type {{ code?: unknown, message?: unknown } | null} */ (detail);
  if (typeof d?.message !== "string") return;
  const line = byId("recording-error");
  line.textContent = `The server refused a message (${String(d.code ?? "error")}): ${d.message}`;
  line.hidden = false;
}

const recordBox = byId("record", HTMLInputElement);
recordBox.checked = core.record;
recordBox.addEventListener("change", () => {
  const current = core?.record ?? true;
  const step = recordChange(current, recordBox.checked);
  if (!step.change) return;
  if (step.confirm && recordBox.dataset.noconfirm !== "1" && !window.confirm(step.confirm)) {
    recordBox.checked = current;
    return;
  }
  if (owner) saveRecord(owner.streamId, recordBox.checked);
  feed((c) => c.setRecord(now(), recordBox.checked));
  announce(recordBox.checked ? "Recording is on." : "Recording is off; the recording so far is discarded.");
});

const embedField = byId("embed-code", HTMLInputElement);
function showEmbed() {
  if (owner) byId("embed-code", HTMLInputElement).value = embedCode(new URL(shareLink(owner.streamId)).origin, owner.streamId, title);
}
titleInput.addEventListener("change", showEmbed);
byId("copy-embed").addEventListener("click", async () => {
  showEmbed();
  const ok = await copyText(embedField.value);
  flash(byId("copy-embed"), ok ? "Copied!" : "Copy failed", announce);
});
embedField.addEventListener("focus", () => embedField.select());

// the current file: the editor's text, named after the title and the language
byId("download-file", HTMLAnchorElement).addEventListener("click", (e) => {
  const a = /** @type {HTMLAnchorElement} */ (e.currentTarget);
  const ext = findLanguage(lang).ext ?? "txt";
  a.download = `${(title.trim() || "codestream").replace(/[^\w.-]+/g, "_")}.${ext}`;
  URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(new Blob([editor.view.state.doc.toString()], { type: "text/plain" }));
});

const deleteButton = byId("delete-recording", HTMLButtonElement);
deleteButton.addEventListener("click", async () => {
  if (!owner) return announce("The stream is not created yet; there is nothing to delete.");
  const ok =
    deleteButton.dataset.noconfirm === "1" ||
    window.confirm("Delete this stream's recording for good? Nothing of it can be replayed or downloaded afterwards, and this stream cannot record again.");
  if (!ok) return;
  deleteButton.disabled = true;
  const res = await deleteRecording(owner);
  if (res.status === 204) return feed((c) => c.recordingDeleted(now()));
  deleteButton.disabled = false;
  announce(res.status === 0 ? "The server could not be reached; the recording is not deleted. Try again." : `The recording is not deleted (${res.code ?? res.status}). Try again.`);
});
function showDeleted() {
  deleteButton.disabled = true;
  recordBox.disabled = true;
  const notice = byId("deleted");
  notice.hidden = false;
  byId("deleted-new-stream").focus();
}
byId("deleted-new-stream").addEventListener("click", () => {
  clearOwner(); // a new stream, the text stays
  persistNow();
  location.reload();
});

// ---- connection ----
async function getUrl() {
  // the SDK reconnects on its own after a close, even when told to stop while disconnected:
  // a page that lost the stream to another one must not connect again and take it back
  if (moved) throw new Error("another page streams this stream now");
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
  onDisconnected: (reason) => {
    // the service closed this connection for a newer one of the same stream: that page
    // (another device, resumed with the code) streams now; reconnecting would take it back
    if (reason === STREAMER_REPLACED_REASON) movedAway();
    else feed((c) => c.dropped(now()));
  },
  onStopped: () => feed((c) => c.stopped(now())),
  onServerMessage: (data) => feed((c) => c.receive(now(), data)),
});
// One streamer tab per browser: the newest takes over, so two tabs never fight over the one
// streamer connection the service allows (each would replace the other's, forever).
const tabs = "BroadcastChannel" in window ? new BroadcastChannel("codestream-streamer") : null;
tabs?.postMessage({ type: "takeover" });
tabs?.addEventListener("message", (e) => {
  if (e.data?.type === "takeover") movedAway();
});
function movedAway() {
  if (isEnded()) return;
  persistNow();
  moved = true;
  feed((c) => c.moved(now()));
  byId("moved").hidden = false;
}
byId("take-back").addEventListener("click", () => location.reload());

setStatus("connecting");
startWithRetry(client, { isCancelled: isEnded });

// ---- resume on another device ----
const codeToggle = byId("show-resume-code", HTMLButtonElement);
const codePanel = byId("resume-code-panel");
const codeField = byId("resume-code", HTMLInputElement);
const formToggle = byId("open-resume", HTMLButtonElement);
const resumeForm = byId("resume-form", HTMLFormElement);
const resumeInput = byId("resume-input", HTMLInputElement);
const resumeError = byId("resume-error");
const resumeSubmit = byId("resume-submit", HTMLButtonElement);

/** @param {HTMLElement} panel @param {HTMLButtonElement} toggle @param {boolean} open */
function showPanel(panel, toggle, open) {
  panel.hidden = !open;
  toggle.setAttribute("aria-expanded", String(open));
}

// the code is the stream's key: shown only on request, cleared from the page when closed
function hideCode(focusToggle = true) {
  codeField.value = "";
  showPanel(codePanel, codeToggle, false);
  if (focusToggle) codeToggle.focus();
}
codeToggle.addEventListener("click", () => {
  if (!codePanel.hidden) return hideCode();
  if (!owner) return announce("The stream is not created yet; try again in a moment.");
  showPanel(resumeForm, formToggle, false);
  codeField.value = formatResumeCode(owner.streamId, owner.ownerKey);
  showPanel(codePanel, codeToggle, true);
  codeField.focus();
  codeField.select();
});
byId("hide-resume-code").addEventListener("click", () => hideCode());
byId("copy-resume-code").addEventListener("click", async () => {
  const ok = await copyText(codeField.value);
  flash(byId("copy-resume-code"), ok ? "Copied!" : "Copy failed", announce);
});
codePanel.addEventListener("keydown", (e) => {
  if (e.key === "Escape") hideCode();
});

function closeForm() {
  showPanel(resumeForm, formToggle, false);
  showResumeError("");
  formToggle.focus();
}
formToggle.addEventListener("click", () => {
  if (!resumeForm.hidden) return closeForm();
  hideCode(false);
  showPanel(resumeForm, formToggle, true);
  resumeInput.focus();
});
byId("cancel-resume").addEventListener("click", closeForm);
resumeForm.addEventListener("keydown", (e) => {
  if (e.key === "Escape") closeForm();
});
resumeForm.addEventListener("submit", (e) => {
  e.preventDefault();
  resumeStream(resumeInput.value);
});

function showResumeError(/** @type {string} */ text) {
  resumeError.textContent = text;
  resumeError.hidden = !text;
  resumeInput.setAttribute("aria-invalid", String(Boolean(text)));
}

/**
 * Continue the stream of a resume code on this page: the key is checked by negotiate first
 * (a wrong one changes nothing here), then the stored document becomes this page's and the
 * page restarts on that stream (a new epoch, whose first upload is a keyframe).
 * @param {string} text
 */
async function resumeStream(text) {
  showResumeError("");
  const code = parseResumeCode(text);
  if (!code) return showResumeError("That is not a resume code. It looks like <stream id>.<key>, exactly as the other device shows it.");
  if (owner && code.streamId === owner.streamId) return showResumeError("This page already streams that stream.");
  resumeSubmit.disabled = true;
  try {
    await negotiate({ streamId: code.streamId, ownerKey: code.ownerKey });
  } catch (e) {
    resumeSubmit.disabled = false;
    const status = e instanceof NegotiateError ? e.status : 0;
    if (status === 403) return showResumeError(`That key does not match stream ${code.streamId}. Nothing was changed here; copy the code again on the other device.`);
    if (status === 400) return showResumeError("That is not a resume code. Nothing was changed here.");
    return showResumeError("The server could not be reached. Nothing was changed here; try again.");
  }
  const state = await loadJoinState(code.streamId);
  const stored = replayJoinState(state);
  replacing = true;
  saveOwner(code.streamId, code.ownerKey);
  saveRecord(code.streamId, storedRecord(state)); // the resumed stream keeps its setting
  saveDoc(stored ? { text: stored.doc, lang: stored.lang ?? lang, title: stored.title ?? "" } : { text: editor.view.state.doc.toString(), lang, title });
  announce(`Resuming stream ${code.streamId}…`);
  location.reload();
}

// test and debugging hook: read-only facts about the page, no secrets
window.codestream = {
  get doc() {
    return editor.view.state.doc.toString();
  },
  get state() {
    const h = core?.history;
    return {
      streamId: owner?.streamId ?? null,
      epoch: core?.epoch,
      v: core?.v,
      queued: core?.queued,
      connected: core?.online ?? false,
      finalV: core?.finalV,
      stored: h?.stored ?? null,
      record: core?.record ?? null,
      deleted: h?.deleted ?? false,
      markers: core ? core.markers.items.map((m) => ({ ...m })) : [],
      storage: h?.status,
      uploads: h?.uploads ?? 0,
      storageQueued: h ? h.queue.length + (h.segment ? 1 : 0) : 0,
    };
  },
  view: editor.view,
};
