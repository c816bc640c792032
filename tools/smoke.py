"""Prove a CodeStream deployment end to end: `python -m tools.smoke --web URL --api URL`.

A real streamer and a real watcher over the real endpoints, with the SDKs the project uses
(aiohttp for HTTP, azure-messaging-webpubsubclient for the WebSockets), one hop at a time:
the site and its CSP, API health, CORS from the site's origin, negotiate, storing a stream's
history (a keyframe and a segment, with the owner key) and loading it back as a late watcher
does, the streamer's and the watcher's connections (Web PubSub -> event handler -> Web PubSub,
upstream authentication included), a delta from the streamer to the watcher, the watcher
count and stream status reaching the right peer, reading the recording back as a replay does
(index, an immutable segment, the JSON Lines download) and deleting it. Each hop prints ✓,
or ✗ with the reason and the likely remedy; a hop whose prerequisite failed is skipped. Any
✗ exits 1.

Defaults are the local `make run` URLs (http://localhost:8080 for both). `make smoke WEB=...
API=...` runs it; azd's postdeploy hook runs it against the deployed site and API. The hops
are the list HOPS: a new hop is one more entry.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from azure.messaging.webpubsubclient.aio import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.models import (
    CallbackType,
    SendMessageError,
    WebPubSubDataType,
)

from codestream import routes
from codestream.delta import DeltaError
from codestream.history import replay

DEFAULT_URL = "http://localhost:8080"
WATCHER_PAGE = "/watch.html"
HEALTH = f"/{routes.ROUTE_PREFIX}/{routes.HEALTH}"
NEGOTIATE = f"/{routes.ROUTE_PREFIX}/{routes.NEGOTIATE}"
EVENTS = routes.EVENT_HANDLER_PATH
STREAMS = f"/{routes.ROUTE_PREFIX}/streams/"
STORED_DOC = "print('CodeStream smoke check')\n"
STORAGE_REMEDY = (
    "503 storage_unavailable: the API cannot reach its storage. In Azure: StreamStorageAccountUrl "
    "must be the account's blob endpoint and the API identity needs Storage Blob Data "
    "Contributor on the streams container (infra/app/rbac.bicep); the API's log names the "
    "failed call. Locally: Azurite did not start (see `make run`'s output)."
)
# What a browser's fetch sends for a string body without a content-type header: a
# CORS-safelisted type, so no preflight (static_web/src/net/negotiate.js).
SIMPLE_CONTENT_TYPE = "text/plain;charset=UTF-8"
FOREIGN_ORIGIN = "https://not-the-codestream-site.example"
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
MAX_BUNDLE_FILES = 40


class HopFailed(Exception):
    def __init__(self, reason: str, remedy: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remedy = remedy


# ------------------------------------------------------------------ pure rules (unit-tested)


def origin_of(url: str) -> str:
    split = urlsplit(url)
    if not split.scheme or not split.hostname:
        raise ValueError(f"not an absolute URL: {url!r}")
    port = split.port
    shown = "" if port is None or port == DEFAULT_PORTS.get(split.scheme) else f":{port}"
    return f"{split.scheme}://{split.hostname.lower()}{shown}"


def parse_csp(header: str) -> dict[str, list[str]]:
    """Directive name -> source list; the first occurrence of a directive wins (CSP3)."""
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        tokens = part.split()
        if tokens and tokens[0].lower() not in directives:
            directives[tokens[0].lower()] = tokens[1:]
    return directives


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else DEFAULT_PORTS.get(scheme)


def _scheme_matches(source: str, url: str) -> bool:
    """CSP scheme-part matching: a scheme also admits its secure upgrade."""
    upgrades = {"http": {"http", "https"}, "ws": {"ws", "wss"}}
    return url in upgrades.get(source, {source})


def _host_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower(), host.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return host == pattern


def csp_allows(sources: list[str], url: str, page_origin: str) -> bool:
    """Does a CSP source list admit a connection to `url` from a page at `page_origin`?"""
    target, page = urlsplit(url), urlsplit(page_origin)
    network = {"http", "https", "ws", "wss"}
    for source in sources:
        if source == "'none'":
            continue
        if source == "*":
            if target.scheme in network:
                return True
            continue
        if source == "'self'":
            same_host = (target.hostname or "") == (page.hostname or "")
            same_port = _port(target.scheme, target.port) == _port(page.scheme, page.port)
            schemes = {"http": {"http", "https", "ws", "wss"}, "https": {"https", "wss"}}
            if same_host and same_port and target.scheme in schemes.get(page.scheme, set()):
                return True
            continue
        if re.fullmatch(r"[a-z][a-z0-9+.-]*:", source):
            if _scheme_matches(source[:-1], target.scheme):
                return True
            continue
        match = re.fullmatch(r"(?:([a-z][a-z0-9+.-]*)://)?([^/:]+)(?::(\d+|\*))?(/.*)?", source)
        if not match:
            continue
        scheme, host, port, _path = match.groups()
        if scheme:
            if not _scheme_matches(scheme, target.scheme):
                continue
        elif not _scheme_matches(page.scheme, target.scheme) and not (
            page.scheme == "https" and target.scheme == "wss"
        ):
            continue
        if not _host_matches(host, target.hostname or ""):
            continue
        if port != "*":
            wanted = int(port) if port else DEFAULT_PORTS.get(scheme or target.scheme)
            if _port(target.scheme, target.port) != wanted:
                continue
        return True
    return False


def cors_verdict(allow_origin: str | None, site: str, foreign_allow_origin: str | None) -> str:
    """Empty if CORS lets the site (and only the site) read the API; else why not."""
    if allow_origin not in (site, "*"):
        shown = f"{allow_origin!r}" if allow_origin else "no Access-Control-Allow-Origin"
        return f"the API answered the site's origin {site} with {shown}"
    if foreign_allow_origin in (FOREIGN_ORIGIN, "*"):
        return (
            f"the API lets any origin read it (Access-Control-Allow-Origin: {foreign_allow_origin})"
        )
    return ""


@dataclass(frozen=True)
class Handshake:
    """What the WebSocket handshake answered: status (0 = no answer) and body or error."""

    status: int
    body: str


def refusal(handshake: Handshake, endpoint: str, api: str) -> HopFailed:
    """Say which side refused a connection whose token negotiate had just issued."""
    text = handshake.body.strip()[:300]
    if handshake.status == 0:
        return HopFailed(
            f"cannot reach Web PubSub at {endpoint}: {text}",
            "the service is down or unreachable from here. Locally: is `make run` running (it "
            "starts the emulator)? In Azure: check the Web PubSub resource and that the API's "
            "WebPubSubEndpoint names it.",
        )
    lowered = text.lower()
    names_the_handler = any(w in lowered for w in ("event handler", "upstream", "connect event"))
    names_the_token = "token" in lowered or "signature" in lowered
    if handshake.status in (401, 403) and names_the_token and not names_the_handler:
        return HopFailed(
            f"Web PubSub refused the client token the API issued ({handshake.status}: {text})",
            "Web PubSub's side refused: the API signs tokens for another service or key "
            "(WebPubSubEndpoint / WebPubSubConnectionString).",
        )
    if handshake.status in (401, 403):
        return HopFailed(
            f"the event handler (the API) refused Web PubSub's upstream token, so Web PubSub "
            f"refused the connection ({handshake.status}: {text or 'no detail'}); the client "
            "token itself came from this service moments ago",
            "the API's side refused. In Azure: WebPubSubUpstreamAudience must equal the "
            "hub's auth.managedIdentity.resource (the upstreamAudience parameter) and "
            "WebPubSubUpstreamPrincipalId must be Web PubSub's identity (infra/README.md, "
            "'Upstream audience'). With an access key (the emulator): the API's "
            "WebPubSubConnectionString must hold the service's key. The API's log line "
            "'upstream event refused: ...' names the check that failed.",
        )
    if handshake.status >= 500:
        return HopFailed(
            f"Web PubSub could not get an answer from the event handler ({handshake.status}: "
            f"{text or 'no detail'})",
            "the hub's event handler URL must be the API's /api/webpubsub/events and the "
            "Function App must be running; its logs show the failure.",
        )
    return HopFailed(
        f"the WebSocket handshake answered {handshake.status}: {text or 'no detail'}",
        "check the Web PubSub resource and its hub settings (infra/app/webpubsub-hub.bicep).",
    )


# ------------------------------------------------------------------ the peers


class Peer:
    """A streamer or watcher: Microsoft's async client on the reliable JSON subprotocol,
    negotiating on every connect as the browser client does; records what it receives."""

    def __init__(self, smoke: Smoke, body: dict[str, str]) -> None:
        self.smoke = smoke
        self.body = body
        self.messages: list[tuple[str, Any]] = []
        self.connection_id: str | None = None
        self.last_url: str | None = None
        self._changed = asyncio.Event()
        self._client: WebPubSubClient | None = None

    async def client_url(self) -> str:
        answer = await self.smoke.negotiate(self.body)
        self.last_url = str(answer["url"])
        return self.last_url

    async def open(self) -> None:
        client = WebPubSubClient(
            WebPubSubClientCredential(self.client_url),
            reconnect_retry_total=0,
            message_retry_total=0,
        )
        connected = asyncio.Event()

        async def on_connected(args: Any) -> None:
            self.connection_id = args.connection_id
            connected.set()

        async def on_server(args: Any) -> None:
            self._record("server", args.data)

        async def on_group(args: Any) -> None:
            self._record("group", args.data)

        await client.subscribe(CallbackType.CONNECTED, on_connected)
        await client.subscribe(CallbackType.SERVER_MESSAGE, on_server)
        await client.subscribe(CallbackType.GROUP_MESSAGE, on_group)
        self._client = client
        await client.open()
        await asyncio.wait_for(connected.wait(), self.smoke.timeout)

    def _record(self, kind: str, data: Any) -> None:
        self.messages.append((kind, data))
        self._changed.set()

    def received(self, **match: Any) -> list[Any]:
        """Messages (server or group: status may come as either) whose fields equal `match`."""
        return [
            d
            for _k, d in self.messages
            if isinstance(d, dict) and all(d.get(k) == v for k, v in match.items())
        ]

    async def wait_for(self, **match: Any) -> Any:
        async def arrived() -> Any:
            while not (found := self.received(**match)):
                self._changed.clear()
                await self._changed.wait()
            return found[0]

        return await asyncio.wait_for(arrived(), self.smoke.timeout)

    async def send_to_group(self, group: str, data: Any) -> None:
        assert self._client is not None
        await self._client.send_to_group(group, data, WebPubSubDataType.JSON, no_echo=True)

    async def send_event(self, name: str, data: Any) -> None:
        assert self._client is not None
        await self._client.send_event(name, data, WebPubSubDataType.JSON, ack=True)

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()


# ------------------------------------------------------------------ the run


@dataclass
class Smoke:
    web: str
    api: str
    timeout: float
    startup: float
    session: aiohttp.ClientSession
    csp: dict[str, list[str]] = field(default_factory=dict)
    stream: dict[str, Any] = field(default_factory=dict)
    streamer: Peer | None = None
    watcher: Peer | None = None
    epoch: str = field(default_factory=lambda: "smoke" + secrets.token_hex(4))

    @property
    def cross_origin(self) -> bool:
        return origin_of(self.web) != origin_of(self.api)

    async def negotiate(self, body: dict[str, str], origin: str | None = None) -> dict[str, Any]:
        status, answer, _headers = await self.post_negotiate(body, origin)
        if status != 200 or not isinstance(answer, dict) or "url" not in answer:
            raise HopFailed(*negotiate_failure(status, answer, self.api))
        return answer

    async def post_negotiate(
        self, body: dict[str, str], origin: str | None = None
    ) -> tuple[int, Any, Mapping[str, str]]:
        headers = {"Content-Type": SIMPLE_CONTENT_TYPE, "Origin": origin or origin_of(self.web)}
        try:
            async with self.session.post(
                self.api + NEGOTIATE, data=json.dumps(body), headers=headers
            ) as resp:
                text = await resp.text()
                try:
                    answer: Any = json.loads(text)
                except ValueError:
                    answer = text[:200]
                return resp.status, answer, resp.headers.copy()  # case-insensitive
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HopFailed(
                f"POST {self.api}{NEGOTIATE} failed: {exc or type(exc).__name__}",
                "is the API URL right (SERVICE_API_URI)? Locally: is `make run` running?",
            ) from None

    async def handshake(self, url: str) -> Handshake:
        """The WebSocket handshake as raw HTTP, to read what a refusal says."""
        http_url = re.sub(r"^ws", "http", url)
        headers = {
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(secrets.token_bytes(16)).decode(),
            "Sec-WebSocket-Protocol": "json.reliable.webpubsub.azure.v1",
        }
        try:
            async with self.session.get(http_url, headers=headers) as resp:
                body = "" if resp.status == 101 else (await resp.text())[:500]
                return Handshake(resp.status, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Handshake(0, str(exc) or type(exc).__name__)


def negotiate_failure(status: int, answer: Any, api: str) -> tuple[str, str]:
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    reason = f"POST {api}{NEGOTIATE} answered {status}: {error or answer!r}"
    if status == 404:
        return (
            reason,
            "no negotiate function at this URL: is API the Function App's URL, and did "
            "`azd deploy api` finish?",
        )
    if error.get("code") == "service_error":
        return reason, (
            "Web PubSub did not issue a token: the API's identity needs the Web PubSub Service "
            "Owner role (infra/app/rbac.bicep) and WebPubSubEndpoint must name the service."
        )
    if status >= 500:
        return (
            reason,
            "the Function App failed: its log stream or Application Insights has the error.",
        )
    return (
        reason,
        "the API refused a valid negotiate request: compare its version with this client's.",
    )


async def fetch(smoke: Smoke, url: str) -> tuple[int, Mapping[str, str], str]:
    try:
        async with smoke.session.get(url) as resp:
            # a copy of aiohttp's headers stays case-insensitive (HTTP/2 sends lower case)
            return resp.status, resp.headers.copy(), await resp.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HopFailed(
            f"GET {url} failed: {exc or type(exc).__name__}",
            "is the URL right? In Azure: `azd env get-values` shows SERVICE_WEB_URI and "
            "SERVICE_API_URI. Locally: is `make run` running?",
        ) from None


async def bundle_texts(smoke: Smoke, page_url: str, html: str) -> list[str]:
    """The page's entry script and the chunks it imports statically (its first load)."""
    queue = [urljoin(page_url, src) for src in re.findall(r'<script[^>]+src="([^"]+)"', html)]
    seen: set[str] = set()
    texts = []
    while queue and len(seen) < MAX_BUNDLE_FILES:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        status, _headers, text = await fetch(smoke, url)
        if status == 200:
            texts.append(text)
            queue += [urljoin(url, p) for p in re.findall(r'from\s*"(\.{1,2}/[^"]+\.js)"', text)]
    return texts


