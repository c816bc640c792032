// @ts-check
// Watcher page: a read-only editor driven by the pure WatcherState; this file only fetches the
// stored join state (while it connects), performs the machine's actions (editor updates, sync
// events) and shows the status.
import { ChangeSet, StateEffect, StateField } from "@codemirror/state";
import { Decoration, WidgetType } from "@codemirror/view";
import { createEditor, EditorView } from "./ui/editor.js";
import { findLanguage } from "./ui/languages.js";
import { announcer, copyText, flash, initialTheme, statusBadge, themeToggle } from "./ui/chrome.js";
import { WatcherState } from "./core/watcher-state.js";
import { negotiate } from "./net/negotiate.js";
import { createPubSub, startWithRetry } from "./net/pubsub.js";
import { loadJoinState, readRecording, recordingDownloadUrl } from "./net/streams.js";
import { streamIdFromLocation } from "./config.js";
import { ReplayPlayer } from "./core/replay.js";
import { parseFragment } from "./core/deep-link.js";
import { mountPlayer } from "./ui/player.js";
import { STREAMER_PREFIX } from "./core/contract.js";
import { byId } from "./ui/dom.js";
/** @import { WatcherAction } from "./core/watcher-state.js" */
/** @import { ReplayAction } from "./core/replay.js" */

const $ = byId;
const setStatus = statusBadge($("status"));
const announce = announcer($("announce"));
// `#<id>&t=..&m=..`: the stream, then the deep link
const streamId = parseFragment(location.hash)?.streamId ?? streamIdFromLocation();

// ---- the streamer's cursor and selection, drawn as decorations ----
/** @type {import("@codemirror/state").StateEffectType<[number, number]>} */
const setRemoteSel = StateEffect.define();
class Caret extends WidgetType {
  toDOM() {
    const el = document.createElement("span");
    el.className = "cm-remote-caret";
    el.setAttribute("aria-hidden", "true");
    return el;
  }
  eq() {
    return true;
  }
}
const remoteSel = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setRemoteSel)) continue;
      const [a, h] = e.value;
      const from = Math.min(a, h);
      const to = Math.max(a, h);
      const parts = [];
      if (from < to) parts.push(Decoration.mark({ class: "cm-remote-sel" }).range(from, to));
      parts.push(Decoration.widget({ widget: new Caret(), side: 1 }).range(h));
      deco = Decoration.set(parts, true);
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});
const remoteTheme = EditorView.baseTheme({
  ".cm-remote-caret": { borderLeft: "2px solid #ff9f1c", marginLeft: "-1px", marginRight: "-1px", position: "relative" },
  ".cm-remote-sel": { backgroundColor: "rgba(255, 159, 28, 0.30)" },
});

const editor = createEditor({
  host: $("editor"),
  doc: "",
  readOnly: true,
  label: "Streamed code, read-only",
  theme: initialTheme(),
  extensions: [remoteSel, remoteTheme],
});
themeToggle($("theme"), (t) => editor.setTheme(t));

let lang = "plaintext";
function showLang(/** @type {unknown} */ id) {
  if (typeof id !== "string") return;
  lang = findLanguage(id).id;
  $("lang").textContent = findLanguage(id).label;
  editor.setLanguage(lang);
}
function showTitle(/** @type {unknown} */ t) {
  if (typeof t !== "string") return;
  $("title").textContent = t || "Untitled stream";
  document.title = `${t || "Live code"} · CodeStream`;
}

const follow = $("follow", HTMLInputElement);
/** @returns {import("@codemirror/state").StateEffect<unknown>[]} */
function selectionEffects(/** @type {[number, number] | null | undefined} */ sel) {
  if (!sel) return [];
  /** @type {import("@codemirror/state").StateEffect<unknown>[]} */
  const effects = [setRemoteSel.of(sel)];
  if (follow.checked) effects.push(EditorView.scrollIntoView(sel[1], { y: "nearest", yMargin: 48 }));
  return effects;
}

// ---- actions of the state machine ----
const view = editor.view;
/** @type {ReturnType<typeof createPubSub> | null} */
let client = null;

/** Editor actions, from the player only: it shows the live document or the playhead's. */
function show(/** @type {ReplayAction} */ a) {
  switch (a.type) {
    case "reset":
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: a.doc }, effects: selectionEffects(a.sel) });
      showLang(a.lang);
      showTitle(a.title);
      break;
    case "apply": {
      let cs = ChangeSet.empty(view.state.doc.length);
      let len = view.state.doc.length;
      for (const [from, to, insert] of a.changes) {
        const next = ChangeSet.of({ from, to, insert }, len);
        cs = cs.compose(next);
        len = next.newLength;
      }
      view.dispatch({ changes: cs, effects: selectionEffects(a.sel) });
      break;
    }
    case "lang":
      showLang(a.lang);
      break;
    case "title":
      showTitle(a.title);
      break;
    case "fetch":
      fetchBlob(a.name);
      break;
    case "state":
      controls?.render(a.state);
      break;
  }
}

