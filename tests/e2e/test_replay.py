"""The player in real Chromium against the dev host and Azurite: a recording uploaded with
known times replays to the exact document at chosen times, deep links open at a time or a
marker, the embed page shows it, and a deleted recording is gone for everyone (a page that
had it open, at its next read, and a fresh one). One dev host and one browser per module."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from harness.browser import EMULATOR_ARGS
from harness.devhost import Peer, RunningDevHost, start_devhost
from harness.pages import TIMEOUT_MS, Problems, StreamerPage, WatcherPage

pytestmark = pytest.mark.e2e

# (dt ms after t0, insert at the end): the documents after each are known exactly
EDITS = [(0, "a"), (1000, "b"), (2000, "c"), (30_000, "d"), (31_000, "e")]
MARKER_DT = 30_000  # "step 2" labels the document after "d"


def call(method: str, url: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    req.add_header(
        "Content-Type", "text/plain;charset=UTF-8" if key is None else "application/json"
    )
    if key is not None:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture(scope="module")
def host() -> Iterator[RunningDevHost]:
    with start_devhost(emulator_args=EMULATOR_ARGS) as h:
        yield h


@pytest.fixture(scope="module")
def recorded(host: RunningDevHost) -> tuple[str, str, int]:
    """An ended recording uploaded as the streamer page would: (stream id, owner key, t0)."""
    status, answer = call("POST", f"{host.url}/api/negotiate", {})
    assert status == 200, answer
    sid, key = answer["streamId"], answer["ownerKey"]
    epoch = "e" + secrets.token_hex(4)
    t0 = int(time.time() * 1000) - 60_000
    base = f"{host.url}/api/streams/{sid}"
    kf = {"epoch": epoch, "v": 0, "t": t0, "doc": "", "lang": "python", "title": "replay test"}
    assert call("POST", f"{base}/keyframes", kf, key)[0] == 200
    deltas = [[dt, [[i, i, ch]], [i + 1, i + 1]] for i, (dt, ch) in enumerate(EDITS)]
    seg = {"epoch": epoch, "from": 1, "to": len(EDITS), "t0": t0, "deltas": deltas,
           "controls": [[MARKER_DT, {"marker": "step 2"}], [31_000, {"ended": True}]]}  # fmt: skip
    status, answer = call("POST", f"{base}/segments", seg, key)
    assert status == 200, answer
    return sid, key, t0


def doc_at(ms: int) -> str:
    return "".join(ch for dt, ch in EDITS if dt <= ms)


@pytest.fixture(scope="module")
def page(browser: Browser) -> Iterator[tuple[Page, Problems]]:
    ctx = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    problems = Problems()
    p = ctx.new_page()
    problems.watch(p, "watcher", allow=("410",))
    yield p, problems
    ctx.close()


def player(p: Page) -> dict[str, Any]:
    state: dict[str, Any] = p.evaluate("() => window.codestream.player")
    return state


def test_replay_times_markers_speed_embed_delete(
    host: RunningDevHost, recorded: tuple[str, str, int], page: tuple[Page, Problems]
) -> None:
    sid, key, _t0 = recorded
    p, problems = page
    w = WatcherPage(p)
    # a fresh watcher of an ended stream sees the final document
    w.open(f"{host.url}/watch.html#{sid}", expect_state="ended")
    w.wait_doc(doc_at(10**9))
    expect(p.locator("#player")).to_be_visible()
    # a deep link to a time: the document after every delta at or before it, exactly
    for t, ms in (("0:01", 1000), ("5", 5000), ("0:30", 30_000)):
        p.goto(f"{host.url}/watch.html#{sid}&t={t}")
        p.reload()
        w.wait_doc(doc_at(ms))
        expect(p.locator("#scrub")).to_have_attribute(
            "aria-valuetext", f"{ms // 60000}:{ms // 1000 % 60:02d} of 0:31"
        )
    # a marker deep link opens at the marker; the marker is on the timeline
    p.goto(f"{host.url}/watch.html#{sid}&m=1")
    p.reload()
    w.wait_doc(doc_at(MARKER_DT))
    expect(p.get_by_role("button", name="Marker 1: step 2 at 0:30")).to_be_visible()
    # keyboard: Home, then → five seconds on; Shift+→ the next marker
    p.locator("#scrub").focus()
    p.keyboard.press("Home")
    w.wait_doc("a")
    p.keyboard.press("ArrowRight")
    w.wait_doc(doc_at(5000))
    p.keyboard.press("Shift+ArrowRight")
    w.wait_doc(doc_at(MARKER_DT))
    # speed and skip idle: 8x with idle skipped plays 0:03..0:30 (27 s idle) in about a second
    p.keyboard.press("ArrowLeft")  # 0:25
    p.select_option("#speed", "8")
    p.check("#skip-idle")
    p.locator("#scrub").focus()
    p.keyboard.press("Home")
    started = time.monotonic()
    p.keyboard.press("k")
    w.wait_doc(doc_at(10**9), timeout=10_000)
    took = time.monotonic() - started
    assert took < 5, f"8x with idle skipped took {took:.1f} s for a 31 s recording"
    assert player(p)["speed"] == 8
    assert player(p)["skipIdle"] is True
    # downloads: the final file (named by title and language) and the recording
    with p.expect_download() as dl:
        p.get_by_role("button", name="Download file").click()
    assert dl.value.suggested_filename == "replay_test.py"
    assert Path(dl.value.path()).read_text() == doc_at(10**9)
    with p.expect_download() as dl:
        p.get_by_role("link", name="Download recording").click()
    assert dl.value.suggested_filename == f"codestream-{sid}.jsonl"
    lines = Path(dl.value.path()).read_text().splitlines()
    assert [json.loads(x)["type"] for x in lines] == ["recording", "keyframe", "segment"]
    # a link at this time: the playhead's offset
    p.locator("#scrub").focus()
    p.keyboard.press("Home")
    p.keyboard.press("ArrowRight")
    w.wait_doc(doc_at(5000))
    p.get_by_role("button", name="Copy link at this time").click()
    copied = p.evaluate("() => navigator.clipboard.readText()")
    assert copied == f"{host.url}/watch.html#{sid}&t=0:05"
    # the embed page replays too, with a link out to the full page
    p.goto(f"{host.url}/embed.html#{sid}&t=0:02")
    w.wait_doc(doc_at(2000))
    expect(p.locator("#open-full")).to_have_attribute("href", f"/watch.html#{sid}&t=0:02")
    # deleted: the open page says so at its next read, and so does a fresh one
    p.goto(f"{host.url}/watch.html#{sid}")
    p.reload()
    w.wait_doc(doc_at(10**9))
    assert call("DELETE", f"{host.url}/api/streams/{sid}", None, key)[0] == 204
    p.locator("#scrub").focus()
    p.keyboard.press("Home")
    expect(p.get_by_role("alert")).to_have_text("This recording was deleted.", timeout=TIMEOUT_MS)
    p.reload()
    expect(p.get_by_role("alert")).to_have_text("This recording was deleted.", timeout=TIMEOUT_MS)
    assert w.doc() == ""
    assert not [x for x in problems.items if "410" not in x and "404" not in x], problems.items


def test_rewind_while_live_then_jump_to_live(host: RunningDevHost, browser: Browser) -> None:
    """A live watcher scrubs back to the start: the editor shows the document of then while the
    stream goes on underneath; "Jump to live" (or L) shows the live document at once. The
    embed page streams the same stream live."""
    problems = Problems()
    streamer_ctx, watcher_ctx = browser.new_context(), browser.new_context()
    try:
        streamer = StreamerPage(streamer_ctx.new_page()).open(host.url)
        problems.watch(streamer.page, "streamer")
        streamer.focus_editor()
        streamer.page.keyboard.type("one\n")
        streamer.wait_sent()
        wp = watcher_ctx.new_page()
        problems.watch(wp, "watcher")
        w = WatcherPage(wp).open(streamer.share_link)
        w.wait_doc(streamer.doc())
        expect(wp.locator("#player")).to_have_attribute("data-mode", "live")
        # back to the start of the timeline: the first document the watcher knows
        wp.locator("#scrub").focus()
        wp.keyboard.press("Home")
        expect(wp.locator("#player")).to_have_attribute("data-mode", "replay")
        rewound = w.doc()
        streamer.page.keyboard.type("two\nthree\n")
        streamer.wait_sent()
        final = streamer.doc()
        # the live state keeps up underneath (the machine's version moves), the editor does not
        wp.wait_for_function(
            "v => window.codestream.state.v === v", arg=streamer.state()["v"], timeout=TIMEOUT_MS
        )
        assert w.doc() == rewound
        assert final.startswith(rewound)
        assert final != rewound
        jump = wp.get_by_role("button", name="Jump to live")
        expect(jump).to_be_enabled()
        jump.click()
        assert w.doc() == final  # at once: no wait, the live document was kept
        expect(wp.locator("#player")).to_have_attribute("data-mode", "live")
        streamer.page.keyboard.type("four")
        streamer.wait_sent()
        w.wait_doc(streamer.doc())
        # "L" from a rewound position also returns to the live edge
        wp.locator("#scrub").focus()
        wp.keyboard.press("Home")
        wp.keyboard.press("l")
        w.wait_doc(streamer.doc())
        expect(wp.locator("#player")).to_have_attribute("data-mode", "live")
        # keys in the read-only editor move the watcher's own cursor: no seek, still live
        wp.locator(".cm-content").click()
        for key in ("k", "K", "ArrowLeft", "Shift+ArrowLeft", "Space", "Home"):
            wp.keyboard.press(key)
        assert player(wp)["mode"] == "live"
        streamer.page.keyboard.type(" six")
        streamer.wait_sent()
        w.wait_doc(streamer.doc())
        # the embed page streams live: its player loads once visible, then follows the edits
        sid = streamer.state()["streamId"]
        ep = watcher_ctx.new_page()
        problems.watch(ep, "embed")
        embed = WatcherPage(ep).open(f"{host.url}/embed.html#{sid}")
        embed.wait_doc(streamer.doc())
        streamer.page.keyboard.type(" five")
        streamer.wait_sent()
        embed.wait_doc(streamer.doc())
        expect(ep.locator("#open-full")).to_have_attribute("href", f"/watch.html#{sid}")
        assert not problems.items, problems.items
    finally:
        streamer_ctx.close()
        watcher_ctx.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop in its own thread, for protocol-level peers beside the sync Playwright."""
    lp = asyncio.new_event_loop()
    thread = threading.Thread(target=lp.run_forever, daemon=True)
    thread.start()
    yield lp
    lp.call_soon_threadsafe(lp.stop)
    thread.join(5)