# ------------------------------------------------------------------ hops


async def hop_site(smoke: Smoke) -> str:
    url = smoke.web + WATCHER_PAGE
    status, headers, html = await fetch(smoke, url)
    if status != 200 or "text/html" not in headers.get("Content-Type", ""):
        raise HopFailed(
            f"GET {url} answered {status} {headers.get('Content-Type', '')}",
            "the site has no watcher page: was the client deployed (`azd deploy web`)? Locally: "
            "`make build`.",
        )
    csp = headers.get("Content-Security-Policy")
    if not csp:
        raise HopFailed(
            f"GET {url} has no Content-Security-Policy header",
            "the site is not serving the built staticwebapp.config.json (static_web/dist): "
            "exactly one such file may exist under static_web/ (infra/README.md).",
        )
    smoke.csp = parse_csp(csp)
    connect = smoke.csp.get("connect-src", smoke.csp.get("default-src", []))
    shown = "connect-src " + " ".join(connect)
    if smoke.cross_origin:
        api = origin_of(smoke.api)
        if not csp_allows(connect, api, origin_of(smoke.web)):
            raise HopFailed(
                f"the site's CSP does not let the page call the API {api} ({shown})",
                "the client was built without the API's URL: the web service's prepackage hook "
                "writes static_web/app.config.json; `azd deploy web` rebuilds it.",
            )
        texts = await bundle_texts(smoke, url, html)
        if not any(api in text for text in texts):
            raise HopFailed(
                f"the watcher page's scripts never name the API {api}: the page would call "
                "its own origin",
                "the client was built without the API's URL (app.config.json); `azd deploy web`.",
            )
    return f"200, {shown}"


