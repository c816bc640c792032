// @ts-check
// The player's controls (play/pause, scrubber with activity and markers, speed, skip idle,
// jump to live, link at this time), drawn from the pure ReplayPlayer's state; every input
// becomes one call on the player, whose actions the page performs (`run`). No replay logic.
/** @import { ReplayPlayer, PlayerState } from "../core/replay.js" */
import { SPEEDS } from "../core/replay.js";
import { formatFragment, formatTime } from "../core/deep-link.js";
import { byId } from "./dom.js";

// One copy of the controls for the watch and embed pages (the embed hides `embed-only-wide`
// controls when narrow); static markup, no data in it.
const MARKUP = `
<button id="play" type="button" aria-label="Play">Play</button>
<div id="scrub" class="scrub" role="slider" tabindex="0" aria-label="Position in the recording" aria-valuemin="0" aria-valuemax="0" aria-valuenow="0" aria-valuetext="0:00">
<div id="scrub-activity" class="scrub-activity" aria-hidden="true"></div>
<div id="scrub-markers" class="scrub-markers"></div>
<div id="scrub-head" class="scrub-head" aria-hidden="true"></div>
</div>
<span id="time" class="time">0:00 / 0:00</span>
<label class="speed">Speed <select id="speed"></select></label>
<label class="check"><input id="skip-idle" type="checkbox"> Skip idle time</label>
<button id="to-live" type="button" hidden>Jump to live</button>
<button id="copy-link" type="button" class="embed-only-wide">Copy link at this time</button>
<span id="player-help" class="help" tabindex="0" role="note" aria-label="Keyboard shortcuts">?</span>
`;

const BUCKETS = 120;
const STEP_MS = 5000;
export const SHORTCUTS = "Outside the editor: Space or K: play/pause · ←/→: 5 s back/forward · Shift+←/→: previous/next marker · < >: slower/faster · L: jump to live · Home/End: start/end";

/**
 * @param {object} o
 * @param {ReplayPlayer} o.player
 * @param {(call: (now: number) => import("../core/replay.js").ReplayAction[]) => void} o.run
 *   performs the call's actions at the page's clock
 * @param {string} o.streamId
 * @param {(text: string) => void} o.announce
 * @param {(text: string) => Promise<boolean>} o.copy
 * @param {() => boolean} o.isLive  whether the stream is live now (else the live edge is its end)
 */
