// Build the two pages into dist/: one esbuild run with two entry points and code splitting, so
// the watcher's first load carries only what it needs (languages load on demand).
// Works offline after `npm ci`. Reads the optional app.config.json {"apiBase": "https://..."}.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");

function readApiBase() {
  const file = join(here, "app.config.json");
  if (!existsSync(file)) return "";
  const { apiBase = "" } = JSON.parse(readFileSync(file, "utf8"));
  if (apiBase === "") return "";
  const url = new URL(apiBase); // throws on garbage: a broken deploy should fail here, not in a browser
  if (url.protocol !== "https:" && url.hostname !== "localhost" && url.hostname !== "127.0.0.1") {
    throw new Error(`apiBase must be https: ${apiBase}`);
  }
  return url.origin + url.pathname.replace(/\/+$/, "");
}

const apiBase = readApiBase();
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
cpSync(join(here, "public"), dist, { recursive: true });

const result = await build({
  entryPoints: { streamer: join(here, "src/streamer.js"), watcher: join(here, "src/watcher.js") },
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

// Headers: the CSP may need the Function App's origin when the API lives elsewhere.
const swa = JSON.parse(readFileSync(join(here, "staticwebapp.config.json"), "utf8"));
if (apiBase) {
  const csp = swa.globalHeaders["Content-Security-Policy"];
  swa.globalHeaders["Content-Security-Policy"] = csp.replace("connect-src 'self'", `connect-src 'self' ${new URL(apiBase).origin}`);
}
writeFileSync(join(dist, "staticwebapp.config.json"), JSON.stringify(swa, null, 2) + "\n");

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
  const files = [join(dist, html), join(dist, "app.css"), ...[...seen].map((p) => join(here, p))];
  let raw = 0;
  let gz = 0;
  for (const f of files) {
    const data = readFileSync(f);
    raw += data.length;
    gz += gzipSync(data, { level: 9 }).length;
  }
  return { files: files.length, bytes: raw, gzipBytes: gz };
}
const report = { watcher: firstLoad("watcher", "watch.html"), streamer: firstLoad("streamer", "index.html") };
writeFileSync(join(dist, "size-report.json"), JSON.stringify(report, null, 2) + "\n");
const hash = createHash("sha256").update(JSON.stringify(result.metafile.outputs)).digest("hex").slice(0, 12);
console.log(`built dist/ (${hash}) apiBase=${apiBase || "(same origin)"}`);
for (const [page, r] of Object.entries(report)) {
  console.log(`  ${page} first load: ${r.files} files, ${(r.bytes / 1024).toFixed(1)} KiB, ${(r.gzipBytes / 1024).toFixed(1)} KiB gzipped`);
}
