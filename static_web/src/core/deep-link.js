// @ts-check
// Stream links and their deep links (protocol.md, "Replay": oEmbed reads the same links),
// pure: `#<streamId>&t=12:30`, `&t=750` (seconds) and `&m=3` (a marker's n), with the
// contract's patterns (`patterns.deepLinkTime`, `patterns.deepLinkMarker`) so the page, the
// embed and the server's oEmbed agree on what a link means. Values that do not match their
// pattern are dropped (the link still names its stream), as the server drops them.
import { CONTRACT, STREAM_ID_RE, wholeMatch } from "./contract.js";

export const DEEP_LINK_TIME_RE = wholeMatch(CONTRACT.patterns.deepLinkTime);
export const DEEP_LINK_MARKER_RE = wholeMatch(CONTRACT.patterns.deepLinkMarker);
/** The pages whose links name a stream. */
export const LINK_PAGES = Object.freeze(["/watch.html", "/embed.html"]);
const MAX_URL_CHARS = 2048; // as codestream/oembed.py

/**
 * A stream link: the stream and, as written in the link, the deep link's time and marker.
 * @typedef {{ streamId: string, t?: string, m?: string }} StreamLink
 */

/** `decodeURIComponent` that gives null instead of throwing on a malformed escape. */
function decode(/** @type {string} */ s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** `t` and `m` of `key=value` parts, the last one of each winning; invalid values dropped. */
function deepParams(/** @type {Iterable<[string, string]>} */ pairs, /** @type {StreamLink} */ link) {
  /** @type {Record<string, string>} */
  const found = {};
  for (const [k, v] of pairs) if (k === "t" || k === "m") found[k] = v;
  if (found.t !== undefined && DEEP_LINK_TIME_RE.test(found.t)) link.t = found.t;
  if (found.m !== undefined && DEEP_LINK_MARKER_RE.test(found.m)) link.m = found.m;
  return link;
}

/** `key=value` parts of a fragment (after the stream id); parts without `=` are ignored. */
function fragmentPairs(/** @type {string[]} */ parts) {
  /** @type {[string, string][]} */
  const out = [];
  for (const p of parts) {
    const i = p.indexOf("=");
    if (i > 0) out.push([p.slice(0, i), p.slice(i + 1)]);
  }
  return out;
}

/**
 * The page's own fragment (`location.hash`, with or without the `#`): its stream and deep
 * link, or null when the first part is not a stream id.
 * @param {string} hash
 * @returns {StreamLink | null}
 */
export function parseFragment(hash) {
  const raw = hash.startsWith("#") ? hash.slice(1) : hash;
  const parts = raw ? raw.split("&").map(decode) : [];
  if (parts.some((p) => p === null) || !parts.length) return null;
  const [id, ...rest] = /** @type {string[]} */ (parts);
  if (!STREAM_ID_RE.test(id)) return null;
  return deepParams(fragmentPairs(rest), { streamId: id });
}

/**
 * What a watch or embed link of `site` (an origin, `https://host[:port]`) names, exactly as
 * the server's oEmbed reads it (codestream/oembed.py parse_link): the stream id first in the
 * fragment or in `?s=`, then `t` and `m` from the query, the fragment's winning. Null when the
 * link is not one of the site's.
 * @param {string} url
 * @param {string} site
 * @returns {StreamLink | null}
 */
export function parseLink(url, site) {
  if (url.length > MAX_URL_CHARS) return null;
  /** @type {URL} */
  let u;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if ((u.protocol !== "https:" && u.protocol !== "http:") || u.username || u.password) return null;
  if (u.origin !== site.toLowerCase() || !LINK_PAGES.includes(u.pathname)) return null;
  const frag = u.hash.slice(1);
  const parts = frag ? frag.split("&").map(decode) : [];
  if (parts.some((p) => p === null)) return null;
  const fparts = /** @type {string[]} */ (parts);
  /** @type {StreamLink} */
  let link;
  let params = fparts;
  if (fparts.length && STREAM_ID_RE.test(fparts[0])) {
    link = { streamId: fparts[0] };
    params = fparts.slice(1);
  } else {
    const ids = u.searchParams.getAll("s");
    if (ids.length !== 1 || !STREAM_ID_RE.test(ids[0])) return null;
    link = { streamId: ids[0] };
  }
  /** @type {[string, string][]} */
  const pairs = [];
  for (const key of ["t", "m"]) {
    const vals = u.searchParams.getAll(key);
    if (vals.length === 1) pairs.push([key, vals[0]]);
  }
  return deepParams(pairs.concat(fragmentPairs(params)), link);
}

/**
 * A deep link's time (`patterns.deepLinkTime`: seconds, or `[h:]m:ss`) in ms; null if it does
 * not match.
 * @param {string} t
 * @returns {number | null}
 */
export function parseTime(t) {
  if (!DEEP_LINK_TIME_RE.test(t)) return null;
  const parts = t.split(":").map(Number);
  let s = 0;
  for (const p of parts) s = s * 60 + p;
  return s * 1000;
}

/**
 * A time offset in ms as the shortest deep-link time: `m:ss` under an hour, `h:mm:ss` from
 * there (whole seconds, rounded down; negative counts as 0).
 * @param {number} ms
 */
export function formatTime(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/**
 * The fragment of a link to a stream, at an offset (ms into the recording) or a marker:
 * `#<id>`, `#<id>&t=12:30`, `#<id>&m=3`.
 * @param {{ streamId: string, ms?: number | null, marker?: number | null }} link
 */
export function formatFragment({ streamId, ms = null, marker = null }) {
  if (!STREAM_ID_RE.test(streamId)) throw new Error("not a stream id");
  let out = `#${streamId}`;
  if (ms !== null && ms !== undefined) out += `&t=${formatTime(ms)}`;
  if (marker !== null && marker !== undefined) {
    const m = String(marker);
    if (!DEEP_LINK_MARKER_RE.test(m)) throw new Error("not a marker number");
    out += `&m=${m}`;
  }
  return out;
}