async def hop_health(smoke: Smoke) -> str:
    url = smoke.api + HEALTH
    deadline = time.monotonic() + smoke.startup
    last = ""
    while True:
        try:
            async with smoke.session.get(url) as resp:
                text = await resp.text()
                if resp.status == 200:
                    body = json.loads(text)
                    if body == {"status": "ok"}:
                        return '200 {"status": "ok"}'
                last = f"{resp.status} {text[:200]}"
                if resp.status < 500 and resp.status != 404:
                    break
        except aiohttp.ClientConnectorError as exc:  # nothing listens: waiting will not help
            last = str(exc) or type(exc).__name__
            break
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            last = str(exc) or type(exc).__name__
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(2)  # a cold Flex instance or a dev host still starting
    raise HopFailed(
        f"GET {url}: {last}",
        "the Function App does not answer: it may have stopped at start (a ConfigError names "
        "the setting; Function App log stream), or `azd deploy api` did not finish.",
    )


async def hop_cors(smoke: Smoke) -> str:
    if not smoke.cross_origin:
        return "same origin: the page calls the API without CORS"
    site = origin_of(smoke.web)
    probe = {"streamId": "smokeCorsProbe" + secrets.token_hex(4)}  # a watcher: no side effect
    status, _answer, headers = await smoke.post_negotiate(probe, site)
    _s, _a, foreign = await smoke.post_negotiate(probe, FOREIGN_ORIGIN)
    verdict = cors_verdict(
        headers.get("Access-Control-Allow-Origin"),
        site,
        foreign.get("Access-Control-Allow-Origin"),
    )
    if verdict:
        raise HopFailed(
            verdict + f" (negotiate answered {status})",
            "the Function App's CORS (siteConfig.cors.allowedOrigins in infra/app/api.bicep) "
            "must be exactly the site's origin; `azd provision` sets it.",
        )
    return f"a CORS-simple POST from {site} is allowed, other origins are not"