export function mountPlayer({ player, run, streamId, announce, copy, isLive }) {
  const bar = byId("player");
  bar.innerHTML = MARKUP;
  const playBtn = byId("play", HTMLButtonElement);
  const scrub = byId("scrub");
  const hist = byId("scrub-activity");
  const marks = byId("scrub-markers");
  const head = byId("scrub-head");
  const time = byId("time");
  const speed = byId("speed", HTMLSelectElement);
  const skip = byId("skip-idle", HTMLInputElement);
  const live = byId("to-live", HTMLButtonElement);
  const link = byId("copy-link", HTMLButtonElement);
  bar.title = SHORTCUTS;
  byId("player-help").title = SHORTCUTS;
  for (const s of SPEEDS) speed.add(new Option(`${s}×`, String(s), s === 1, s === 1));
  for (let i = 0; i < BUCKETS; i++) hist.append(document.createElement("span"));

  /** @type {PlayerState} */
  let st = player.state;
  // before the timeline has a start (nothing stored, no document yet) times read 0:00
  const rel = (/** @type {number} */ t) => formatTime(st.phase === "empty" && st.start === 0 ? 0 : t - st.start);
  const frac = (/** @type {number} */ t) => (st.end > st.start ? (t - st.start) / (st.end - st.start) : 1);

  const togglePlay = () => {
    if (st.playing) return run((now) => player.pause(now));
    if (st.mode === "live" || st.t >= st.end) run((now) => player.seek(now, st.start)); // from the start
    run((now) => player.play(now));
  };
  const seekBy = (/** @type {number} */ d) => run((now) => player.seek(now, st.t + d));
  const toMarker = (/** @type {1 | -1} */ dir) => {
    const ms = player.markers;
    const m = dir > 0 ? ms.find((x) => x.t > st.t + 1) : [...ms].reverse().find((x) => x.t < st.t - 1);
    if (m) run((now) => player.seekMarker(now, m.n));
  };
  const stepSpeed = (/** @type {1 | -1} */ dir) => {
    const i = SPEEDS.indexOf(st.speed);
    const next = SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, (i < 0 ? 1 : i) + dir))];
    run((now) => player.setSpeed(now, next));
    announce(`Speed ${next}×`);
  };
  const toLive = () => {
    run((now) => player.jumpToLive(now));
    announce(isLive() ? "Live" : "At the end");
  };

  playBtn.addEventListener("click", togglePlay);
  speed.addEventListener("change", () => run((now) => player.setSpeed(now, Number(speed.value))));
  skip.addEventListener("change", () => run((now) => player.setSkipIdle(now, skip.checked)));
  live.addEventListener("click", toLive);
  link.addEventListener("click", async () => {
    const url = `${location.origin}${location.pathname}${formatFragment({ streamId, ms: st.t - st.start })}`;
    const ok = await copy(url);
    announce(ok ? `Link at ${rel(st.t)} copied` : "Copy failed");
  });

  // the scrubber: click or drag anywhere, keys when focused
  const tAt = (/** @type {number} */ x) => {
    const r = scrub.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (x - r.left) / Math.max(1, r.width)));
    return st.start + f * (st.end - st.start);
  };
  scrub.addEventListener("pointerdown", (e) => {
    if (e.target instanceof HTMLButtonElement) return; // a marker
    scrub.setPointerCapture(e.pointerId);
    run((now) => player.seek(now, tAt(e.clientX)));
    const move = (/** @type {PointerEvent} */ m) => run((now) => player.seek(now, tAt(m.clientX)));
    const up = () => {
      scrub.removeEventListener("pointermove", move);
      scrub.removeEventListener("pointerup", up);
    };
    scrub.addEventListener("pointermove", move);
    scrub.addEventListener("pointerup", up);
  });

  /** Page-wide shortcuts (not while typing in a control); the scrubber adds Home/End. */
  addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || bar.hidden) return;
    const t = /** @type {HTMLElement | null} */ (e.target);
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    // keys in the (read-only) editor move the watcher's own cursor: they must not seek or leave live
    if (t && (t.isContentEditable || t.closest("#editor, .cm-editor"))) return;
    if (t && t.tagName === "BUTTON" && (e.key === " " || e.key === "Enter")) return; // the button's own
    const onScrub = t === scrub;
    let handled = true;
    if (e.key === " " || e.key === "k" || e.key === "K") togglePlay();
    else if (e.key === "ArrowLeft") e.shiftKey ? toMarker(-1) : seekBy(-STEP_MS);
    else if (e.key === "ArrowRight") e.shiftKey ? toMarker(1) : seekBy(STEP_MS);
    else if (e.key === "<" || e.key === ",") stepSpeed(-1);
    else if (e.key === ">" || e.key === ".") stepSpeed(1);
    else if (e.key === "l" || e.key === "L") toLive();
    else if (onScrub && e.key === "Home") run((now) => player.seek(now, st.start));
    else if (onScrub && e.key === "End") run((now) => player.seek(now, st.end));
    else handled = false;
    if (handled) e.preventDefault();
  });

  let markerKey = "";
  let histAt = 0;
  /** Redraw from the player's state (after every call that changed it). */
  function render(/** @type {PlayerState} */ s) {
    st = s;
    bar.hidden = false;
    bar.dataset.mode = s.mode;
    bar.dataset.phase = s.phase;
    playBtn.textContent = s.playing ? "Pause" : "Play";
    playBtn.setAttribute("aria-label", s.playing ? "Pause" : "Play");
    const pos = Math.round(frac(s.t) * 1000) / 10;
    head.style.left = `${pos}%`;
    scrub.setAttribute("aria-valuemin", "0");
    scrub.setAttribute("aria-valuemax", String(Math.round((s.end - s.start) / 1000)));
    scrub.setAttribute("aria-valuenow", String(Math.round((s.t - s.start) / 1000)));
    const where = s.mode === "live" ? "live" : `${rel(s.t)} of ${rel(s.end)}`;
    scrub.setAttribute("aria-valuetext", where);
    time.textContent = s.mode === "live" ? `Live · ${rel(s.end)}` : `${rel(s.t)} / ${rel(s.end)}`;
    speed.value = String(s.speed);
    skip.checked = s.skipIdle;
    live.hidden = !s.liveAvailable;
    live.textContent = isLive() ? "Jump to live" : "Jump to the end"; // an offline or ended stream's final document
    live.disabled = s.mode === "live";
    const now = performance.now();
    if (now - histAt > 500 || !s.playing) {
      histAt = now;
      const h = player.histogram(BUCKETS);
      const max = Math.max(1, ...h);
      h.forEach((n, i) => {
        const el = /** @type {HTMLElement} */ (hist.children[i]);
        el.style.height = `${n ? Math.max(8, (n / max) * 100) : 0}%`;
      });
    }
    const ms = player.markers;
    const key = JSON.stringify([ms, s.start, s.end]);
    if (key !== markerKey) {
      markerKey = key;
      marks.replaceChildren(
        ...ms.map((m) => {
          const b = document.createElement("button");
          b.type = "button";
          b.className = "marker";
          b.dataset.n = String(m.n);
          // a live marker can be newer than the last edit the timeline ends at: keep it on the bar
          b.style.left = `${Math.round(Math.min(1, Math.max(0, frac(m.t))) * 1000) / 10}%`;
          b.setAttribute("aria-label", `Marker ${m.n}: ${m.label} at ${rel(m.t)}`);
          b.title = `${m.label} (${rel(m.t)})`;
          b.addEventListener("click", () => run((n) => player.seekMarker(n, m.n)));
          return b;
        }),
      );
    }
  }
  return { render };
}
