// @ts-check
// Page furniture shared by both pages: status badge (announced to screen readers), theme
// switch, clipboard.
import { loadTheme, saveTheme } from "../storage.js";

/** @type {Record<string, string>} */
const LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Streamer offline",
  ended: "Stream ended",
  waiting: "Waiting for the streamer…",
  moved: "Continued elsewhere",
  deleted: "Recording deleted",
};

/** The badge shows the state; a polite live region announces it. */
export function statusBadge(/** @type {HTMLElement} */ el) {
  /** @type {string | null} */
  let current = null;
  return (/** @type {string} */ state) => {
    if (state === current) return;
    current = state;
    el.dataset.state = state;
    el.textContent = LABELS[state] || state;
  };
}

/** @returns {"light" | "dark"} */
export function initialTheme() {
  return loadTheme() || (matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark");
}

/** Wire the theme toggle button; `apply` switches the editor. */
/**
 * @param {HTMLElement} button
 * @param {(theme: "light" | "dark") => void} apply
 */
export function themeToggle(button, apply) {
  let theme = initialTheme();
  const show = () => {
    document.documentElement.dataset.theme = theme;
    button.setAttribute("aria-pressed", String(theme === "dark")); // a toggle: fixed name, state pressed or not
  };
  show();
  button.addEventListener("click", () => {
    theme = theme === "dark" ? "light" : "dark";
    saveTheme(theme);
    show();
    apply(theme);
  });
  return theme;
}

export async function copyText(/** @type {string} */ text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

/** @type {WeakMap<HTMLElement, ReturnType<typeof setTimeout>>} */
const flashing = new WeakMap();

/**
 * Briefly confirm an action on a button, for sighted and screen-reader users alike.
 * @param {HTMLElement} button
 * @param {string} text
 * @param {(text: string) => void} [announce]
 */
export function flash(button, text, announce) {
  const original = button.dataset.label || button.textContent || "";
  button.dataset.label = original;
  button.textContent = text;
  announce?.(text);
  clearTimeout(flashing.get(button));
  flashing.set(button, setTimeout(() => (button.textContent = original), 1500));
}

/** A visually hidden live region for one-off announcements. */
export function announcer(/** @type {HTMLElement} */ el) {
  return (/** @type {string} */ text) => {
    el.textContent = "";
    requestAnimationFrame(() => (el.textContent = text));
  };
}
