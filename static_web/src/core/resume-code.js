// @ts-check
// The resume code a streamer carries to another device: `<streamId>.<ownerKey>`. It is the
// stream's key, so it is only ever shown on request and typed or pasted, never put in a URL.
import { LIMITS, STREAM_ID_RE } from "./contract.js";

const KEY_RE = /^[A-Za-z0-9_-]+$/; // base64url without padding, as negotiate issues owner keys

export function formatResumeCode(/** @type {string} */ streamId, /** @type {string} */ ownerKey) {
  return `${streamId}.${ownerKey}`;
}

/**
 * The stream id and owner key in a pasted code (surrounding spaces ignored), or null.
 * @param {string} code
 * @returns {{ streamId: string, ownerKey: string } | null}
 */
export function parseResumeCode(code) {
  const text = code.trim();
  const dot = text.indexOf(".");
  if (dot < 0) return null;
  const streamId = text.slice(0, dot);
  const ownerKey = text.slice(dot + 1);
  if (!STREAM_ID_RE.test(streamId)) return null;
  if (!KEY_RE.test(ownerKey) || ownerKey.length > LIMITS.ownerKeyChars) return null;
  return { streamId, ownerKey };
}
