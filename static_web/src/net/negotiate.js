// POST {apiBase}/api/negotiate (protocol.md): a new stream, a resumed one, or a watcher.
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
      headers: { "content-type": "application/json" },
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
