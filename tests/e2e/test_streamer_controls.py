"""The streamer page's replay controls in Chromium against the dev host: markers (button and
Alt+M) reach a live watcher and the stored index exactly once; turning "Record this stream"
off prunes storage to the latest keyframe and its tail; deleting the recording makes it gone
for anyone else and stops the page's uploads; the embed code is the exact iframe markup."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from harness.pages import (
    NetworkCut,
    Problems,
    StreamerControls,
    StreamerPage,
    WatcherPage,
    new_streamer,
)

pytestmark = pytest.mark.e2e


def get(url: str) -> tuple[int, Any]:
    """GET as a separate HTTP client (no browser, no cookies): status and parsed JSON."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (loopback)
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def recording(app_url: str, stream_id: str) -> tuple[int, Any]:
    return get(f"{app_url}/api/streams/{stream_id}/recording")


class ControlFrames:
    """The `control` messages a watcher page receives over its socket."""

    def __init__(self, page: Page) -> None:
        self.controls: list[dict[str, Any]] = []
        self.sockets: list[WebSocket] = []
        page.on("websocket", self._socket)

    def _socket(self, ws: WebSocket) -> None:
        self.sockets.append(ws)
        ws.on("framereceived", self._received)

    def wait_markers(self, count: int, timeout_s: float = 20.0) -> list[str]:
        """The marker labels received, once there are `count` (Playwright dispatches the
        frames while it waits for the next one; bounded)."""
        deadline = time.monotonic() + timeout_s
        while len(self.markers()) < count and time.monotonic() < deadline:
            with contextlib.suppress(PlaywrightTimeoutError):
                self.sockets[-1].wait_for_event(
                    "framereceived", timeout=max(1.0, deadline - time.monotonic()) * 1000
                )
        return self.markers()

    def _received(self, payload: str | bytes) -> None:
        if not isinstance(payload, str):
            return
        msg = json.loads(payload)
        data = msg.get("data") if isinstance(msg, dict) else None
        if isinstance(data, dict) and data.get("type") == "control":
            self.controls.append(data)

    def markers(self) -> list[str]:
        return [c["marker"]["label"] for c in self.controls if "marker" in c]


def _type(streamer: StreamerPage, text: str) -> None:
    streamer.focus_editor()
    streamer.page.keyboard.press("Control+End")
    streamer.page.keyboard.type(text)


