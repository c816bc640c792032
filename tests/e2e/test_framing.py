"""Framing in real Chromium: a page on another origin can frame /embed.html, and cannot frame
/watch.html or /. The headers are the built site's staticwebapp.config.json as the dev host
serves it by Static Web Apps' rules (tests/infra/test_framing.py reads the same rule).

The framed page is the build's own /embed.html (static_web/public/embed.html).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser, expect

from harness.browser import DIST
from harness.devhost import start_devhost
from harness.processes import free_port
from tools.smoke import origin_of

pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def embedder(page_html: str) -> Iterator[str]:
    """Someone's blog on another origin (its own port), served from loopback like the site:
    Chromium's local network access checks block a public page's frames of a loopback site
    before any header is read, so the embedder must be local too."""

    class Blog(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page_html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Blog)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/someones-blog.html"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    if not (DIST / "staticwebapp.config.json").is_file() or not (DIST / "embed.html").is_file():
        pytest.fail("static_web/dist is not built: run `make build`")
    with start_devhost(static_dir=DIST) as host:
        yield host.url


def embedder_page(site: str) -> str:
    frames = "".join(
        f'<iframe name="{name}" src="{site}{path}" width="320" height="180"></iframe>'
        for name, path in (("embed", "/embed.html#abcdefghijkl0001"), ("watch", "/watch.html"),
                           ("index", "/"), ("watch-s", "/watch.html?s=abcdefghijkl0001"))
    )  # fmt: skip
    return f"<!doctype html><title>a blog</title><h1>Someone's blog</h1>{frames}"


def test_another_origin_frames_the_embed_page_only(browser: Browser, site: str) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        refusals: list[str] = []
        page.on("console", lambda m: refusals.append(m.text))

        page.on("requestfailed", lambda r: refusals.append(f"failed {r.url} {r.failure}"))
        with embedder(embedder_page(site)) as blog:
            assert origin_of(blog) != origin_of(site)
            page.goto(blog, wait_until="load")
        frames = {f.name: f for f in page.frames if f.name}
        assert set(frames) == {"embed", "watch", "index", "watch-s"}
        embed = frames["embed"]
        assert embed.url == f"{site}/embed.html#abcdefghijkl0001", refusals
        assert embed.evaluate("document.title").startswith("CodeStream")
        # the real page: visible in the blog, so its player loads (the editor, read-only)
        expect(embed.locator(".cm-content")).to_have_attribute("aria-readonly", "true")
        expect(embed.locator("#open-full")).to_have_attribute(
            "href", "/watch.html#abcdefghijkl0001"
        )
        for name in ("watch", "index", "watch-s"):
            blocked = frames[name]
            assert blocked.url.startswith("chrome-error://"), (name, blocked.url)
        ancestors = [r for r in refusals if "frame-ancestors" in r]
        assert len(ancestors) == 3, refusals  # one refusal per page that may not be framed
        assert not [r for r in refusals if "embed.html" in r]
        assert not [
            r for r in refusals if r.startswith("failed") and "ERR_BLOCKED_BY_RESPONSE" not in r
        ]
    finally:
        context.close()
