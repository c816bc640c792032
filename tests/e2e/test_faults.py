"""Faults a real user meets, in a real browser: the streamer's network is gone for 20 s, and
an access token expires in the middle of a stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import jwt
import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from playwright.sync_api import Browser, BrowserContext, Route, expect

from emulator.tokens import LEEWAY_SECONDS
from harness.browser import EMULATOR_ARGS, RECOVERY_WINDOW_S
from harness.devhost import RunningDevHost, start_devhost
from harness.faults import WireProbe, record_statuses, statuses
from harness.pages import NetworkCut, Problems, StreamerPage, WatcherPage

pytestmark = pytest.mark.e2e

OUTAGE_S = 20.0
NETWORK_NOISE = ("WebSocket", "ERR_INTERNET_DISCONNECTED")  # the SDK logs refused reconnects
# everything the badge may show while a connection is renewed: nothing that reads as an error
CALM = {"connecting", "waiting", "live", "reconnecting"}


def _watcher(browser: Browser, link: str, problems: Problems, name: str) -> WatcherPage:
    page = browser.new_context().new_page()
    record_statuses(page)
    problems.watch(page, name)
    return WatcherPage(page).open(link)


def _in_order(seen: list[str], *wanted: str) -> bool:
    it = iter(seen)
    return all(any(s == w for s in it) for w in wanted)


@pytest.mark.timeout(300)
def test_streamer_offline_for_20_s_keeps_its_stream(browser: Browser, app_url: str) -> None:
    problems = Problems()
    s_ctx = browser.new_context()
    net = NetworkCut(s_ctx)
    streamer = StreamerPage(s_ctx.new_page()).open(app_url)
    problems.watch(streamer.page, "streamer", allow=NETWORK_NOISE)
    link, stream_id = streamer.share_link, streamer.state()["streamId"]
    watchers = [_watcher(browser, link, problems, f"watcher {n}") for n in (1, 2)]

    kb = streamer.page.keyboard
    streamer.focus_editor()
    kb.press("Control+End")
    kb.type("\nbefore = 'the outage' # ✓")
    streamer.wait_sent()
    for w in watchers:
        w.wait_doc(streamer.doc())

    # the streamer's network goes: sockets closed, nothing new gets through, for 20 s. The
    # service keeps the streamer's reliable connection for its recovery window; only when that
    # ends do watchers learn the streamer is gone (a shorter blip is recovered unseen)
    assert OUTAGE_S > RECOVERY_WINDOW_S + 5
    cut_at = time.monotonic()
    s_ctx.set_offline(True)
    net.cut()
    streamer.expect_status("reconnecting")
    kb.type("\nduring = 'typed offline: ünïcode 😀'")
    assert streamer.state()["queued"] > 0
    for w in watchers:
        w.expect_status("offline")
        expect(w.status).to_have_text("Streamer offline")
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))  # the deliberate outage
    for w in watchers:
        assert w.status.get_attribute("data-state") == "offline"  # all along, no false "live"
    assert net.refused > 0, "the streamer tried to reconnect during the outage and could not"

    s_ctx.set_offline(False)
    net.restore()
    back_at = time.monotonic()
    streamer.expect_status("live", timeout=45_000)  # the SDK retries its recovery every 1 s
    streamer.wait_sent()
    final = streamer.doc()
    assert final.endswith("during = 'typed offline: ünïcode 😀'")
    for w in watchers:
        w.expect_status("live")
        expect(w.status).to_have_text("Live")
        w.wait_doc(final)
    print(f"\nstreamer back and watchers converged {time.monotonic() - back_at:.1f} s after")

    # the same stream: same id and link, and it goes on
    assert streamer.state()["streamId"] == stream_id
    assert streamer.share_link == link
    kb.type("\nafter = True")
    streamer.wait_sent()
    for w in watchers:
        w.wait_doc(streamer.doc())
        assert _in_order(statuses(w.page), "live", "offline", "live"), statuses(w.page)
    assert problems.items == []


# ---- token expiry ----------------------------------------------------------------------

TOKEN_S = 5  # the product's tokens live 15 min; here they are cut to 5 s (see below)


@pytest.fixture(scope="module")
def own_host() -> Iterator[RunningDevHost]:
    """A dev host of this module's own: the test needs its emulator's access key."""
    with start_devhost(emulator_args=EMULATOR_ARGS) as host:
        yield host


class ShortTokens:
    """Every negotiate answer of one browser context, with its token's lifetime cut short.

    The answer is the Function App's own; only `exp` (and `iat`) change, re-signed with the
    service's key, so every other claim is exactly what the product issues. Making the
    lifetime an app setting would add a setting Azure never needs only for this test.
    """

    def __init__(self, context: BrowserContext, key: str, net: NetworkCut | None = None) -> None:
        self.key = key
        self.net = net  # routed after it (the last route wins), so honour its cut here
        self.issued: list[dict] = []  # claims of every token handed to the page
        context.route("**/api/negotiate", self._negotiate)

    def _negotiate(self, route: Route) -> None:
        if self.net is not None and self.net.blocked:
            route.abort("internetdisconnected")
            return
        resp = route.fetch()
        body = resp.json()
        parts = urlsplit(body["url"])
        query = parse_qs(parts.query)
        claims = jwt.decode(
            query["access_token"][0], self.key, algorithms=["HS256"], options={"verify_aud": False}
        )
        now = int(time.time())
        claims.update(iat=now, exp=now + TOKEN_S)
        query["access_token"] = [jwt.encode(claims, self.key, algorithm="HS256")]
        body["url"] = parts._replace(query=urlencode(query, doseq=True)).geturl()
        self.issued.append({**claims, "url": body["url"]})
        route.fulfill(response=resp, json=body)


def handshake_status(url: str) -> int:
    """HTTP status of a WebSocket handshake with `url` (its own loop: Playwright owns this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _handshake_status(url)).result(30)


