// Page furniture shared by both pages: status badge (announced to screen readers), theme
// switch, clipboard.
import { loadTheme, saveTheme } from "../storage.js";

const LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Streamer offline",
  ended: "Stream ended",
  waiting: "Waiting for the streamer…",
  moved: "Continued in another tab",
};

/** The badge shows the state; a polite live region announces it. */
export function statusBadge(el) {
  let current = null;
  return (state) => {
    if (state === current) return;
    current = state;
    el.dataset.state = state;
    el.textContent = LABELS[state] || state;
  };
}

export function initialTheme() {
  return loadTheme() || (matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark");
}

/** Wire the theme toggle button; `apply` switches the editor. */
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

export async function copyText(text) {
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

/** Briefly confirm an action on a button, for sighted and screen-reader users alike. */
export function flash(button, text, announce) {
  const original = button.dataset.label || button.textContent;
  button.dataset.label = original;
  button.textContent = text;
  announce?.(text);
  clearTimeout(button._flash);
  button._flash = setTimeout(() => (button.textContent = original), 1500);
}

/** A visually hidden live region for one-off announcements. */
export function announcer(el) {
  return (text) => {
    el.textContent = "";
    requestAnimationFrame(() => (el.textContent = text));
  };
}
