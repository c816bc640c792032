// @ts-check
// What a streamer page keeps in localStorage so that a reload resumes the same stream:
// the owner key (never in a URL) and the document. Storage may be full or disabled: then the
// page still works, it only cannot resume.
const OWNER = "codestream.owner";
const DOC = "codestream.doc";
const THEME = "codestream.theme";

/** @returns {any} what was stored (checked by each caller) */
function read(/** @type {string} */ key) {
  try {
    const raw = localStorage.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function write(/** @type {string} */ key, /** @type {unknown} */ value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

/** @returns {{ streamId: string, ownerKey: string } | null} */
export function loadOwner() {
  const o = read(OWNER);
  return o && typeof o.streamId === "string" && typeof o.ownerKey === "string" ? o : null;
}
export const saveOwner = (/** @type {string} */ streamId, /** @type {string} */ ownerKey) => write(OWNER, { streamId, ownerKey });
export function clearOwner() {
  try {
    localStorage.removeItem(OWNER);
  } catch {
    /* nothing to clear */
  }
}

/** @returns {{ text: string, lang?: string, title?: string } | null} */
export function loadDoc() {
  const d = read(DOC);
  return d && typeof d.text === "string" ? d : null;
}
export const saveDoc = (/** @type {{ text: string, lang: string, title: string }} */ doc) => write(DOC, doc);

/** @returns {"light" | "dark" | null} */
export const loadTheme = () => {
  const t = read(THEME);
  return t === "light" || t === "dark" ? t : null;
};
export const saveTheme = (/** @type {string} */ t) => write(THEME, t);

// the "Record this stream" setting, per stream (a resumed or reloaded stream shows its own)
const recordKey = (/** @type {string} */ streamId) => `codestream.record.${streamId}`;
/** @returns {boolean} on unless this stream's setting was turned off */
export const loadRecord = (/** @type {string} */ streamId) => read(recordKey(streamId)) !== false;
export const saveRecord = (/** @type {string} */ streamId, /** @type {boolean} */ record) => write(recordKey(streamId), record);
