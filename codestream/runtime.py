"""What the routes run on, built once from the settings: the service client, the event
handler, the upstream check, the stream storage.

A factory rather than import-time globals, so the dev host and the tests can build as many
independent apps as they like from any settings mapping; `function_app.py` builds the one
Azure runs, from the process environment, at import (= at start).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from codestream.blobs import BlobStore
from codestream.config import Settings, load_settings
from codestream.contract import CONTRACT
from codestream.events import EventHandler
from codestream.http import HttpResult, json_result
from codestream.joincache import JoinCache
from codestream.negotiate import negotiate
from codestream.recordings import Recordings
from codestream.service import ServiceHolder
from codestream.streams import KEYFRAMES, SEGMENTS, Streams
from codestream.upstream_auth import UpstreamAuth

NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    services: ServiceHolder
    events: EventHandler
    blobs: BlobStore
    streams: Streams
    recordings: Recordings

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        services = ServiceHolder(settings)
        events = EventHandler(settings, UpstreamAuth(settings), services.get)
        blobs = BlobStore(settings.storage)
        cache = JoinCache(CONTRACT.storage.join_cache_ms / 1000)  # shared: uploads expire it
        streams = Streams(settings, blobs, cache=cache)
        recordings = Recordings(settings, blobs, cache)
        return cls(settings, services, events, blobs, streams, recordings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Runtime:
        """Raises ConfigError naming the first bad setting."""
        return cls.from_settings(load_settings(env))

    async def negotiate(self, body: bytes) -> HttpResult:
        return await negotiate(body, self.settings.owner_key_secret, self.services.get())

    async def handle_event(
        self, method: str, headers: Mapping[str, str], body: bytes
    ) -> HttpResult:
        return await self.events.handle(method, headers, body)

    async def read_stream(self, stream_id: str, headers: Mapping[str, str]) -> HttpResult:
        return await self.streams.read(stream_id, headers)

    async def upload_keyframe(
        self, stream_id: str, headers: Mapping[str, str], body: bytes
    ) -> HttpResult:
        return await self.streams.upload(KEYFRAMES, stream_id, headers, body)

    async def upload_segment(
        self, stream_id: str, headers: Mapping[str, str], body: bytes
    ) -> HttpResult:
        return await self.streams.upload(SEGMENTS, stream_id, headers, body)

    async def delete_stream(self, stream_id: str, headers: Mapping[str, str]) -> HttpResult:
        return await self.streams.delete(stream_id, headers)

    async def read_recording(self, stream_id: str, headers: Mapping[str, str]) -> HttpResult:
        return await self.recordings.recording(stream_id, headers)

    async def download_recording(self, stream_id: str, headers: Mapping[str, str]) -> HttpResult:
        return await self.recordings.download(stream_id, headers)

    async def read_blob(self, stream_id: str, name: str, headers: Mapping[str, str]) -> HttpResult:
        return await self.recordings.blob(stream_id, name, headers)

    async def oembed(self, query: Mapping[str, str], request_url: str) -> HttpResult:
        return await self.recordings.oembed(query, request_url)

    @staticmethod
    def health() -> HttpResult:
        return json_result(200, {"status": "ok"}, NO_STORE)

    async def close(self) -> None:
        await self.services.close()
        await self.blobs.close()