async def hop_negotiate(smoke: Smoke) -> str:
    answer = await smoke.negotiate({})
    if answer.get("role") != "streamer" or not answer.get("ownerKey"):
        raise HopFailed(f"negotiate did not make a streamer: {answer!r}", "compare API versions.")
    url = str(answer["url"])
    if smoke.csp:
        connect = smoke.csp.get("connect-src", smoke.csp.get("default-src", []))
        if not csp_allows(connect, url.split("?")[0], origin_of(smoke.web)):
            raise HopFailed(
                f"the site's CSP blocks the Web PubSub URL {origin_of(url)} "
                f"(connect-src {' '.join(connect)})",
                "add the service's origin to connect-src in "
                "static_web/staticwebapp.config.template.json.",
            )
    smoke.stream = answer
    return f"stream {answer['streamId']}, Web PubSub at {origin_of(url)}"


async def _connect(smoke: Smoke, peer: Peer) -> None:
    try:
        await peer.open()
    except HopFailed:
        raise
    except Exception as exc:  # the SDK wraps the handshake's own error
        if peer.last_url is None:
            raise HopFailed(f"no client access URL: {exc}", "see the negotiate hop.") from None
        # what does the handshake say? (a fresh URL: the first one may be spent)
        url = await peer.client_url()
        handshake = await smoke.handshake(url)
        if handshake.status == 101:
            raise HopFailed(
                f"the SDK could not open the connection ({type(exc).__name__}: {exc}), yet a "
                "plain handshake got through",
                "a transient failure or a proxy that breaks WebSockets: run the check again.",
            ) from None
        raise refusal(handshake, origin_of(url), smoke.api) from None


