"""Serve the built client (static_web/dist) the way Static Web Apps would.

Headers come from dist/staticwebapp.config.json, with the local Web PubSub origin added to
every CSP's connect-src, by Static Web Apps' rules (learn.microsoft.com, "Configure Azure
Static Web Apps"): `routes` are tried in order and the first whose `route` (and `methods`, if
any) matches the request is the only one applied; its `headers` are added to `globalHeaders`,
replacing a global header of the same name, and a header whose value is "" is removed. That
is how /embed.html alone may be framed (its route replaces the CSP and removes
X-Frame-Options). `navigationFallback` and a 404 `responseOverrides` rewrite are honoured.
Without a build, every page says how to make one.
"""

from __future__ import annotations

import fnmatch
import json
import mimetypes
from pathlib import Path
from typing import Any

from aiohttp import web

CONFIG_NAME = "staticwebapp.config.json"
NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>CodeStream: not built</title>
<h1>The client is not built</h1><p>Run <code>make build</code> (or <code>make run</code>),
then reload this page.</p>"""


def add_connect_src(csp: str, origin: str) -> str:
    directives = [d.strip() for d in csp.split(";") if d.strip()]
    for i, directive in enumerate(directives):
        if directive.split()[0].lower() == "connect-src":
            if origin not in directive.split()[1:]:
                directives[i] = f"{directive} {origin}"
            break
    else:
        directives.append(f"connect-src 'self' {origin}")
    return "; ".join(directives)


def with_connect_src(headers: dict[str, str], origin: str) -> dict[str, str]:
    """`headers` with `origin` added to its CSP's connect-src (when it sets a CSP)."""
    found = dict(headers)
    for name, value in headers.items():
        if name.lower() == "content-security-policy" and value:
            found[name] = add_connect_src(value, origin)
    return found


def route_matches(pattern: str, path: str) -> bool:
    """A Static Web Apps route pattern: an exact path (`/profile/index.html` also matching
    `/profile` and `/profile/`), or a wildcard at the end (`/admin*`, `/admin/*`), optionally
    filtered by extension (`/articles/*.html`, `/images/*.{png,jpg}`)."""
    if "*" not in pattern:
        if pattern.endswith("/index.html"):
            folder = pattern.removesuffix("index.html")
            return path in (pattern, folder, folder.rstrip("/") or "/")
        return path == pattern
    prefix, _, suffix = pattern.partition("*")
    if not path.startswith(prefix) or "*" in suffix:
        return False
    if not suffix:
        return True
    if suffix.startswith(".{") and suffix.endswith("}"):
        return any(path.endswith("." + ext) for ext in suffix[2:-1].split(","))
    return path.endswith(suffix) and len(path) >= len(prefix) + len(suffix)


def response_headers(
    global_headers: dict[str, str], routes: list[dict[str, Any]], path: str, method: str
) -> dict[str, str]:
    """The global headers with the first matching route's applied: a route header replaces
    the global one of the same name (in any case), and "" removes it."""
    headers = dict(global_headers)
    for route in routes:
        methods = [m.upper() for m in route.get("methods", [])]
        if not route_matches(route.get("route", ""), path) or (methods and method not in methods):
            continue
        for name, value in route.get("headers", {}).items():
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
            if value != "":
                headers[name] = value
        break  # each request matches one rule at most
    return headers


class StaticSite:
    def __init__(self, root: Path, ws_origin: str) -> None:
        self.root = root.resolve()
        self.config: dict[str, Any] = {}
        config_path = self.root / CONFIG_NAME
        if config_path.exists():
            self.config = json.loads(config_path.read_text())
        self.global_headers = with_connect_src(self.config.get("globalHeaders", {}), ws_origin)
        self.routes: list[dict[str, Any]] = []
        for route in self.config.get("routes", []):
            if "headers" in route:
                route = {**route, "headers": with_connect_src(route["headers"], ws_origin)}
            self.routes.append(route)

    @property
    def built(self) -> bool:
        return (self.root / "index.html").is_file()

    def _file(self, path: str) -> Path | None:
        candidate = (self.root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(self.root) or candidate.name == CONFIG_NAME:
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        return candidate if candidate.is_file() else None

    def _headers(self, path: str, method: str = "GET") -> dict[str, str]:
        return response_headers(self.global_headers, self.routes, path, method)

    def _fallback(self, path: str) -> tuple[Path, int] | None:
        nav = self.config.get("navigationFallback") or {}
        rewrite = nav.get("rewrite")
        excluded = any(fnmatch.fnmatchcase(path, p) for p in nav.get("exclude", []))
        if rewrite and not excluded and (target := self._file(rewrite)):
            return target, 200
        override = (self.config.get("responseOverrides") or {}).get("404") or {}
        if override.get("rewrite") and (target := self._file(override["rewrite"])):
            return target, int(override.get("statusCode", 404))
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        if not self.built:
            return web.Response(status=503, text=NOT_BUILT, content_type="text/html")
        path = request.path
        status = 200
        target = self._file(path)
        if target is None:
            fallback = self._fallback(path)
            if fallback is None:
                return web.Response(status=404, text="not found", headers=self.global_headers)
            target, status = fallback
        headers = self._headers(path, request.method)
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type.endswith(("javascript", "json")):
            content_type += "; charset=utf-8"
        headers["Content-Type"] = content_type
        return web.Response(status=status, body=target.read_bytes(), headers=headers)


def add_static_routes(web_app: web.Application, site: StaticSite) -> None:
    web_app.router.add_route("*", "/{path:.*}", site.handle)