/** The player's actions at the page's clock; then its next tick. */
function run(/** @type {(now: number) => ReplayAction[]} */ call) {
  for (const a of call(performance.now())) show(a);
  clearTimeout(playTimer);
  const at = player.nextTick();
  if (at !== null) playTimer = setTimeout(() => run((now) => player.tick(now)), Math.max(0, at - performance.now()));
}
/** @type {ReturnType<typeof setTimeout> | undefined} */
let playTimer;

/** Whether the live document should be followed at once (no deep link, no seek yet). */
let followLive = true;

/**
 * Consecutive `apply`s of one batch as one (their change lists concatenated: each list is
 * applied in order, so this is the same edit): the machine's version is known only after the
 * whole batch, and the player files each live entry under the version it is given.
 * @param {WatcherAction[]} actions
 * @returns {WatcherAction[]}
 */
function mergeApplies(actions) {
  /** @type {WatcherAction[]} */
  const out = [];
  for (const a of actions) {
    const last = out[out.length - 1];
    if (a.type === "apply" && last?.type === "apply") {
      out[out.length - 1] = { type: "apply", changes: [...last.changes, ...a.changes], ...(a.sel ? { sel: a.sel } : last.sel ? { sel: last.sel } : {}) };
    } else out.push(a);
  }
  return out;
}