async def hop_streamer(smoke: Smoke) -> str:
    body = {"streamId": smoke.stream["streamId"], "ownerKey": smoke.stream["ownerKey"]}
    smoke.streamer = Peer(smoke, body)
    await _connect(smoke, smoke.streamer)
    try:
        await smoke.streamer.send_event("watchers", {"streamId": smoke.stream["streamId"]})
        await smoke.streamer.wait_for(type="watchers", count=0)
    except (TimeoutError, SendMessageError):
        raise HopFailed(
            "connected, but the event handler's answer to the streamer's `watchers` event "
            f"(the watcher count) did not come within {smoke.timeout:g}s",
            "the handler could not call Web PubSub back: its identity needs the Web PubSub "
            "Service Owner role; its log has the error.",
        ) from None
    return f"connected as {smoke.streamer.connection_id}; the event handler answered (0 watchers)"


async def hop_watcher(smoke: Smoke) -> str:
    smoke.watcher = Peer(smoke, {"streamId": smoke.stream["streamId"]})
    answer = await smoke.negotiate(smoke.watcher.body)
    if answer.get("role") != "watcher" or "ownerKey" in answer:
        raise HopFailed(f"negotiate did not make a watcher: {answer!r}", "compare API versions.")
    await _connect(smoke, smoke.watcher)
    return f"connected as {smoke.watcher.connection_id}"


async def hop_delta(smoke: Smoke) -> str:
    assert smoke.streamer is not None
    assert smoke.watcher is not None
    delta = {
        "type": "delta",
        "epoch": smoke.epoch,
        "v": 1,
        "changes": [[0, 0, "print('CodeStream smoke check')\n"]],
    }
    try:
        await smoke.streamer.send_to_group(smoke.stream["streamId"], delta)
    except SendMessageError as exc:
        raise HopFailed(
            f"Web PubSub refused the streamer's sendToGroup: {exc}",
            "the streamer's token must carry webpubsub.sendToGroup.<streamId> "
            "(codestream/negotiate.py).",
        ) from None
    try:
        got = await smoke.watcher.wait_for(type="delta", epoch=smoke.epoch, v=1)
    except TimeoutError:
        raise HopFailed(
            f"the watcher did not receive the delta within {smoke.timeout:g}s",
            "the watcher's token must put it in the stream's group (webpubsub.group claim).",
        ) from None
    if got != delta:
        raise HopFailed(f"the delta arrived changed: {got!r}", "Web PubSub must relay it as sent.")
    return "the watcher received it unchanged"


