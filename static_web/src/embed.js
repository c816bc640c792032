// @ts-check
// The embed page (/embed.html, the one page another site may frame): the watcher page with
// minimal chrome, loaded lazily. Only this small script loads with the frame; the editor and
// the player (watcher.js, a chunk of the same build) load when the frame is first visible or
// on a first interaction, so a page with many embeds far down costs nothing until read.
import { streamIdFromLocation } from "./config.js";
import { parseFragment } from "./core/deep-link.js";

// `#<id>&t=..&m=..`: the stream, then the deep link
const id = parseFragment(location.hash)?.streamId ?? streamIdFromLocation();
const full = document.getElementById("open-full");
if (full instanceof HTMLAnchorElement) full.href = `/watch.html${location.hash}`;
addEventListener("hashchange", () => {
  if (full instanceof HTMLAnchorElement) full.href = `/watch.html${location.hash}`;
});
const loadButton = document.getElementById("load");
let started = false;
function start() {
  if (started) return;
  started = true;
  observer.disconnect();
  loadButton?.remove();
  import("./watcher.js").catch((e) => console.error("the player failed to load", e));
}
const observer = new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) start();
});
observer.observe(document.body);
loadButton?.addEventListener("click", start);
addEventListener("pointerdown", start, { once: true });
addEventListener("keydown", start, { once: true });
if (!id) start(); // nothing to wait for: the page says the link names no stream
