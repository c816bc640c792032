"""Start the project's Web PubSub emulator as a real process for a test or a benchmark."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from codestream.config import DEFAULT_HUB
from emulator.config import DEFAULT_ACCESS_KEY, connection_string, single_handler_config

from .authority import LocalCA
from .processes import ManagedProcess, free_port, run_process

HUB = DEFAULT_HUB


@dataclass(frozen=True)
class RunningEmulator:
    port: int
    access_key: str
    process: ManagedProcess
    tls: bool = False

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ws_endpoint(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}"

    @property
    def connection_string(self) -> str:
        return connection_string(self.endpoint, self.access_key)


def handler_config(url: str, hub: str = HUB, *, user_events: str = "*") -> dict[str, Any]:
    """A hub config sending every system and user event of `hub` to `url`."""
    return single_handler_config(hub, url, user_events)


@contextlib.contextmanager
def start_emulator(
    hubs_config: dict[str, Any] | None = None,
    access_key: str = DEFAULT_ACCESS_KEY,
    *,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    tls: LocalCA | None = None,
    port: int | None = None,
) -> Iterator[RunningEmulator]:
    """`tls`: serve https/wss with that CA's certificate (the health check trusts it)."""
    port = port or free_port()
    args = ["-m", "emulator", "--port", str(port), "--access-key", access_key]
    if hubs_config is not None:
        args += ["--config-json", json.dumps(hubs_config)]
    context = None
    if tls is not None:
        args += ["--tls-cert", str(tls.cert_file), "--tls-key", str(tls.key_file)]
        context = ssl.create_default_context(cafile=str(tls.ca_file))
    args += extra_args or []
    scheme = "https" if tls else "http"
    health = f"{scheme}://127.0.0.1:{port}/api/health"
    with run_process(args, health, env=env, context=context) as process:
        yield RunningEmulator(port, access_key, process, tls=tls is not None)


@dataclass
class UpstreamCall:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> str:
        return self.headers.get("ce-eventName", "")


Responder = Callable[[UpstreamCall], tuple[int, dict[str, str], bytes]]


def _accept(call: UpstreamCall) -> tuple[int, dict[str, str], bytes]:
    return 204, {}, b""


class RecordingHandler:
    """A real HTTP event handler on loopback that records every call and answers as told.

    Runs its own event loop in a thread so sync tests (Microsoft's sync SDKs) can use it.
    `respond` decides each answer; the abuse-protection OPTIONS allows the caller's origin
    unless `allow_origin=False`.
    """

    def __init__(self, respond: Responder = _accept, *, allow_origin: bool = True) -> None:
        self.respond = respond
        self.allow_origin = allow_origin
        self.calls: list[UpstreamCall] = []
        self._cond = threading.Condition()
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/webpubsub/events"

    async def _handle(self, request: web.Request) -> web.Response:
        call = UpstreamCall(
            request.method, request.path, dict(request.headers), await request.read()
        )
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()
        if request.method == "OPTIONS":
            origin = request.headers.get("WebHook-Request-Origin", "")
            allowed = origin if self.allow_origin else "somewhere.else.example"
            return web.Response(status=200, headers={"WebHook-Allowed-Origin": allowed})
        status, headers, body = await asyncio.to_thread(self.respond, call)
        return web.Response(status=status, headers=headers, body=body)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())

    def __enter__(self) -> RecordingHandler:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("recording handler did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def events(self, name: str | None = None) -> list[UpstreamCall]:
        with self._cond:
            return [c for c in self.calls if c.method == "POST" and name in (None, c.event)]

    def wait_for(self, name: str, count: int = 1, timeout: float = 10.0) -> list[UpstreamCall]:
        """The first `count` POSTs of event `name`; TimeoutError if they do not come."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.events(name)) >= count, timeout)
            if not ok:
                raise TimeoutError(f"{count} {name!r} event(s) not received")
            return self.events(name)[:count]

    def wait_for_connection(
        self, name: str, connection_id: str, timeout: float = 10.0
    ) -> UpstreamCall:
        """The first `name` event of one connection."""

        def found() -> list[UpstreamCall]:
            return [
                c for c in self.events(name) if c.headers.get("ce-connectionId") == connection_id
            ]

        with self._cond:
            if not self._cond.wait_for(lambda: bool(found()), timeout):
                raise TimeoutError(f"no {name!r} event for {connection_id}")
            return found()[0]