async def hop_presence(smoke: Smoke) -> str:
    assert smoke.streamer is not None
    assert smoke.watcher is not None
    stream_id = smoke.stream["streamId"]
    try:
        await smoke.streamer.send_event("watchers", {"streamId": stream_id})
        await smoke.streamer.wait_for(type="watchers", count=1)
    except (TimeoutError, SendMessageError):
        raise HopFailed(
            f"the streamer was not told of its watcher within {smoke.timeout:g}s",
            "the event handler answers the streamer's `watchers` event with the group's "
            "count: check its log.",
        ) from None
    try:
        await smoke.streamer.send_event("control", {"streamId": stream_id, "ended": True})
    except SendMessageError as exc:
        raise HopFailed(
            f"the event handler refused the streamer's control event: {exc}",
            "its log has the refusal code.",
        ) from None
    try:
        await smoke.watcher.wait_for(type="status", state="ended")
    except TimeoutError:
        raise HopFailed(
            f"the watcher did not get the stream's status within {smoke.timeout:g}s",
            "the event handler sends status to the stream's group: check its log.",
        ) from None
    if smoke.watcher.received(type="watchers"):
        raise HopFailed("the watcher count reached the watcher", "only the streamer may get it.")
    return "1 watcher reached the streamer; the status 'ended' reached the watcher"


async def _storage_call(
    smoke: Smoke, method: str, path: str, **kwargs: Any
) -> tuple[int, Mapping[str, str], Any]:
    try:
        async with smoke.session.request(method, smoke.api + path, **kwargs) as resp:
            text = await resp.text()
            try:
                answer: Any = json.loads(text) if text else None
            except ValueError:
                answer = text[:200]
            return resp.status, resp.headers.copy(), answer
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HopFailed(
            f"{method} {smoke.api}{path} failed: {exc or type(exc).__name__}",
            "is the API URL right (SERVICE_API_URI)?",
        ) from None


def _storage_refusal(what: str, status: int, answer: Any) -> HopFailed:
    code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
    if status == 503:
        return HopFailed(f"{what}: {status} {code}", STORAGE_REMEDY)
    if status in (401, 403):
        return HopFailed(
            f"{what}: {status} {code}",
            "the owner key goes in Authorization: Bearer; compare the API's version with the "
            "site's.",
        )
    if status == 404 and code is None:
        return HopFailed(f"{what}: 404", "the API has no storage routes: deploy the current app.")
    return HopFailed(f"{what}: {status} {answer!r}", "the API's log has the refusal.")


