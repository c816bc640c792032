"""What each page promises besides streaming: headers, presence, statuses, keyboard use,
labels, the phone layout, and the README screenshots."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from harness.browser import DIST
from harness.pages import Problems, StreamerControls, StreamerPage, WatcherPage, new_streamer
from harness.processes import REPO_ROOT

pytestmark = pytest.mark.e2e

SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
DEMO = '''"""A tiny inventory service, streamed live."""
from dataclasses import dataclass, field


@dataclass
class Item:
    name: str
    price: float
    tags: list[str] = field(default_factory=list)


def total(items: list[Item]) -> float:
    # sum of the prices, rounded to cents
    return round(sum(i.price for i in items), 2)


if __name__ == "__main__":
    cart = [Item("café ☕", 3.5, ["drink"]), Item("croissant 🥐", 2.25)]
    print(f"total: {total(cart)} €")
'''


def headers_of(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (loopback)
        return {k.lower(): v for k, v in resp.headers.items()}


@pytest.mark.parametrize("path", ["/", "/watch.html", "/assets/watcher.js"])
def test_security_headers(app_url: str, path: str) -> None:
    h = headers_of(app_url + path)
    csp = h["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"


def test_presence_statuses_and_controls(browser: Browser, app_url: str) -> None:
    problems = Problems()
    s_ctx = browser.new_context()
    s_ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)
    streamer = new_streamer(s_ctx, app_url)
    problems.watch(streamer.page, "streamer")
    page = streamer.page

    # every control has a name a screen reader can say
    for role, name in [
        ("textbox", "Stream title"),
        ("combobox", "Language"),
        ("textbox", "Share link"),
        ("button", "Copy link"),
        ("button", "End stream"),
        ("button", "Dark theme"),
        ("textbox", "Code editor (your stream)"),
    ]:
        expect(page.get_by_role(role, name=name)).to_have_count(1)
    expect(page.get_by_role("status")).to_have_text("Live")

    # Tab indents inside the editor; Escape then Tab leaves it (no keyboard trap)
    streamer.focus_editor()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "editor"
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") != "editor"

    # the share link is copied with the keyboard alone
    page.get_by_role("textbox", name="Share link").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Copy link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#copy-link")).to_have_text("Copied!")
    assert page.evaluate("() => navigator.clipboard.readText()") == streamer.share_link

    # language and title reach watchers, live and in the snapshot of a late one
    watchers = []
    for name in ("w1", "w2"):
        w = WatcherPage(browser.new_context().new_page()).open(streamer.share_link)
        problems.watch(w.page, name)
        watchers.append(w)
    expect(page.locator("#watchers")).to_have_text("2 watching")
    page.get_by_role("combobox", name="Language").select_option("rust")
    page.get_by_role("textbox", name="Stream title").fill("Rust live")
    for w in watchers:
        expect(w.page.locator("#lang")).to_have_text("Rust")
        expect(w.page.locator("#title")).to_have_text("Rust live")

    # the theme switch is a labelled toggle
    theme = page.get_by_role("button", name="Dark theme")
    before = theme.get_attribute("aria-pressed")
    theme.click()
    expect(theme).not_to_have_attribute("aria-pressed", before)

    # presence: a watcher leaves; then the streamer goes away and comes back. Counts are
    # asked for, coalesced: at connect, after joins, and every 30 s (the leave shows then, or
    # at the next connect, as here)
    watchers[1].page.context.close()
    w = watchers[0]
    page.close()
    w.expect_status("offline")
    expect(w.status).to_have_text("Streamer offline")
    first_tab = StreamerPage(s_ctx.new_page()).open(app_url)
    w.expect_status("live")
    expect(first_tab.page.locator("#watchers")).to_have_text("1 watching")
    # a second tab of the same browser takes the stream over; the first one stops streaming
    streamer2 = StreamerPage(s_ctx.new_page()).open(app_url)
    first_tab.expect_status("moved")
    assert streamer2.share_link == first_tab.share_link
    streamer2.focus_editor()
    streamer2.page.keyboard.type("fn main() {}\n")
    streamer2.wait_sent()
    w.wait_doc(streamer2.doc())
    # batching: in a burst of 50 keystrokes the first goes at once, then one delta per window
    v0 = streamer2.state()["v"]
    elapsed_ms = streamer2.page.evaluate(
        """() => {
            const t0 = performance.now();
            const view = window.codestream.view;
            for (let i = 0; i < 50; i++) {
                const end = view.state.doc.length;
                view.dispatch({changes: {from: end, insert: String(i % 10)},
                               selection: {anchor: end + 1}, userEvent: "input.type"});
            }
            return performance.now() - t0;
        }"""
    )
    streamer2.wait_sent()
    deltas = streamer2.state()["v"] - v0
    assert 2 <= deltas <= 2 + elapsed_ms // 40, (deltas, elapsed_ms)
    assert deltas < 50
    w.wait_doc(streamer2.doc())
    assert w.doc().endswith("0123456789" * 5)
    # a watcher's copy-all and download give exactly the document
    w.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)
    w.page.get_by_role("button", name="Copy all").click()
    assert w.page.evaluate("() => navigator.clipboard.readText()") == streamer2.doc()
    with w.page.expect_download() as dl:
        w.page.get_by_role("button", name="Download").click()
    assert dl.value.suggested_filename == "Rust_live.rs"
    assert Path(dl.value.path()).read_text(encoding="utf-8") == streamer2.doc()
    assert problems.items == []


def test_link_without_stream(browser: Browser, app_url: str) -> None:
    page = browser.new_context().new_page()
    page.goto(app_url + "/watch.html")
    expect(page.locator("#title")).to_have_text("No stream in this link")
    expect(page.locator("#missing")).to_be_visible()


@pytest.mark.parametrize(
    ("label", "viewport", "mobile", "scheme"),
    [
        ("desktop", {"width": 1280, "height": 760}, False, "dark"),
        ("desktop-light", {"width": 1280, "height": 760}, False, "light"),
        ("phone", {"width": 390, "height": 780}, True, "dark"),
    ],
)
def test_layout_and_screenshots(
    browser: Browser,
    app_url: str,
    tmp_path: Path,
    label: str,
    viewport: dict,
    mobile: bool,
    scheme: str,
) -> None:
    """Both pages fit the screen (no sideways scrolling on a phone); with
    CODESTREAM_SCREENSHOTS=1 the pictures are written to docs/screenshots for the README."""
    out = SCREENSHOTS if os.environ.get("CODESTREAM_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    opts = {"viewport": viewport, "is_mobile": mobile, "has_touch": mobile, "color_scheme": scheme}
    s_ctx = browser.new_context(**opts)
    streamer = new_streamer(s_ctx, app_url)
    assert streamer.page.evaluate("() => document.documentElement.dataset.theme") == scheme
    streamer.page.get_by_role("textbox", name="Stream title").fill("Inventory service")
    streamer.focus_editor()
    streamer.page.keyboard.press("Control+a")
    streamer.paste(DEMO)
    watcher = WatcherPage(browser.new_context(**opts).new_page()).open(streamer.share_link)
    streamer.page.keyboard.press("Control+Home")
    for _ in range(12):
        streamer.page.keyboard.press("ArrowDown")
    streamer.page.keyboard.press("End")
    streamer.page.keyboard.press("Shift+Home")
    streamer.wait_sent()
    watcher.wait_doc(streamer.doc())
    expect(watcher.page.locator("#title")).to_have_text("Inventory service")
    expect(streamer.page.locator("#watchers")).to_have_text("1 watching")
    expect(watcher.page.locator(".cm-remote-sel")).not_to_have_count(0)
    # a marker, so that the pictures show it on the watcher's timeline and in the streamer's list
    StreamerControls(streamer).drop_marker("step 1: the model")
    expect(
        watcher.page.get_by_role("button", name=re.compile(r"^Marker 1: step 1: the model at "))
    ).to_be_visible()
    for name, page in (("streamer", streamer.page), ("watcher", watcher.page)):
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {label} width"
        for button in page.get_by_role("button").all():
            if button.is_visible():
                box = button.bounding_box()
                assert box["x"] >= 0
                assert box["x"] + box["width"] <= viewport["width"]
        page.screenshot(path=str(out / f"{name}-{label}.png"))
    # the resume panels fit too, and are used with the keyboard: Escape closes them
    page = streamer.page
    for toggle, panel in (
        ("Resume on another device", "#resume-code-panel"),
        ("Resume a stream", "#resume-form"),
    ):
        page.get_by_role("button", name=toggle).click()
        expect(page.locator(panel)).to_be_visible()
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{panel} scrolls sideways by {overflow}px at {label} width"
        for button in page.locator(panel).get_by_role("button").all():
            box = button.bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= viewport["width"], panel
        page.keyboard.press("Escape")
        expect(page.locator(panel)).to_be_hidden()
        expect(page.get_by_role("button", name=toggle)).to_be_focused()
    s_ctx.close()
    watcher.page.context.close()


def test_watcher_first_load_budget() -> None:
    """The watcher's first load (HTML, CSS, entry and its static chunks) stays small."""
    report = json.loads((DIST / "size-report.json").read_text())
    assert report["watcher"]["gzipBytes"] < 140 * 1024, report
    assert report["watcher"]["gzipBytes"] <= report["streamer"]["gzipBytes"], report


def test_misplaced_share_link_leads_to_the_watcher(browser: Browser, app_url: str) -> None:
    page = browser.new_context().new_page()
    bodies: list[str | None] = []
    page.on("request", lambda r: bodies.append(r.post_data) if "/api/negotiate" in r.url else None)
    page.goto(app_url + "/?s=AAAAbbbbCCCCdddd")
    page.wait_for_url(app_url + "/watch.html#AAAAbbbbCCCCdddd")
    expect(page.locator("#status")).not_to_have_attribute("data-state", "connecting")
    assert bodies
    assert all(json.loads(b or "{}") == {"streamId": "AAAAbbbbCCCCdddd"} for b in bodies), bodies
