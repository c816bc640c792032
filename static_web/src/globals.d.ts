// Names the pages see that no module declares.

/** build.mjs defines it from the optional app.config.json (esbuild `define`). */
declare const __API_BASE__: string | undefined;

interface Window {
  /** The pages' read-only test and debugging hook (streamer.js, watcher.js). */
  codestream?: unknown;
}