@pytest.mark.timeout(180)
def test_markers_record_setting_embed_and_delete(browser: Browser, app_url: str) -> None:
    problems = Problems()
    s_ctx = browser.new_context()
    s_ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)
    network = NetworkCut(s_ctx)
    streamer = new_streamer(s_ctx, app_url)
    problems.watch(streamer.page, "streamer")
    controls = StreamerControls(streamer)
    stream_id = streamer.state()["streamId"]

    w_page = browser.new_context().new_page()
    frames = ControlFrames(w_page)
    problems.watch(w_page, "watcher")
    WatcherPage(w_page).open(streamer.share_link)

    # markers: by button (its default label), by shortcut from the editor (a typed one)
    _type(streamer, "\nstep_one = 1")
    first = controls.drop_marker()
    assert first == "Marker 1"
    _type(streamer, "\nstep_two = 2")
    second = controls.drop_marker("  step 2: tests ✓  ", shortcut=True)
    assert second == "step 2: tests ✓"
    # a label the server would refuse is refused in the page, and nothing is sent
    streamer.page.get_by_role("button", name="Marker", exact=True).click()
    streamer.page.get_by_role("textbox", name="Marker label").fill("bad\u202elabel")
    streamer.page.get_by_role("textbox", name="Marker label").press("Enter")
    expect(streamer.page.locator("#marker-error")).to_contain_text("text-direction")
    streamer.page.get_by_role("button", name="Cancel", exact=True).click()
    expect(streamer.page.locator("#markers li")).to_have_count(2)

    streamer.wait_sent()
    streamer.wait_stored()
    streamer.page.wait_for_function(
        "() => window.codestream.state.markers.every(m => m.live === 'sent')", timeout=20_000
    )
    status, index = recording(app_url, stream_id)
    assert status == 200
    assert [m["label"] for m in index["markers"]] == [first, second]
    assert [m["n"] for m in index["markers"]] == [1, 2]
    assert frames.wait_markers(2) == [first, second], frames.controls

    # a marker dropped offline goes once the page is back: live once, stored once
    network.cut()
    streamer.expect_status("reconnecting")
    third = controls.drop_marker("while offline")
    _type(streamer, "\noffline = 3")
    network.restore()
    streamer.expect_status("live")
    streamer.wait_sent()
    streamer.wait_stored()
    assert frames.wait_markers(3) == [first, second, third]
    assert [m["label"] for m in recording(app_url, stream_id)[1]["markers"]] == [
        first,
        second,
        third,
    ]

    # embed code: the exact markup, from the clipboard
    streamer.page.get_by_role("button", name="Copy embed code").click()
    expected = (
        f'<iframe src="{app_url}/embed.html#{stream_id}" width="100%" height="450" '
        'loading="lazy" title="CodeStream: Live code" style="border:0"></iframe>'
    )
    assert streamer.page.evaluate("() => navigator.clipboard.readText()") == expected
    assert streamer.page.input_value("#embed-code") == expected
    href = streamer.page.get_attribute("#download-recording", "href")
    assert href == f"/api/streams/{stream_id}/recording.jsonl"

    # record off: storage keeps the latest keyframe and its tail only, markers kept
    before = recording(app_url, stream_id)[1]
    assert len(before["keyframes"]) + len(before["segments"]) >= 2
    controls.set_record(False)
    streamer.wait_stored()
    status, pruned = recording(app_url, stream_id)
    assert status == 200
    assert pruned["record"] is False
    assert len(pruned["keyframes"]) == 1
    assert pruned["keyframes"][0]["v"] == streamer.state()["finalV"]
    assert pruned["segments"] == []
    assert [m["label"] for m in pruned["markers"]] == [first, second, third]
    # what comes next is the tail after that keyframe, kept while recording is off
    _type(streamer, "\ntail = 4")
    streamer.wait_sent()
    streamer.page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")
    streamer.wait_stored()
    tail = recording(app_url, stream_id)[1]
    assert tail["keyframes"] == pruned["keyframes"]
    assert [s["from"] for s in tail["segments"]] == [pruned["keyframes"][0]["v"] + 1]
    # a reload shows the stored setting
    streamer.page.reload()
    streamer.expect_status("live")
    expect(streamer.page.get_by_role("checkbox", name="Record this stream")).not_to_be_checked()
    controls.set_record(True)
    streamer.wait_stored()
    assert recording(app_url, stream_id)[1]["record"] is True

    # delete: gone for a separate client; the page shows it and stops uploading
    controls.delete_recording()
    assert recording(app_url, stream_id)[0] == 410
    expect(streamer.page.locator("#deleted-new-stream")).to_be_focused()
    uploads = streamer.state()["uploads"]
    _type(streamer, "\nafter_delete = True")
    streamer.wait_sent()
    controls.drop_marker("after delete")
    state = streamer.state()
    assert state["deleted"] is True
    assert state["storage"] == "stopped"
    assert state["uploads"] == uploads
    assert recording(app_url, stream_id)[0] == 410
    # no marker went live twice, whatever happened meanwhile
    assert frames.wait_markers(4) == [first, second, third, "after delete"]
    assert problems.items == []


@pytest.mark.timeout(120)
def test_a_recording_deleted_elsewhere_stops_the_uploads_and_offers_a_new_stream(
    browser: Browser, app_url: str
) -> None:
    problems = Problems()
    streamer = new_streamer(browser.new_context(), app_url)
    # the page reports the refused upload on the console (409): expected here, nothing else
    problems.watch(streamer.page, "streamer", allow=("409",))
    _type(streamer, "\nstored = 1")
    streamer.wait_sent()
    streamer.wait_stored()
    owner = json.loads(streamer.page.evaluate("() => localStorage.getItem('codestream.owner')"))
    stream_id = owner["streamId"]
    # the owner deletes it from elsewhere (another device, a script): DELETE with the key
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{app_url}/api/streams/{stream_id}",
        method="DELETE",
        headers={"Authorization": f"Bearer {owner['ownerKey']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 (loopback)
        assert resp.status == 204
    _type(streamer, "\nafter = 2")
    streamer.wait_sent()
    expect(streamer.page.locator("#deleted")).to_be_visible(timeout=20_000)
    state = streamer.state()
    assert (state["deleted"], state["storage"]) == (True, "stopped")
    uploads = state["uploads"]
    _type(streamer, "\nmore = 3")
    streamer.wait_sent()
    streamer.page.get_by_role("button", name="Marker", exact=True).click()
    streamer.page.get_by_role("textbox", name="Marker label").press("Enter")
    assert streamer.state()["uploads"] == uploads
    assert recording(app_url, stream_id)[0] == 410
    # a new stream: a new id, recording again, the text kept
    text = streamer.doc()
    streamer.page.locator("#deleted-new-stream").click()
    streamer.expect_status("live")
    streamer.page.wait_for_function(
        "old => window.codestream.state.streamId && window.codestream.state.streamId !== old",
        arg=stream_id,
        timeout=20_000,
    )
    assert streamer.doc() == text
    streamer.wait_stored()
    assert recording(app_url, streamer.state()["streamId"])[0] == 200
    assert problems.items == []
