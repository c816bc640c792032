"""Serve the built client (static_web/dist) the way Static Web Apps would.

Headers come from dist/staticwebapp.config.json (`globalHeaders`, `routes[].headers`), with the
local Web PubSub origin added to the CSP's connect-src. `navigationFallback` and a 404
`responseOverrides` rewrite are honoured. Without a build, every page says how to make one.
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


class StaticSite:
    def __init__(self, root: Path, ws_origin: str) -> None:
        self.root = root.resolve()
        self.config: dict[str, Any] = {}
        config_path = self.root / CONFIG_NAME
        if config_path.exists():
            self.config = json.loads(config_path.read_text())
        headers = dict(self.config.get("globalHeaders", {}))
        csp_key = next((k for k in headers if k.lower() == "content-security-policy"), None)
        if csp_key:
            headers[csp_key] = add_connect_src(headers[csp_key], ws_origin)
        self.global_headers = headers

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

    def _headers(self, path: str) -> dict[str, str]:
        headers = dict(self.global_headers)
        for route in self.config.get("routes", []):
            pattern = route.get("route", "")
            if pattern and fnmatch.fnmatchcase(path, pattern) and "headers" in route:
                headers.update(route["headers"])
        return headers

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
        headers = self._headers(path)
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type.endswith(("javascript", "json")):
            content_type += "; charset=utf-8"
        headers["Content-Type"] = content_type
        return web.Response(status=status, body=target.read_bytes(), headers=headers)


def add_static_routes(web_app: web.Application, site: StaticSite) -> None:
    web_app.router.add_route("*", "/{path:.*}", site.handle)
