// Build the two pages into dist/: one esbuild run with two entry points and code splitting, so
// the watcher's first load carries only what it needs (languages load on demand).
// Works offline after `npm ci`. Reads the optional app.config.json {"apiBase": "https://..."}.
// Under azd (AZURE_ENV_NAME is set: azd runs `npm run build` with its environment) the API lives
// on another origin, so a build without a valid apiBase fails instead of shipping a page that
// calls its own origin.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const CONFIG_FILE = "app.config.json";
// The one source of the headers; only the build's output may be named staticwebapp.config.json,
// because the SWA CLI searches the whole app folder for that name and keeps the last match.
const HEADERS_TEMPLATE = "staticwebapp.config.template.json";
const SWA_CONFIG = "staticwebapp.config.json";
const HOOK = "../infra/hooks/write_client_config.py";

function readApiBase() {
  const file = join(here, CONFIG_FILE);
  if (!existsSync(file)) return "";
  const { apiBase = "" } = JSON.parse(readFileSync(file, "utf8"));
  if (apiBase === "") return "";
  const url = new URL(apiBase); // throws on garbage: a broken deploy should fail here, not in a browser
  if (url.protocol !== "https:" && url.hostname !== "localhost" && url.hostname !== "127.0.0.1") {
    throw new Error(`apiBase must be https: ${apiBase}`);
  }
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/** An azd build must call the provisioned API; anything else is a broken deployment. */
function checkAzureBuild(apiBase, env) {
  if (!env.AZURE_ENV_NAME) return;
  const where = `building for Azure (azd environment ${env.AZURE_ENV_NAME})`;
  if (!apiBase) {
    throw new Error(
      `${where} without an API origin: ${CONFIG_FILE} is missing or has no apiBase. ` +
        `azd's prepackage hook writes it (${HOOK}, from SERVICE_API_URI); run \`azd provision\` then \`azd deploy web\`.`,
    );
  }
  if (env.SERVICE_API_URI && new URL(env.SERVICE_API_URI).origin !== new URL(apiBase).origin) {
    throw new Error(`${where}: ${CONFIG_FILE} names ${apiBase}, but the environment's SERVICE_API_URI is ${env.SERVICE_API_URI}; re-run ${HOOK}.`);
  }
}

let apiBase;
try {
  apiBase = readApiBase();
  checkAzureBuild(apiBase, process.env);
} catch (error) {
  console.error(`build.mjs: ${error.message}`);
  process.exit(1);
}
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
cpSync(join(here, "public"), dist, { recursive: true });

const result = await build({
  entryPoints: { streamer: join(here, "src/streamer.js"), watcher: join(here, "src/watcher.js"), embed: join(here, "src/embed.js") },
  outdir: join(dist, "assets"),
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "browser",
  target: ["es2022", "chrome100", "firefox100", "safari15.4"],
  minify: true,
  sourcemap: false,
  legalComments: "linked",
  metafile: true,
  define: { __API_BASE__: JSON.stringify(apiBase) },
  logLevel: "warning",
});

// Headers: every CSP (the global one, and a route's that replaces it, as /embed.html's does)
// needs the Function App's origin when the API lives elsewhere.
const swa = JSON.parse(readFileSync(join(here, HEADERS_TEMPLATE), "utf8"));
if (apiBase) {
  const withApi = (/** @type {Record<string, string>} */ headers) => {
    const csp = headers["Content-Security-Policy"];
    if (csp === undefined) return;
    const extended = csp.replace("connect-src 'self'", `connect-src 'self' ${new URL(apiBase).origin}`);
    if (extended === csp) throw new Error(`${HEADERS_TEMPLATE}: a CSP has no "connect-src 'self'" to extend`);
    headers["Content-Security-Policy"] = extended;
  };
  withApi(swa.globalHeaders);
  for (const route of swa.routes ?? []) if (route.headers) withApi(route.headers);
}
writeFileSync(join(dist, SWA_CONFIG), JSON.stringify(swa, null, 2) + "\n");

// First-load size of each page: its HTML, CSS, entry script and the chunks it imports statically.
function firstLoad(entry, html) {
  const outputs = result.metafile.outputs;
  const seen = new Set();
  const visit = (path) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const imp of outputs[path].imports) if (imp.kind === "import-statement") visit(imp.path);
  };
  const key = Object.keys(outputs).find((p) => outputs[p].entryPoint && p.endsWith(`assets/${entry}.js`));
  visit(key);
  const files = [join(dist, html), join(dist, "app.css"), join(dist, "player.css"), ...[...seen].map((p) => join(here, p))];
  let raw = 0;
  let gz = 0;
  for (const f of files) {
    const data = readFileSync(f);
    raw += data.length;
    gz += gzipSync(data, { level: 9 }).length;
  }
  return { files: files.length, bytes: raw, gzipBytes: gz };
}
const report = { watcher: firstLoad("watcher", "watch.html"), streamer: firstLoad("streamer", "index.html"), embed: firstLoad("embed", "embed.html") };
writeFileSync(join(dist, "size-report.json"), JSON.stringify(report, null, 2) + "\n");
const hash = createHash("sha256").update(JSON.stringify(result.metafile.outputs)).digest("hex").slice(0, 12);
console.log(`built dist/ (${hash}) apiBase=${apiBase || "(same origin)"}`);
for (const [page, r] of Object.entries(report)) {
  console.log(`  ${page} first load: ${r.files} files, ${(r.bytes / 1024).toFixed(1)} KiB, ${(r.gzipBytes / 1024).toFixed(1)} KiB gzipped`);
}
