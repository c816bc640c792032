"""Streams that outlive the streamer's tab, in a real browser against the dev host, the
emulator and Azurite: a late watcher sees the stored document while the streamer is away, a
large document joins from storage at a small cost to the streamer's uplink, the stream is
resumed in another browser with its resume code, and a storage outage never stops the live
stream while uploads catch up afterwards without overwriting anything stored."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect

from codestream import config
from codestream.history import replay
from harness.azurite import RunningAzurite, new_setup, start_azurite
from harness.browser import EMULATOR_ARGS
from harness.devhost import RunningDevHost, start_devhost
from harness.faults import WireProbe
from harness.pages import Problems, StreamerPage, WatcherPage, new_streamer

pytestmark = pytest.mark.e2e


def join_state(base_url: str, stream_id: str) -> dict[str, Any]:
    """GET /api/streams/{id}, as any watcher would (urllib asks for no compression)."""
    url = f"{base_url}/api/streams/{stream_id}"
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (loopback)
        return json.loads(resp.read())


def stored_document(base_url: str, stream_id: str) -> tuple[str, int]:
    state = join_state(base_url, stream_id)
    return replay(state["keyframe"], state["segments"])


class AnswerFrames:
    """Bytes of the `catchup` and `snapshot` events a streamer page sends: its uplink per join."""

    def __init__(self, page: Page) -> None:
        self.sizes: dict[str, list[int]] = {"catchup": [], "snapshot": []}
        page.on("websocket", self._socket)

    def _socket(self, ws: WebSocket) -> None:
        ws.on("framesent", self._sent)

    def _sent(self, payload: str | bytes) -> None:
        if not isinstance(payload, str):
            return
        for event in self.sizes:
            if payload.startswith(f'{{"type":"event","event":"{event}"'):
                self.sizes[event].append(len(payload.encode()))


def _type_at_end(streamer: StreamerPage, text: str) -> None:
    streamer.focus_editor()
    streamer.page.keyboard.press("Control+End")
    streamer.page.keyboard.type(text)


@pytest.mark.timeout(180)
def test_a_late_watcher_sees_the_stored_document_offline_then_live(
    browser: Browser, app_url: str
) -> None:
    problems = Problems()
    s_ctx = browser.new_context()
    streamer = new_streamer(s_ctx, app_url)
    problems.watch(streamer.page, "streamer")
    link, stream_id = streamer.share_link, streamer.state()["streamId"]
    _type_at_end(streamer, "\nstored = 'before the tab closed' # ✓")
    streamer.wait_sent()
    streamer.wait_stored()
    # typed right before the tab closes, in a segment not cut yet: stored only by what the page
    # does as it goes (the cut when it is hidden, the pagehide's keepalive upload; each alone
    # keeps it, as planting the loss of both, then of either, showed)
    _type_at_end(streamer, "\nlast = 'kept as the page goes' 😀")
    streamer.wait_sent()
    final = streamer.doc()
    assert stored_document(app_url, stream_id)[0] != final
    streamer.page.close()

    w_page = browser.new_context().new_page()
    probe = WireProbe(w_page)
    watcher = WatcherPage(w_page)
    problems.watch(w_page, "watcher")
    watcher.open(link, expect_state="offline")
    expect(watcher.status).to_have_text("Streamer offline")
    watcher.wait_doc(final)
    assert stored_document(app_url, stream_id)[0] == final
    assert probe.snapshots == 0, "the document came from storage, not from the streamer"

    # the streamer opens the page again: the same stream, a new epoch, and it goes on
    back = StreamerPage(s_ctx.new_page()).open(app_url)
    problems.watch(back.page, "streamer again")
    assert back.share_link == link
    watcher.expect_status("live")
    _type_at_end(back, "\nback = True")
    back.wait_sent()
    watcher.wait_doc(back.doc())
    assert back.doc() == final + "\nback = True"
    back.wait_stored()
    assert stored_document(app_url, stream_id)[0] == back.doc()
    assert problems.items == []


@pytest.mark.timeout(180)
def test_a_thousand_line_document_joins_from_storage(browser: Browser, app_url: str) -> None:
    problems = Problems()
    s_page = browser.new_context().new_page()
    frames = AnswerFrames(s_page)
    streamer = StreamerPage(s_page).open(app_url)
    problems.watch(s_page, "streamer")
    lines = [f"def line_{n:04d}(x: int) -> int:  # ünïcode ✓ {'·' * (n % 17)}" for n in range(1000)]
    streamer.focus_editor()
    streamer.page.keyboard.press("Control+a")
    streamer.paste("\n".join(lines) + "\n")
    streamer.wait_sent()
    streamer.wait_stored(timeout=30_000)
    assert streamer.doc().count("\n") == 1000
    # a little more, not stored yet: what each joiner gets from the streamer is just this
    _type_at_end(streamer, "# joined from storage")
    streamer.wait_sent()

    joins = 3
    for n in range(joins):
        w_page = browser.new_context().new_page()
        probe = WireProbe(w_page)
        problems.watch(w_page, f"watcher {n}")
        watcher = WatcherPage(w_page).open(streamer.share_link)
        watcher.wait_doc(streamer.doc())
        assert probe.snapshots == 0
        expect(w_page.locator(".cm-content")).to_contain_text("line_0000")
    assert frames.sizes["snapshot"] == []
    catchups = frames.sizes["catchup"]
    assert len(catchups) == joins, catchups
    per_join = sum(catchups) / joins
    print(
        f"\nstreamer uplink per join of a {len(streamer.doc().encode()):,}-byte document: "
        f"{per_join:.0f} bytes (catchup event frames {catchups})"
    )
    assert per_join <= 1024
    assert problems.items == []


@pytest.mark.timeout(180)
def test_resume_on_another_device_with_the_code(browser: Browser, app_url: str) -> None:
    problems = Problems()
    a = new_streamer(browser.new_context(), app_url)
    problems.watch(a.page, "first device")
    link, stream_id = a.share_link, a.state()["streamId"]
    _type_at_end(a, "\ndevice = 'the first one'")
    a.wait_sent()
    a.wait_stored()
    code = a.resume_code()
    assert code.startswith(stream_id + ".")
    assert code not in a.page.url
    watcher = WatcherPage(browser.new_context().new_page()).open(link)
    problems.watch(watcher.page, "watcher")
    watcher.wait_doc(a.doc())

    # another browser: its own new stream, until the code says otherwise
    b = new_streamer(browser.new_context(), app_url)
    # the wrong key is refused (403) and logged as a failed request; nothing else may fail
    problems.watch(b.page, "second device", allow=("403",))
    own_link = b.share_link
    assert own_link != link
    b.resume("not a code")
    expect(b.page.locator("#resume-error")).to_contain_text("not a resume code")
    wrong = stream_id + "." + "A" * 43
    b.resume(wrong)
    expect(b.page.locator("#resume-error")).to_contain_text("does not match")
    expect(b.page.get_by_role("alert")).to_be_visible()
    assert b.share_link == own_link, "a refused code changes nothing"
    b.expect_status("live")
    assert all(code not in r for r in [b.page.url])

    b.resume(code)
    expect(b.page.locator("#share")).to_have_value(link, timeout=20_000)
    b.expect_status("live")
    assert b.doc() == a.doc(), "the stored document is the starting document"
    assert b.state()["epoch"] != a.state()["epoch"]
    # the first device's connection was replaced: it stops instead of taking the stream back
    a.expect_status("moved")
    expect(a.page.locator("#moved")).to_be_visible()
    _type_at_end(b, "\ndevice = 'the second one'")
    b.wait_sent()
    watcher.wait_doc(b.doc())
    b.wait_stored()
    assert stored_document(app_url, stream_id)[0] == b.doc()
    a.expect_status("moved")
    assert problems.items == []


# ---- a storage outage ------------------------------------------------------------------


class OwnAzurite:
    """An Azurite of the test's own, stopped and started again on the same data and port."""

    def __init__(self, location: Path) -> None:
        self.setup = new_setup(location)
        self._stack: contextlib.ExitStack | None = None
        self.running: RunningAzurite | None = None

    def start(self) -> RunningAzurite:
        self._stack = contextlib.ExitStack()
        self.running = self._stack.enter_context(start_azurite(self.setup))
        return self.running

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack = self.running = None


