// @ts-check
// Build-time settings (build.mjs defines __API_BASE__ from the optional app.config.json).
/* global __API_BASE__ */
import { STREAM_ID_RE } from "./core/contract.js";

export const API_BASE = typeof __API_BASE__ === "string" ? __API_BASE__ : "";

/** Where a watcher opens a stream: the share link format, in one place. */
export function shareLink(/** @type {string} */ streamId, origin = location.origin) {
  return `${origin}/watch.html#${encodeURIComponent(streamId)}`;
}

export { STREAM_ID_RE };

/** The stream id in a watcher's address (`/watch.html#<id>`, `?s=<id>` also accepted). */
export function streamIdFromLocation(/** @type {{ hash: string, search: string }} */ loc = location) {
  const fromHash = decodeURIComponent(loc.hash.replace(/^#/, ""));
  const fromQuery = new URLSearchParams(loc.search).get("s") || "";
  const id = fromHash || fromQuery;
  return STREAM_ID_RE.test(id) ? id : null;
}