async def hop_store(smoke: Smoke) -> str:
    stream_id, key = smoke.stream["streamId"], smoke.stream["ownerKey"]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if smoke.cross_origin:  # the browser preflights (the Authorization header)
        site = origin_of(smoke.web)
        preflight = {
            "Origin": site,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        _s, answer_headers, _a = await _storage_call(
            smoke, "OPTIONS", f"{STREAMS}{stream_id}/keyframes", headers=preflight
        )
        if answer_headers.get("Access-Control-Allow-Origin") not in (site, "*"):
            raise HopFailed(
                f"the CORS preflight of an upload from {site} is not allowed",
                "the Function App's CORS (siteConfig.cors.allowedOrigins) must allow the site; "
                "`azd provision` sets it.",
            )
        headers["Origin"] = site
    now = int(time.time() * 1000)
    keyframe = {"epoch": smoke.epoch, "v": 0, "t": now, "doc": "", "title": "smoke check"}
    segment = {
        "epoch": smoke.epoch,
        "from": 1,
        "to": 1,
        "t0": now,
        "deltas": [[0, [[0, 0, STORED_DOC]], None]],
        "controls": [],
    }
    for kind, body in (("keyframes", keyframe), ("segments", segment)):
        status, _h, answer = await _storage_call(
            smoke, "POST", f"{STREAMS}{stream_id}/{kind}", data=json.dumps(body), headers=headers
        )
        if status != 200:
            raise _storage_refusal(f"uploading a {kind[:-1]}", status, answer)
    return f"a keyframe and a segment stored (head {answer['head']})"


async def hop_load(smoke: Smoke) -> str:
    stream_id = smoke.stream["streamId"]
    status, headers, state = await _storage_call(
        smoke, "GET", f"{STREAMS}{stream_id}", headers={"Accept-Encoding": "gzip"}
    )
    if status != 200 or not isinstance(state, dict):
        raise _storage_refusal("reading the join state", status, state)
    try:
        doc, v = replay(state["keyframe"], state["segments"])
    except (DeltaError, KeyError, TypeError) as exc:
        msg = f"the stored history does not replay: {exc}"
        raise HopFailed(msg, "compare API versions.") from None
    if (doc, v, state["head"]["epoch"]) != (STORED_DOC, 1, smoke.epoch):
        raise HopFailed(f"the stored stream came back changed: {state!r}", "see the API's log.")
    etag = headers.get("ETag", "")
    revalidated, _h, _a = await _storage_call(
        smoke, "GET", f"{STREAMS}{stream_id}", headers={"If-None-Match": etag}
    )
    if revalidated != 304:
        raise HopFailed(f"revalidating with its ETag answered {revalidated}, not 304", "")
    encoding = headers.get("Content-Encoding", "identity")
    return f"the join state replays to the stored document ({encoding}, then 304)"


async def _read(smoke: Smoke, path: str) -> tuple[int, Mapping[str, str], bytes]:
    headers = {"Accept-Encoding": "identity"}
    if smoke.cross_origin:
        headers["Origin"] = origin_of(smoke.web)
    try:
        async with smoke.session.get(smoke.api + path, headers=headers) as resp:
            return resp.status, resp.headers.copy(), await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HopFailed(f"GET {smoke.api}{path} failed: {exc}", "is the API URL right?") from None


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:200]


async def hop_recording(smoke: Smoke) -> str:
    """A replay reads the index, an immutable segment and the JSON Lines download."""
    stream_id = smoke.stream["streamId"]
    status, _h, raw = await _read(smoke, f"{STREAMS}{stream_id}/recording")
    index = _json_or_text(raw)
    if status != 200 or not isinstance(index, dict):
        raise _storage_refusal("reading the recording index", status, index)
    if (len(index.get("keyframes", [])), len(index.get("segments", []))) != (1, 1):
        raise HopFailed(f"the index does not list what was stored: {index!r}", "see the API's log.")
    name = index["segments"][0]["name"]
    status, headers, blob = await _read(smoke, f"{STREAMS}{stream_id}/blobs/{name}")
    if status != 200 or "immutable" not in headers.get("Cache-Control", ""):
        raise _storage_refusal(f"reading the segment {name}", status, _json_or_text(blob))
    status, headers, raw = await _read(smoke, f"{STREAMS}{stream_id}/recording.jsonl")
    lines = raw.decode("utf-8", "replace").splitlines()
    if status != 200 or len(lines) != 3:
        raise _storage_refusal("downloading the recording", status, _json_or_text(raw))
    kinds = [_json_or_text(line.encode()).get("type") for line in lines]
    if kinds != ["recording", "keyframe", "segment"] or lines[2].encode() != (
        b'{"type":"segment",' + blob[1:]
    ):
        raise HopFailed(f"the download is not the stored recording: {kinds}", "see the API's log.")
    return f"index, segment {name} (immutable) and a 3-line JSON Lines download"


async def hop_delete(smoke: Smoke) -> str:
    """The owner deletes the smoke check's recording: then it is gone for everyone."""
    stream_id, key = smoke.stream["streamId"], smoke.stream["ownerKey"]
    headers = {"Authorization": f"Bearer {key}"}
    if smoke.cross_origin:
        site = origin_of(smoke.web)
        preflight = {
            "Origin": site,
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "authorization",
        }
        _s, answer_headers, _a = await _storage_call(
            smoke, "OPTIONS", f"{STREAMS}{stream_id}", headers=preflight
        )
        if answer_headers.get("Access-Control-Allow-Origin") not in (site, "*"):
            raise HopFailed(
                f"the CORS preflight of deleting from {site} is not allowed",
                "the Function App's CORS (siteConfig.cors.allowedOrigins) must allow the site.",
            )
        headers["Origin"] = site
    status, _h, answer = await _storage_call(
        smoke, "DELETE", f"{STREAMS}{stream_id}", headers=headers
    )
    if status != 204:
        raise _storage_refusal("deleting the recording", status, answer)
    status, _h, _raw = await _read(smoke, f"{STREAMS}{stream_id}/recording")
    if status != 410:
        raise HopFailed(f"a deleted recording still reads {status}, not 410", "see the API's log.")
    return "204; the recording then reads 410 (the smoke check leaves nothing stored)"