@pytest.fixture(scope="module")
def outage_rig(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningDevHost, OwnAzurite]]:
    """A dev host whose storage is that Azurite (it then starts none of its own)."""
    azurite = OwnAzurite(Path(tmp_path_factory.mktemp("azurite")))
    env = {config.STORAGE_CONNECTION_STRING: azurite.start().connection_string}
    try:
        with start_devhost(env=env, emulator_args=EMULATOR_ARGS) as host:
            yield host, azurite
    finally:
        azurite.stop()


def _in_thread(coro: Any) -> Any:
    """Runs a coroutine on its own loop (Playwright's sync API owns this thread's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(60)


async def _blobs(azurite: OwnAzurite) -> dict[str, str]:
    """Every stored blob by name: the SHA-256 of its content (the manifest excluded)."""
    assert azurite.running is not None
    found: dict[str, str] = {}
    async with azurite.running.container_client() as container:
        async for item in container.list_blobs():
            if item.name.endswith("/manifest.json"):
                continue
            body = await (await container.download_blob(item.name)).readall()
            found[item.name] = hashlib.sha256(body).hexdigest()
    return found


@pytest.mark.timeout(240)
def test_a_storage_outage_never_stops_the_live_stream(
    browser: Browser, outage_rig: tuple[RunningDevHost, OwnAzurite]
) -> None:
    host, azurite = outage_rig
    problems = Problems()
    streamer = new_streamer(browser.new_context(), host.url)
    # while storage is down the uploads are answered 503 and logged as failed requests
    problems.watch(streamer.page, "streamer", allow=("503",))
    stream_id = streamer.state()["streamId"]
    watcher = WatcherPage(browser.new_context().new_page()).open(streamer.share_link)
    problems.watch(watcher.page, "watcher")
    _type_at_end(streamer, "\nbefore = 'the outage'")
    streamer.wait_sent()
    streamer.wait_stored()
    before = _in_thread(_blobs(azurite))
    assert before

    azurite.stop()
    for n in range(4):
        _type_at_end(streamer, f"\nduring_{n} = 'storage is down' # ✓")
        streamer.wait_sent()
        watcher.wait_doc(streamer.doc())  # live streaming goes on
    streamer.page.wait_for_function(
        "() => window.codestream.state.storage === 'retrying'", timeout=20_000
    )
    assert streamer.state()["stored"]["v"] < streamer.state()["finalV"]

    azurite.start()  # back, on the same data
    streamer.wait_stored(timeout=60_000)
    assert stored_document(host.url, stream_id)[0] == streamer.doc()
    after = _in_thread(_blobs(azurite))
    assert {name: after.get(name) for name in before} == before, "nothing stored was overwritten"
    assert len(after) > len(before)
    late = WatcherPage(browser.new_context().new_page()).open(streamer.share_link)
    problems.watch(late.page, "late watcher")
    late.wait_doc(streamer.doc())
    assert problems.items == []
