"""The whole product in a real browser: a streamer types, watchers follow, through joins,
network drops, a reload, a 2 MB file and the end of the stream."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from harness.pages import NetworkCut, Problems, WatcherPage, new_streamer

pytestmark = pytest.mark.e2e

PROGRAM_HEAD = 'def greet(name: str) -> str:\n"""Say hello in two languages."""\n'
PASTED = (
    "class Counter:\n"
    "    def __init__(self):\n"
    "        self.n = 0\n"
    "\n"
    "    def bump(self, by=1):\n"
    "        self.n += by\n"
    "        return self.n\n"
)
UNICODE_LINE = 'return f"héllo, {name} — こんにちは 😀👩‍💻"'


@pytest.mark.timeout(600)  # a loaded 2-core CI machine is slow; every wait inside is bounded
def test_watchers_follow_the_streamer(browser: Browser, app_url: str) -> None:
    problems = Problems()
    s_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    streamer_net = NetworkCut(s_ctx)
    streamer = new_streamer(s_ctx, app_url)
    problems.watch(streamer.page, "streamer", allow=("WebSocket", "ERR_INTERNET_DISCONNECTED"))
    link = streamer.share_link
    assert link.startswith(app_url + "/watch.html#")
    stream_id = streamer.state()["streamId"]
    assert link.endswith(stream_id)

    # watcher A: from the start
    a_ctx = browser.new_context()
    a = WatcherPage(a_ctx.new_page())
    problems.watch(a.page, "watcher A")
    a.open(link)
    a.wait_doc(streamer.doc())

    # watcher C: its network will be cut mid-stream
    c_ctx = browser.new_context()
    cut = NetworkCut(c_ctx)
    c = WatcherPage(c_ctx.new_page())
    # the SDK logs the refused reconnects while the network is down; nothing else may fail
    problems.watch(c.page, "watcher C", allow=("WebSocket", "ERR_INTERNET_DISCONNECTED"))
    c.open(link)

    # the streamer types a program: clear, type, delete, undo, paste, non-ASCII and emoji
    kb = streamer.page.keyboard
    streamer.focus_editor()
    kb.press("Control+a")
    kb.press("Backspace")
    kb.type(PROGRAM_HEAD)
    kb.type("# TODO: remove me")
    for _ in range(len(" remove me")):
        kb.press("Backspace")
    kb.press("Enter")

    cut.cut()
    c.expect_status("reconnecting")
    kb.type(UNICODE_LINE)
    kb.press("Enter")
    kb.press("Control+Home")
    kb.type("#!/usr/bin/env python3\n")
    kb.press("Control+End")
    kb.press("Enter")
    streamer.paste(PASTED)
    streamer.wait_sent()
    assert c.doc() != streamer.doc(), "the cut watcher cannot have seen the latest edits"

    # watcher B joins late, while C is still cut off
    b_ctx = browser.new_context()
    b = WatcherPage(b_ctx.new_page())
    problems.watch(b.page, "watcher B")
    b.open(link)

    kb.type("oops_undo_me")
    kb.press("Control+z")
    cut.restore()
    c.expect_status("live")
    assert cut.refused > 0, "the cut really refused reconnects"

    # a watcher's keystrokes change nothing anywhere
    a.page.locator(".cm-content").click()
    a.page.keyboard.type("HACKED")
    a.page.keyboard.press("Backspace")
    a.page.keyboard.press("Enter")

    kb.type("\nprint(Counter().bump())")
    streamer.wait_sent()
    final = streamer.doc()
    assert final.startswith("#!/usr/bin/env python3\ndef greet(name: str) -> str:")
    assert "# TODO:" in final
    assert "remove me" not in final
    assert "こんにちは 😀👩‍💻" in final
    assert "class Counter:" in final
    assert "return self.n" in final
    assert "oops_undo_me" not in final
    assert "HACKED" not in final
    for w in (a, b, c):
        w.wait_doc(final)
        assert "HACKED" not in w.doc()
    # the streamer's cursor is drawn for the watchers
    expect(a.page.locator(".cm-remote-caret")).to_have_count(1)

    # the streamer's own network drops: it keeps typing, and everything arrives afterwards
    streamer_net.cut()
    streamer.expect_status("reconnecting")
    kb.type("\n# typed while offline: ünïcode ✓")
    assert streamer.state()["queued"] > 0
    streamer_net.restore()
    streamer.expect_status("live")
    streamer.wait_sent()
    final = streamer.doc()
    assert final.endswith("# typed while offline: ünïcode ✓")
    for w in (a, b, c):
        w.wait_doc(final)
        w.expect_status("live")

    # the streamer reloads: same stream, same link, same document, and it goes on
    streamer.page.reload()
    streamer.expect_status("live")
    assert streamer.share_link == link
    assert streamer.doc() == final
    streamer.focus_editor()
    kb.press("Control+End")
    kb.type("\n# after reload ✓")
    streamer.wait_sent()
    after_reload = streamer.doc()
    for w in (a, b, c):
        w.wait_doc(after_reload)

    # a 2 MB file: split into many deltas, then a late joiner gets it as chunked snapshots
    line = "const row = {id: 12345, label: 'ünïcödé ✓', emoji: '🚀'}; // padding padding\n"
    big = line * (2 * 1024 * 1024 // len(line.encode()) + 1)
    streamer.focus_editor()
    kb.press("Control+End")
    streamer.paste(big)
    streamer.wait_sent(timeout=60_000)
    huge = streamer.doc()
    assert len(huge.encode()) > 2 * 1024 * 1024
    for w in (a, b, c):
        w.wait_doc(huge, timeout=60_000)
    d = WatcherPage(browser.new_context().new_page())
    problems.watch(d.page, "watcher D")
    d.open(link)
    d.wait_doc(huge, timeout=60_000)

    # ending the stream shows "ended" to every watcher
    streamer.page.once("dialog", lambda dialog: dialog.accept())
    streamer.page.get_by_role("button", name="End stream").click()
    streamer.expect_status("ended")
    for w in (a, b, c, d):
        w.expect_status("ended")
        expect(w.status).to_have_text("Stream ended")

    assert problems.items == []