def test_live_markers_reach_the_timeline_at_once(
    host: RunningDevHost, browser: Browser, loop: asyncio.AbstractEventLoop
) -> None:
    """A marker the streamer drops while live (a `control` with `marker`) is on an open
    watcher's timeline at once, labelled; clicking it seeks there."""

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(15)

    streamer = Peer(host)
    run(streamer.open())
    sid = streamer.stream_id
    kf = {"epoch": "live1", "v": 0, "t": int(time.time() * 1000), "doc": "x = 1\n"}
    assert call("POST", f"{host.url}/api/streams/{sid}/keyframes", kf, streamer.owner_key)[0] == 200
    ctx = browser.new_context()
    try:
        wp = ctx.new_page()
        w = WatcherPage(wp)
        wp.goto(f"{host.url}/watch.html#{sid}")
        w.wait_doc("x = 1\n")
        wp.wait_for_function("() => window.codestream.state.connection === 'connected'")
        run(streamer.send_event("control", {"streamId": sid, "marker": " intro "}))
        marker = wp.locator("#scrub-markers .marker")
        expect(marker).to_have_count(1)
        expect(marker).to_have_attribute("aria-label", re.compile(r"^Marker 1: intro at 0:\d\d$"))
        markers = wp.evaluate("() => window.codestream.markers")
        assert [(m["n"], m["label"], m["live"]) for m in markers] == [(1, "intro", True)]
    finally:
        ctx.close()
        run(streamer.close())