function perform(/** @type {WatcherAction[]} */ actions) {
  for (const a of mergeApplies(actions)) {
    switch (a.type) {
      case "reset":
      case "apply":
      case "lang":
      case "title": {
        // live entries get the watcher's clock; a stored or offline document sits at the
        // recording's end (the player takes the later of the two)
        const wallMs = state.stream === "live" ? Date.now() : -Infinity;
        run((now) => player.live(now, a, { epoch: state.epoch, v: state.v, wallMs }));
        if (a.type === "reset" && followLive) run((now) => player.jumpToLive(now));
        break;
      }
      case "sync":
        client?.sendEvent("sync", a.data, "json").catch((e) => console.warn("sync", e));
        break;
      case "stream":
        showStream(a.state);
        if (a.state === "live" || a.state === "offline" || a.state === "ended") {
          const s = a.state;
          run((now) => player.liveStatus(now, s));
        }
        break;
    }
  }
  scheduleTick();
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let tickTimer;
function scheduleTick() {
  clearTimeout(tickTimer);
  const at = state.nextTick();
  if (at !== null) tickTimer = setTimeout(() => perform(state.tick(performance.now())), Math.max(0, at - performance.now()));
}

let connection = "connecting"; // connecting | connected | reconnecting
let stream = "unknown";
function showStream(/** @type {string} */ s) {
  stream = s;
  render();
  if (s === "ended") client?.stop(); // nothing more will come
}
function render() {
  if (stream === "ended") return setStatus("ended");
  if (connection !== "connected") return setStatus(connection);
  if (stream === "offline") return setStatus("offline");
  if (stream === "live") return setStatus("live");
  setStatus("waiting");
}

// ---- page controls ----
$("copy-all").addEventListener("click", async () => {
  const ok = await copyText(view.state.doc.toString());
  flash($("copy-all"), ok ? "Copied!" : "Copy failed", announce);
});
$("download").addEventListener("click", () => {
  // the final file: the document at the end of the recording (the live one while live)
  const final = player.documentAt(player.state.end)?.doc ?? view.state.doc.toString();
  const blob = new Blob([final], { type: "text/plain;charset=utf-8" });
  const a = document.createElement("a");
  const name = ($("title").textContent || "code").replace(/[^\w.-]+/g, "_").slice(0, 60) || "code";
  a.href = URL.createObjectURL(blob);
  a.download = `${name}.${findLanguage(lang).ext}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
});

// ---- the recording: index and blobs, for the player ----
const player = new ReplayPlayer({ streamId: streamId ?? "" });
let deleted = false;
/** This recording was deleted (410 on any read): gone for everyone, at once. */
function showDeleted() {
  if (deleted) return;
  deleted = true;
  client?.stop();
  clearTimeout(playTimer);
  clearTimeout(tickTimer);
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: "" } });
  $("deleted").hidden = false;
  $("editor").hidden = true;
  $("player").hidden = true;
  setStatus("deleted");
  announce("This recording was deleted");
}
function fetchBlob(/** @type {string} */ name) {
  if (!streamId) return;
  readRecording(streamId, name).then((r) => {
    if (r.status === 410) return showDeleted();
    run((now) => (r.status === 200 ? player.blob(now, name, r.body) : player.blobFailed(now, name, r.status)));
  });
}
let indexReading = false;
/** (Re)read the index: at load and on each seek, one read at a time (a 304 when unchanged),
 * so a recording deleted meanwhile is noticed at the next seek. */
async function refreshIndex() {
  if (!streamId || deleted || indexReading) return;
  indexReading = true;
  const r = await readRecording(streamId, null);
  indexReading = false;
  if (r.status === 410) return showDeleted();
  if (r.status === 200 && r.body) run((now) => player.loadIndex(now, r.body));
}
const controls = streamId
  ? mountPlayer({
      player,
      streamId,
      announce,
      copy: copyText,
      isLive: () => state.stream === "live",
      run: (call) => {
        followLive = false;
        refreshIndex();
        run(call);
      },
    })
  : null;
$("download-recording", HTMLAnchorElement).href = streamId ? recordingDownloadUrl(streamId) : "#";
/** A deep link (`&t=` or `&m=`) opens the player there, live or not. */
function openLink() {
  const link = parseFragment(location.hash);
  if (!link || (link.t === undefined && link.m === undefined)) return;
  followLive = false;
  run((now) => player.seekLink(now, link));
}
addEventListener("hashchange", openLink);

/** A live `control` with a marker puts it on the timeline at once. */
function liveMarker(/** @type {unknown} */ data) {
  const msg = /** @type {{ type?: unknown, marker?: { label: string, t: number } } | null} */ (data);
  if (!(msg?.type === "control" && msg.marker)) return;
  run((now) => player.liveMarker(now, /** @type {{ label: string, t: number }} */ (msg.marker)));
  controls?.render(player.state); // the core's `state` action leaves out markers: redraw them

}

// ---- connection ----
const state = new WatcherState(streamId ?? "", { storage: Boolean(streamId) });
if (!streamId) {
  setStatus("ended");
  $("title").textContent = "No stream in this link";
  $("missing").hidden = false;
} else {
  client = createPubSub(async () => (await negotiate({ streamId })).url, {
    onConnected: () => {
      connection = "connected";
      render();
      perform(state.connected(performance.now()));
    },
    onRecovered: () => {
      connection = "connected"; // the service replays what we missed; gaps still resync
      render();
    },
    onDropped: () => {
      if (state.stream === "ended") return;
      connection = "reconnecting";
      render();
    },
    onDisconnected: () => {
      if (state.stream === "ended") return;
      connection = "reconnecting";
      render();
    },
    onStopped: () => {
      if (state.stream === "ended") return;
      connection = "reconnecting";
      render();
      if (client) startWithRetry(client, { isCancelled: () => state.stream === "ended" });
    },
    onServerMessage: (data) => {
      liveMarker(data);
      perform(state.receive(performance.now(), data));
    },
    onGroupMessage: (data, m) => {
      if (m.group !== streamId) return;
      liveMarker(data);
      // only the stream's owner may write deltas and group catchups (the service enforces it;
      // this is belt and braces)
      const type = /** @type {{ type?: unknown } | null} */ (data)?.type;
      if ((type === "delta" || type === "catchup") && m.fromUserId !== `${STREAMER_PREFIX}${streamId}`) return;
      perform(state.receive(performance.now(), data));
    },
  });
  render();
  // the stored document, in parallel with connecting: shown at once, and the first sync asks
  // only for what came after it
  // the index first (so the stored document sits at the recording's end), then the join state
  const id = streamId;
  Promise.all([refreshIndex(), loadJoinState(id)]).then(([, stored]) => {
    openLink();
    if (!deleted) perform(state.stored(performance.now(), stored));
  });
  startWithRetry(client, { isCancelled: () => state.stream === "ended" });
  // a closed tab says goodbye: a socket the browser closes with 1001 "going away" is kept by
  // the service for its recovery window, and the streamer would count this watcher that long
  addEventListener("pagehide", (e) => {
    if (!e.persisted) client?.stop();
  });
}

// test and debugging hook: read-only facts about the page
window.codestream = {
  get doc() {
    return view.state.doc.toString();
  },
  get state() {
    return { streamId, epoch: state.epoch, v: state.v, phase: state.phase, stream: state.stream, connection, deleted };
  },
  get player() {
    return player.state;
  },
  get markers() {
    return player.markers;
  },
  view,
};