async def _handshake_status(url: str) -> int:
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(url, protocols=["json.webpubsub.azure.v1"])
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 101


@pytest.mark.timeout(240)
def test_expired_token_is_renewed_unnoticed(browser: Browser, own_host: RunningDevHost) -> None:
    s_ctx, w_ctx = browser.new_context(), browser.new_context()
    try:
        _expired_token_is_renewed_unnoticed(s_ctx, w_ctx, own_host)
    finally:  # a context left open keeps routing to a host that is gone
        s_ctx.close()
        w_ctx.close()


def _expired_token_is_renewed_unnoticed(
    s_ctx: BrowserContext, w_ctx: BrowserContext, own_host: RunningDevHost
) -> None:
    problems = Problems()
    w_net = NetworkCut(w_ctx)
    s_tokens = ShortTokens(s_ctx, own_host.access_key)
    w_tokens = ShortTokens(w_ctx, own_host.access_key, w_net)
    s_page, w_page = s_ctx.new_page(), w_ctx.new_page()
    for page in (s_page, w_page):
        record_statuses(page)
    s_wire, w_wire = WireProbe(s_page), WireProbe(w_page)
    streamer = StreamerPage(s_page).open(own_host.url)
    problems.watch(s_page, "streamer", allow=NETWORK_NOISE)
    watcher = WatcherPage(w_page).open(streamer.share_link)
    problems.watch(w_page, "watcher", allow=NETWORK_NOISE)
    stream_id = streamer.state()["streamId"]
    kb = streamer.page.keyboard
    streamer.focus_editor()
    kb.press("Control+End")
    kb.type("\nfresh = 'token' # ✓")
    streamer.wait_sent()
    watcher.wait_doc(streamer.doc())
    assert (len(s_tokens.issued), len(w_tokens.issued)) == (1, 1)

    # both tokens expire while their connections are up: the service does not care...
    expiry = max(t["exp"] for t in s_tokens.issued + w_tokens.issued)
    expired_at = expiry + LEEWAY_SECONDS + 1  # the service allows some clock skew
    s_page.wait_for_function("t => Date.now() / 1000 > t", arg=expired_at, timeout=30_000)
    for old in (s_tokens.issued[0]["url"], w_tokens.issued[0]["url"]):
        assert handshake_status(old) == 401  # ...but refuses them for a new one
    kb.type("\nexpired = 'still streaming' # 🚀")
    streamer.wait_sent()
    watcher.wait_doc(streamer.doc())
    assert (len(s_tokens.issued), len(w_tokens.issued)) == (1, 1)  # nothing renewed needlessly

    # a network blip shorter than the recovery window: the watcher's reliable connection is
    # recovered with its reconnection token, so the expired access token does not matter
    w_net.cut()
    watcher.expect_status("reconnecting")
    w_net.restore()
    watcher.expect_status("live")
    kb.type("\nblip = 'recovered'")
    streamer.wait_sent()
    watcher.wait_doc(streamer.doc())
    assert len(w_tokens.issued) == 1
    assert len(w_wire.connection_ids) == 1

    # then each needs a new connection (the service recycles both): each page negotiates a
    # fresh token and carries on
    service = WebPubSubServiceClient.from_connection_string(
        own_host.connection_string, hub=own_host.hub
    )
    assert s_wire.connection_id is not None
    assert w_wire.connection_id is not None
    before_recycle = {
        name: len(statuses(page)) for name, page in (("streamer", s_page), ("watcher", w_page))
    }
    service.close_connection(s_wire.connection_id, reason="test: connection recycled")
    service.close_connection(w_wire.connection_id, reason="test: connection recycled")
    kb.type("\nrenewed = 'unnoticed' # ünïcode")
    streamer.expect_status("live")
    watcher.expect_status("live")
    streamer.wait_sent()
    final = streamer.doc()
    watcher.wait_doc(final)
    assert final.endswith("renewed = 'unnoticed' # ünïcode")
    assert len(s_tokens.issued) >= 2, "the streamer negotiated a new token"
    assert len(w_tokens.issued) >= 2, "the watcher negotiated a new token"
    assert len(s_wire.connection_ids) == 2
    assert len(w_wire.connection_ids) == 2
    assert streamer.state()["streamId"] == stream_id
    assert s_tokens.issued[-1]["sub"] == f"streamer:{stream_id}"

    for name, page in (("streamer", s_page), ("watcher", w_page)):
        seen = statuses(page)
        assert set(seen[: before_recycle[name]]) <= CALM, f"{name} showed {seen}"
        # while the streamer's connection is recycled it really is gone for a moment: the
        # service may tell the watcher "offline" before the new connection is up
        recycled = CALM | {"offline"} if name == "watcher" else CALM
        assert set(seen[before_recycle[name] :]) <= recycled, f"{name} showed {seen}"
        assert seen[-1] == "live"
    assert s_wire.errors == []
    assert w_wire.errors == []
    assert problems.items == []


