"""The pages and every file of the built client carry the CSP and the security headers, as
Static Web Apps serves them (the dev host reads the same staticwebapp.config.json); the
config itself and paths outside the build are not served; the bundle holds no secret."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.config import DEFAULT_ACCESS_KEY
from harness.devhost import RunningDevHost, start_devhost
from harness.processes import REPO_ROOT

pytestmark = pytest.mark.integration

DIST = REPO_ROOT / "static_web" / "dist"
SOURCE_CONFIG = REPO_ROOT / "static_web" / "staticwebapp.config.template.json"
HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
CSP_EXACT = {
    "default-src": ["'none'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
    "frame-ancestors": ["'none'"],
}


@pytest.fixture(scope="module")
def site() -> Iterator[RunningDevHost]:
    if not (DIST / "index.html").is_file():
        pytest.fail("static_web/dist is not built: run `make build` (npm ci && npm run build)")
    with start_devhost(static_dir=DIST) as host:
        yield host


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (loopback)
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def built_files() -> list[str]:
    return sorted(
        "/" + p.relative_to(DIST).as_posix()
        for p in DIST.rglob("*")
        if p.is_file() and p.name != "staticwebapp.config.json" and not p.name.startswith(".")
    )


def check_security_headers(
    headers: dict[str, str], emulator_port: int, framed: bool = False
) -> None:
    """`framed`: the embed page, which any site may frame (and nothing else is relaxed)."""
    for name, value in HEADERS.items():
        if framed and name == "x-frame-options":
            assert name not in headers
            continue
        assert headers.get(name) == value, name
    assert "max-age=" in headers["strict-transport-security"]
    assert "camera=()" in headers["permissions-policy"]
    csp = headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    for name, value in CSP_EXACT.items():
        if framed and name == "frame-ancestors":
            assert directives[name] == ["*"]
            continue
        assert directives[name] == value, name
    assert sorted(directives["connect-src"]) == sorted(
        ["'self'", "wss://*.webpubsub.azure.com", f"ws://127.0.0.1:{emulator_port}"]
    )
    unframed = csp.replace("frame-ancestors *", "frame-ancestors 'none'") if framed else csp
    for word in ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "http:", "https:"):
        assert word not in unframed.split(), word


def test_every_page_and_file_carries_the_headers(site: RunningDevHost) -> None:
    paths = ["/", "/index.html", "/watch.html", "/watch.html?s=abcdefabcdef12", *built_files()]
    assert any(p.startswith("/assets/") for p in paths)
    for path in paths:
        status, headers, _body = fetch(site.url + path)
        assert status == 200, path
        check_security_headers(headers, site.emulator_port, framed=path == "/embed.html")
        assert headers["content-type"].split(";")[0] in (
            "text/html", "text/javascript", "application/javascript", "text/css",
            "image/svg+xml", "application/json", "image/png", "image/x-icon",
        ), (path, headers["content-type"])  # fmt: skip


@pytest.mark.parametrize(
    "path",
    [
        "/no-such-page",
        "/staticwebapp.config.json",  # the config is for the host, not for browsers
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fpyproject.toml",
        "/assets/../../package.json",
    ],
)
def test_what_is_not_in_the_build_is_not_served(site: RunningDevHost, path: str) -> None:
    status, headers, body = fetch(site.url + path)
    assert status == 404
    check_security_headers(headers, site.emulator_port)
    assert b"root:" not in body
    assert b"[project]" not in body
    assert b"globalHeaders" not in body


def test_pages_need_nothing_inline() -> None:
    for page in ("index.html", "watch.html"):
        html = (DIST / page).read_text()
        for tag in re.findall(r"<script\b[^>]*>", html, re.IGNORECASE):
            assert "src=" in tag, f"inline script in {page}: {tag}"
        assert not re.search(r"<style\b", html, re.IGNORECASE), page
        assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE), f"inline handler in {page}"
        assert not re.search(r"\sstyle\s*=", html, re.IGNORECASE), f"inline style in {page}"
        assert "http://" not in html
        assert "https://" not in html.replace("https://codemirror.net", "")


def test_the_bundle_holds_no_secret() -> None:
    forbidden = ["AccessKey=", DEFAULT_ACCESS_KEY, "OwnerKeySecret", "PRIVATE KEY", "sig="]
    for path in DIST.rglob("*"):
        if path.is_file() and path.suffix in (".js", ".html", ".css", ".json", ".map"):
            text = path.read_text(errors="replace")
            for word in forbidden:
                assert word not in text, f"{word!r} in {path.relative_to(DIST)}"


def test_the_build_keeps_the_source_headers() -> None:
    built = json.loads((DIST / "staticwebapp.config.json").read_text())["globalHeaders"]
    source = json.loads(Path(SOURCE_CONFIG).read_text())["globalHeaders"]
    assert set(built) == set(source)
    for name, value in source.items():
        if name != "Content-Security-Policy":  # an apiBase deploy adds its origin there
            assert built[name] == value
    assert built["Content-Security-Policy"].startswith(source["Content-Security-Policy"][:40])
    # the routes too (/embed.html's replaces the CSP: it gets the same API origin, if any)
    built_routes = json.loads((DIST / "staticwebapp.config.json").read_text())["routes"]
    source_routes = json.loads(Path(SOURCE_CONFIG).read_text())["routes"]
    assert [r["route"] for r in built_routes] == [r["route"] for r in source_routes]
    for built_route, source_route in zip(built_routes, source_routes, strict=True):
        for name, value in source_route.get("headers", {}).items():
            if name != "Content-Security-Policy":
                assert built_route["headers"][name] == value
