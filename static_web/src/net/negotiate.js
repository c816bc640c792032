// POST {apiBase}/api/negotiate (protocol.md): a new stream, a resumed one, or a watcher.
// A CORS-simple request (POST, a string body sent as text/plain, no custom header), so a
// browser on the Static Web App's origin sends it without a preflight; the server reads the
// body as JSON whatever its content type.
import { API_BASE } from "../config.js";

export class NegotiateError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function negotiate(body, { signal } = {}) {
  let res;
  try {
    res = await fetch(`${API_BASE}/api/negotiate`, {
      method: "POST",
      body: JSON.stringify(body),
      signal,
      credentials: "omit",
      cache: "no-store",
    });
  } catch (e) {
    throw new NegotiateError(0, "network", `negotiate failed: ${e.message}`);
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON: reported below */
  }
  if (!res.ok || !data || typeof data.url !== "string") {
    const err = data && data.error ? data.error : {};
    throw new NegotiateError(res.status, err.code || "bad_response", err.message || `negotiate answered ${res.status}`);
  }
  return data;
}
