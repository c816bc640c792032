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
import { loadJoinState } from "./net/streams.js";
import { streamIdFromLocation } from "./config.js";
import { STREAMER_PREFIX } from "./core/contract.js";
import { byId } from "./ui/dom.js";
/** @import { WatcherAction } from "./core/watcher-state.js" */

const $ = byId;
const setStatus = statusBadge($("status"));
const announce = announcer($("announce"));
const streamId = streamIdFromLocation();

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

function perform(/** @type {WatcherAction[]} */ actions) {
  for (const a of actions) {
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
      case "sync":
        client?.sendEvent("sync", a.data, "json").catch((e) => console.warn("sync", e));
        break;
      case "lang":
        showLang(a.lang);
        break;
      case "title":
        showTitle(a.title);
        break;
      case "stream":
        showStream(a.state);
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
  const blob = new Blob([view.state.doc.toString()], { type: "text/plain;charset=utf-8" });
  const a = document.createElement("a");
  const name = ($("title").textContent || "code").replace(/[^\w.-]+/g, "_").slice(0, 60) || "code";
  a.href = URL.createObjectURL(blob);
  a.download = `${name}.${findLanguage(lang).ext}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
});

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
    onServerMessage: (data) => perform(state.receive(performance.now(), data)),
    onGroupMessage: (data, m) => {
      if (m.group !== streamId) return;
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
  loadJoinState(streamId).then((stored) => perform(state.stored(performance.now(), stored)));
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
    return { streamId, epoch: state.epoch, v: state.v, phase: state.phase, stream: state.stream, connection };
  },
  view,
};
