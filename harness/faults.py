"""The soak's moving parts: a service and a function host that fail independently, the
faults injected into them, and what each browser page said on the wire.

The emulator and Azurite run as their own processes and the dev host beside them (pointed at
them by `WebPubSubConnectionString` and `StreamStorageConnectionString`, so it starts neither of
its own), which is how it is in Azure: the function host can be killed and restarted on the
same port while the service, the storage and every client connection stay up.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import tempfile
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from playwright.sync_api import Page, WebSocket

from codestream import config
from codestream.routes import EVENT_HANDLER_PATH
from harness.azurite import RunningAzurite, start_azurite
from harness.emulator import HUB, RunningEmulator, handler_config, start_emulator
from harness.processes import ManagedProcess, free_port, run_process


class SplitHost:
    """Emulator process + restartable dev host process, on loopback, free ports."""

    def __init__(self) -> None:
        self.port = free_port()
        self.owner_key_secret = secrets.token_urlsafe(32)
        self.restarts = 0
        self.emulator: RunningEmulator | None = None
        self.azurite: RunningAzurite | None = None
        self.service: WebPubSubServiceClient | None = None
        self._stack = contextlib.ExitStack()
        self._host: contextlib.ExitStack | None = None
        self._process: ManagedProcess | None = None
        self._past_events: Counter[str] = Counter()  # invocations of killed incarnations

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def up(self) -> bool:
        return self._host is not None

    def __enter__(self) -> SplitHost:
        tmp = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        self._settings = tmp / "local.settings.json"
        hubs = handler_config(self.url + EVENT_HANDLER_PATH)
        key = secrets.token_hex(24)
        self.emulator = self._stack.enter_context(start_emulator(hubs, access_key=key))
        self.azurite = self._stack.enter_context(start_azurite())
        self.service = WebPubSubServiceClient.from_connection_string(
            self.emulator.connection_string, hub=HUB
        )
        self._stack.callback(self.service.close)
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._host is not None:
            self._host.close()
        self._stack.close()

    def start(self) -> None:
        """Start the dev host on its (fixed for this rig) port; returns once it is healthy."""
        assert self.emulator is not None
        assert self.azurite is not None
        assert self._host is None
        args = ["-m", "devhost", "--port", str(self.port), "--settings", str(self._settings)]
        env = {
            "OwnerKeySecret": self.owner_key_secret,  # owner keys survive restarts
            "WebPubSubHub": HUB,
            "WebPubSubConnectionString": self.emulator.connection_string,
            "WebPubSubEndpoint": "",
            config.STORAGE_CONNECTION_STRING: self.azurite.connection_string,
            config.STORAGE_ACCOUNT_URL: "",
        }
        stack = contextlib.ExitStack()
        self._process = stack.enter_context(run_process(args, self.url + "/api/health", env))
        self._host = stack

    def kill(self) -> None:
        """SIGKILL the function host, as a crashed or recycled worker goes: no goodbye."""
        assert self._host is not None
        assert self._process is not None
        self._past_events += self._current_events()
        self._process.process.kill()
        self._process.process.wait(10)
        self._host.close()
        self._host = self._process = None
        self.restarts += 1

    def _current_events(self) -> Counter[str]:
        try:
            url = self.url + "/_devhost/invocations"
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback)
                return Counter(json.loads(resp.read())["events"])
        except (urllib.error.URLError, OSError):
            return Counter()

    def events(self) -> Counter[str]:
        """CloudEvents the function host handled, summed over its incarnations."""
        return self._past_events + (self._current_events() if self.up else Counter())

    def output(self) -> str:
        return self._process.output() if self._process else "(dev host down)"


class Faults:
    """Connection faults made by the service itself, counted by kind."""

    def __init__(self, service: WebPubSubServiceClient) -> None:
        self.service = service
        self.counts: Counter[str] = Counter()

    def close(self, connection_id: str) -> None:
        """The REST "close connection": the service ends the session (no recovery)."""
        self.service.close_connection(connection_id, reason="soak: closed by the service")
        self.counts["service close"] += 1

    def drop(self, connection_id: str) -> None:
        """The emulator's TCP cut (no close frame): the reliable client recovers the session."""
        path = f"/_emulator/hubs/{HUB}/connections/{connection_id}/:drop"
        with contextlib.suppress(ResourceNotFoundError):
            status = self.service.send_request(HttpRequest("POST", path)).status_code
            if status == 204:
                self.counts["tcp drop"] += 1


class WireProbe:
    """What a page sent and received over its WebSockets: connection ids, syncs, snapshots.

    Reads frames as Playwright reports them, so the page itself needs no test hook.
    """

    def __init__(self, page: Page) -> None:
        self.connection_ids: list[str] = []
        self.syncs = 0
        self.snapshots = 0  # snapshot messages that started a document (chunk 0)
        self.errors: list[str] = []  # codes of {"type": "error"} answers from the Function App
        page.on("websocket", self._on_socket)

    @property
    def connection_id(self) -> str | None:
        return self.connection_ids[-1] if self.connection_ids else None

    def _on_socket(self, ws: WebSocket) -> None:
        ws.on("framesent", self._sent)
        ws.on("framereceived", self._received)

    def _sent(self, payload: str | bytes) -> None:
        if isinstance(payload, str) and payload.startswith('{"type":"event","event":"sync"'):
            self.syncs += 1

    def _received(self, payload: str | bytes) -> None:
        if not isinstance(payload, str):
            return
        head = payload[:300]
        if head.startswith('{"type":"system","event":"connected"'):
            cid = json.loads(payload)["connectionId"]
            if cid not in self.connection_ids:
                self.connection_ids.append(cid)
        elif '"data":{"type":"snapshot"' in head:
            data: dict[str, Any] = json.loads(payload)["data"]
            if data.get("chunk", [0])[0] == 0:
                self.snapshots += 1
        elif '"data":{"type":"error"' in head:
            self.errors.append(str(json.loads(payload)["data"].get("code")))


# Records every value the status badge shows, from the first one on, in window.__statuses.
_STATUS_LOG = """
window.__statuses = [];
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.id !== "status") continue;
    const s = r.target.dataset.state;
    if (window.__statuses.at(-1) !== s) window.__statuses.push(s);
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-state"]});
"""


def record_statuses(page: Page) -> None:
    """Call before the page loads; `statuses(page)` then lists what the badge showed."""
    page.add_init_script(_STATUS_LOG)


def statuses(page: Page) -> list[str]:
    return list(page.evaluate("() => window.__statuses"))
