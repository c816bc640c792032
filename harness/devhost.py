"""Start the dev host (with its built-in emulator and Azurite) as a real process, as `make run`
does.

Free ports, a fresh emulator access key, storage account key and owner-key secret per start,
and a settings file and Azurite's data in a temporary directory, so a test never touches the
developer's local.settings.json or .azurite/. A test that brings its own storage (for instance
an Azurite it stops and starts: `harness.azurite`) passes StreamStorageConnectionString in
`env`, and the dev host then starts no Azurite of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from azure.messaging.webpubsubclient.aio import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.models import CallbackType, WebPubSubDataType

from codestream import config
from codestream.config import DEFAULT_HUB
from codestream.routes import EVENT_HANDLER_PATH
from devhost.azurite import AzuriteSetup
from emulator.config import connection_string

from .processes import ManagedProcess, free_port, run_process

HUB = DEFAULT_HUB


@dataclass(frozen=True)
class RunningDevHost:
    port: int
    emulator_port: int
    access_key: str
    owner_key_secret: str
    hub: str
    process: ManagedProcess
    storage: AzuriteSetup | None = None  # None: the test's own storage (env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return self.url + EVENT_HANDLER_PATH

    @property
    def emulator_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def connection_string(self) -> str:
        return connection_string(self.emulator_endpoint, self.access_key)

    def invocations(self) -> dict[str, dict[str, int]]:
        """The dev host's per-function and per-event invocation counts so far."""
        url = f"{self.url}/_devhost/invocations"
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback)
            return json.loads(resp.read())


@contextlib.contextmanager
def start_devhost(
    static_dir: Path | None = None,
    env: dict[str, str] | None = None,
    emulator_args: Sequence[str] = (),
) -> Iterator[RunningDevHost]:
    port, emulator_port = free_port(), free_port()
    access_key = secrets.token_hex(24)
    secret = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="codestream-devhost-") as tmp:
        storage = AzuriteSetup("127.0.0.1", free_port(), Path(tmp) / "azurite")
        args = [
            *("-m", "devhost", "--port", str(port), "--emulator-port", str(emulator_port)),
            f"--emulator-access-key={access_key}",
            *("--storage-port", str(storage.port), "--storage-dir", str(storage.location)),
            f"--storage-account-key={storage.account_key}",
            *("--settings", str(Path(tmp) / "local.settings.json")),
        ]
        if static_dir is not None:
            args += ["--static", str(static_dir)]
        args += [f"--emulator-arg={arg}" for arg in emulator_args]
        child_env = {
            "OwnerKeySecret": secret,
            "WebPubSubHub": HUB,
            # the built-in emulator and Azurite, whatever the outer environment says
            "WebPubSubConnectionString": "",
            "WebPubSubEndpoint": "",
            **{name: "" for name in config.STORAGE_SETTINGS},
            **(env or {}),
        }
        own_storage = not any(child_env.get(n) for n in config.STORAGE_SETTINGS[:2])
        health = f"http://127.0.0.1:{port}/api/health"
        with run_process(args, health, env=child_env) as process:
            yield RunningDevHost(
                port,
                emulator_port,
                access_key,
                secret,
                HUB,
                process,
                storage if own_storage else None,
            )


class Peer:
    """One protocol-level client of a running dev host, as a browser page would be.

    Negotiates over HTTP (again on every connect, as the protocol asks), connects with
    Microsoft's async Web PubSub client (reliable JSON subprotocol) and records every server
    and group message it receives, so tests can wait for one or check that one never came.
    """

    def __init__(self, host: RunningDevHost, body: dict[str, str] | None = None) -> None:
        self.host = host
        self.body = dict(body or {})
        self.stream_id: str | None = self.body.get("streamId")
        self.owner_key: str | None = None
        self.connection_id: str | None = None
        self.messages: list[tuple[str, Any]] = []  # ("server" | "group", data)
        self.stopped = asyncio.Event()
        self._changed = asyncio.Event()
        self._client: Any = None

    async def negotiate(self) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.host.url}/api/negotiate", json=self.body) as resp,
        ):
            answer = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"negotiate answered {resp.status}: {answer}")
        self.stream_id = answer["streamId"]
        if "ownerKey" in answer:  # next negotiate resumes the same stream
            self.owner_key = answer["ownerKey"]
            self.body = {"streamId": answer["streamId"], "ownerKey": answer["ownerKey"]}
        return answer

    async def _url(self) -> str:
        return str((await self.negotiate())["url"])

    async def open(self) -> Peer:
        client = WebPubSubClient(
            WebPubSubClientCredential(self._url),
            reconnect_retry_total=0,  # a replaced streamer must stay closed
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

        async def on_stopped(_args: Any = None) -> None:
            self.stopped.set()
            self._changed.set()

        await client.subscribe(CallbackType.CONNECTED, on_connected)
        await client.subscribe(CallbackType.SERVER_MESSAGE, on_server)
        await client.subscribe(CallbackType.GROUP_MESSAGE, on_group)
        await client.subscribe(CallbackType.STOPPED, on_stopped)
        await client.open()
        self._client = client
        await asyncio.wait_for(connected.wait(), 10)  # callbacks run as tasks
        return self

    def _record(self, kind: str, data: Any) -> None:
        self.messages.append((kind, data))
        self._changed.set()

    def received(self, via: str | None = None, **match: Any) -> list[Any]:
        """Data of every message whose fields equal `match` (e.g. type="status"); `via`
        ("server" or "group") keeps only what came as that kind of message."""
        return [
            d
            for k, d in self.messages
            if via in (None, k)
            and isinstance(d, dict)
            and all(d.get(f) == v for f, v in match.items())
        ]

    async def wait_for(
        self, wait: float = 10.0, nth: int = 1, via: str | None = None, **match: Any
    ) -> Any:
        """The `nth` message whose fields equal `match`; TimeoutError if it does not come."""

        async def arrived() -> Any:
            while len(found := self.received(via, **match)) < nth:
                self._changed.clear()
                await self._changed.wait()
            return found[nth - 1]

        try:
            return await asyncio.wait_for(arrived(), wait)
        except TimeoutError:
            seen = [d for _k, d in self.messages]
            raise TimeoutError(f"no message {match} (#{nth}); got {seen}") from None

    async def send_event(self, name: str, data: Any, *, ack: bool = True) -> None:
        """With ack, returns once the service has handled the event (and its handler)."""
        await self._client.send_event(name, data, WebPubSubDataType.JSON, ack=ack)

    async def send_to_group(self, group: str, data: Any) -> None:
        await self._client.send_to_group(group, data, WebPubSubDataType.JSON, no_echo=True)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
