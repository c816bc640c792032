"""What the server's parts share: config, the hubs, the upstream client, live sessions."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from .config import EmulatorConfig
from .entra import RestTokenVerifier
from .hub import Registry
from .upstream import Upstream


@dataclass
class Runtime:
    config: EmulatorConfig
    registry: Registry = field(default_factory=Registry)
    upstream: Upstream | None = None
    # Entra mode: checks REST bearer tokens against the configured authority
    rest_verifier: RestTokenVerifier | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # live sessions (emulator.session.Session), closed at shutdown so exit is prompt
    sessions: set[Any] = field(default_factory=set)
    # authenticated data-plane REST calls per route ("POST /api/hubs/{hub}/users/{userId}/:send"),
    # so a benchmark can count what an app asks of the service
    rest_calls: Counter[str] = field(default_factory=Counter)

    @property
    def access_keys(self) -> tuple[str, ...]:
        """The keys that sign `ce-signature`: none with local auth disabled."""
        return () if self.config.disable_local_auth else (self.config.access_key,)

    @property
    def origin(self) -> str:
        """`WebHook-Request-Origin`: the endpoint's URL host (with port, as it is not 443)."""
        return f"{self.config.public_host}:{self.config.port}"

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A fire-and-forget task that is kept alive and cancelled at shutdown."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task