# ---- a slow round trip -----------------------------------------------------------------


class SlowAcks:
    """The streamer's socket, with the service's acknowledgements held back on demand (a
    long round trip), and every sendToGroup frame the page sends counted."""

    def __init__(self, context: BrowserContext) -> None:
        self.holding = False
        self.held: list[str] = []
        self.deltas_sent = 0
        self.page_side = None
        context.route_web_socket(lambda url: url.startswith("ws"), self._on_socket)

    def _on_socket(self, ws) -> None:
        server = ws.connect_to_server()
        self.page_side = ws

        def upward(message: str | bytes) -> None:
            if isinstance(message, str) and message.startswith('{"type":"sendToGroup"'):
                self.deltas_sent += 1
            server.send(message)

        def downward(message: str | bytes) -> None:
            if self.holding and isinstance(message, str) and message.startswith('{"type":"ack"'):
                self.held.append(message)
            else:
                ws.send(message)

        ws.on_message(upward)
        server.on_message(downward)

    def release(self) -> None:
        self.holding = False
        for message in self.held:
            self.page_side.send(message)
        self.held.clear()


@pytest.mark.timeout(120)
def test_a_slow_round_trip_does_not_queue_up_keystrokes(browser: Browser, app_url: str) -> None:
    """While one delta waits for its acknowledgement, what is typed next is folded into one
    delta, not queued keystroke by keystroke (which a 150 ms round trip could never drain)."""
    s_ctx = browser.new_context()
    slow = SlowAcks(s_ctx)
    streamer = StreamerPage(s_ctx.new_page()).open(app_url)
    watcher = WatcherPage(browser.new_context().new_page()).open(streamer.share_link)
    streamer.focus_editor()
    kb = streamer.page.keyboard
    kb.press("Control+End")
    streamer.wait_sent()
    watcher.wait_doc(streamer.doc())

    slow.holding = True
    sent_before = slow.deltas_sent
    kb.type("\nslow = 'round trip' # ✓ 😀", delay=60)  # 60 ms apart: one batch per key
    assert len(slow.held) == 1, "the first keystroke went out and waits for its ack"
    assert streamer.state()["queued"] <= 2, "the rest is folded behind it"

    # a late joiner gets a snapshot at the queued version: what is typed after it must not
    # be folded into that version (the joiner would drop it as already seen)
    late = WatcherPage(browser.new_context().new_page()).open(streamer.share_link)
    late.wait_doc(streamer.doc())
    kb.type(" # after the snapshot", delay=60)
    slow.release()
    streamer.wait_sent()
    final = streamer.doc()
    assert final.endswith("\nslow = 'round trip' # ✓ 😀 # after the snapshot")
    watcher.wait_doc(final)
    late.wait_doc(final)
    assert slow.deltas_sent - sent_before <= 4
