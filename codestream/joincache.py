"""A short per-instance cache of assembled join states, so a join storm does not cost a
storage read per join. A cache, never a source of truth: entries live `storage.joinCacheMs`,
an upload through this instance expires its stream's entry at once, and the watcher's catchup
covers what another instance's upload made stale.

Concurrent misses of one stream share one load (per event loop), and a reload passes the
previous entry to the loader, which revalidates with the manifest's ETag and reuses the
immutable blobs it already has. Bounded in bytes; least recently used entries go first.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from codestream.manifest import Manifest

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass
class JoinEntry:
    """One assembled answer of a stream (its join state, or its recording index)."""

    etag: str | None  # None: nothing stored for the stream
    raw: bytes = b""
    gzipped: bytes = b""
    blobs: dict[str, bytes] = field(default_factory=dict)  # immutable bodies by name
    expires: float = 0.0
    deleted: bool = False  # the manifest is a tombstone
    manifest: Manifest | None = None  # what the answer was made from (the index keeps it)

    @property
    def size(self) -> int:
        return len(self.raw) + len(self.gzipped) + sum(len(b) for b in self.blobs.values())


Loader = Callable[[JoinEntry | None], Awaitable[JoinEntry]]


class JoinCache:
    def __init__(
        self,
        ttl_seconds: float,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, JoinEntry] = OrderedDict()
        self._bytes = 0
        self._loading: dict[tuple[int, str], asyncio.Future[JoinEntry]] = {}

    async def get(self, key: str, load: Loader) -> JoinEntry:
        entry = self._entries.get(key)
        if entry is not None and entry.expires > self._clock():
            self._entries.move_to_end(key)
            return entry
        flight = (id(asyncio.get_running_loop()), key)
        pending = self._loading.get(flight)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[JoinEntry] = asyncio.get_running_loop().create_future()
        self._loading[flight] = future
        try:
            fresh = await load(entry)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marked retrieved: the waiters get it, if there are any
            raise
        finally:
            del self._loading[flight]
        fresh.expires = self._clock() + self._ttl
        self._put(key, fresh)
        future.set_result(fresh)
        return fresh

    def expire(self, key: str) -> None:
        """The next get reloads (revalidating, reusing blobs)."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.expires = 0.0

    def _put(self, key: str, entry: JoinEntry) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        if entry.size > self._max_bytes:
            return  # served, not kept
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size

    @property
    def bytes(self) -> int:
        return self._bytes