@dataclass(frozen=True)
class Hop:
    name: str
    title: str
    run: Callable[[Smoke], Awaitable[str]]
    needs: tuple[str, ...] = ()


HOPS: list[Hop] = [
    Hop("site", "the site serves the watcher page with its CSP", hop_site),
    Hop("health", "the API answers its health check", hop_health),
    Hop("cors", "CORS lets the site's origin call the API", hop_cors, ("health",)),
    Hop("negotiate", "negotiate a new stream", hop_negotiate, ("health",)),
    Hop("store", "the streamer's history is stored", hop_store, ("negotiate",)),
    Hop("load", "a late watcher loads it from storage", hop_load, ("store",)),
    Hop("recording", "a replay reads the recording back", hop_recording, ("load",)),
    Hop("streamer", "connect as the streamer over WebSocket", hop_streamer, ("negotiate",)),
    Hop("watcher", "negotiate and connect as a watcher", hop_watcher, ("streamer",)),
    Hop("delta", "the streamer's delta reaches the watcher", hop_delta, ("watcher",)),
    Hop("presence", "the watcher count and the status reach the right peer", hop_presence,
        ("delta",)),
    Hop("delete", "the owner deletes the recording", hop_delete, ("recording",)),
]  # fmt: skip


@dataclass
class Outcome:
    hop: Hop
    ok: bool | None  # None: skipped
    detail: str
    remedy: str = ""


def render(index: int, outcome: Outcome) -> str:
    mark = {True: "✓", False: "✗", None: "-"}[outcome.ok]
    line = f"{mark} {index} {outcome.hop.name:<10} {outcome.hop.title}: {outcome.detail}"
    if outcome.remedy:
        line += f"\n      likely remedy: {outcome.remedy}"
    return line


async def run(
    web: str,
    api: str,
    *,
    hop_timeout: float = 20.0,
    startup: float = 90.0,
    hops: list[Hop] | None = None,
    emit: Callable[[str], None] = print,
) -> list[Outcome]:
    web, api = web.rstrip("/"), api.rstrip("/")
    client_timeout = aiohttp.ClientTimeout(total=hop_timeout)
    outcomes: list[Outcome] = []
    emit(f"CodeStream smoke check: site {web}, API {api}")
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        smoke = Smoke(web, api, hop_timeout, startup, session)
        passed: set[str] = set()
        try:
            for index, hop in enumerate(hops or HOPS, 1):
                missing = [n for n in hop.needs if n not in passed]
                if missing:
                    outcome = Outcome(hop, None, f"skipped (needs {', '.join(missing)})")
                else:
                    try:
                        detail = await asyncio.wait_for(hop.run(smoke), hop_timeout + startup)
                        outcome = Outcome(hop, True, detail)
                        passed.add(hop.name)
                    except HopFailed as failed:
                        outcome = Outcome(hop, False, failed.reason, failed.remedy)
                    except TimeoutError:
                        outcome = Outcome(hop, False, "timed out", "run again; then see the logs.")
                outcomes.append(outcome)
                emit(render(index, outcome))
        finally:
            for peer in (smoke.watcher, smoke.streamer):
                if peer is not None:
                    await peer.close()
    emit(summary(outcomes))
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    passed = sum(o.ok is True for o in outcomes)
    failed = sum(o.ok is False for o in outcomes)
    if passed == len(outcomes):
        return f"all {passed} hops passed"
    skipped = len(outcomes) - passed - failed
    return f"{passed} of {len(outcomes)} hops passed, {failed} failed, {skipped} skipped"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.smoke", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--web", default=DEFAULT_URL, help=f"the site ({DEFAULT_URL})")
    parser.add_argument("--api", default=DEFAULT_URL, help=f"the Function App ({DEFAULT_URL})")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per hop (20)")
    parser.add_argument(
        "--startup", type=float, default=90.0, help="seconds the API may take to answer (90)"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(encoding="utf-8", errors="replace")  # type: ignore[union-attr]
    # the hops report what failed; the SDK's own log lines would repeat it less clearly
    logging.getLogger("azure").setLevel(logging.CRITICAL)
    outcomes = asyncio.run(run(args.web, args.api, hop_timeout=args.timeout, startup=args.startup))
    return 1 if any(o.ok is False for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
