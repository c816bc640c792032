"""The stream storage endpoints over HTTP, as the browser client calls them: uploads (and the
recording's deletion) with the owner key in `Authorization: Bearer`, the join state, the
recording's index, blobs and download with ETag and gzip, and oEmbed. For tests and the
fuzzer; answers are returned as they came (status, headers, raw body), never interpreted."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict


@dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDict[str]  # any case, as HTTP header names are
    body: bytes  # as sent: compressed if Content-Encoding says so

    def json(self) -> Any:
        # a session that decompresses keeps the header, not the gzip bytes
        zipped = self.headers.get("Content-Encoding") == "gzip" and self.body[:2] == b"\x1f\x8b"
        data = gzip.decompress(self.body) if zipped else self.body
        return json.loads(data) if data else None

    @property
    def code(self) -> str | None:
        doc = self.json()
        return doc["error"]["code"] if isinstance(doc, dict) and "error" in doc else None


class StreamsClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base = base_url.rstrip("/") + "/api/streams/"
        self.api = base_url.rstrip("/") + "/api/"

    async def _call(self, method: str, url: str, **kwargs: Any) -> Answer:
        async with self.session.request(method, url, **kwargs) as resp:
            return Answer(resp.status, CIMultiDict(resp.headers), await resp.read())

    async def upload(
        self, kind: str, stream_id: str, owner_key: str | None, body: bytes | dict[str, Any]
    ) -> Answer:
        """`kind`: "keyframes" or "segments"."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if owner_key is not None:
            headers["Authorization"] = f"Bearer {owner_key}"
        return await self._call(
            "POST", f"{self.base}{stream_id}/{kind}", data=data, headers=headers
        )

    async def keyframe(self, stream_id: str, owner_key: str, body: dict[str, Any]) -> Answer:
        return await self.upload("keyframes", stream_id, owner_key, body)

    async def segment(self, stream_id: str, owner_key: str, body: dict[str, Any]) -> Answer:
        return await self.upload("segments", stream_id, owner_key, body)

    async def join_state(
        self, stream_id: str, *, gzip_ok: bool = True, if_none_match: str | None = None
    ) -> Answer:
        headers = {"Accept-Encoding": "gzip" if gzip_ok else "identity"}
        if if_none_match is not None:
            headers["If-None-Match"] = if_none_match
        return await self._call("GET", f"{self.base}{stream_id}", headers=headers)

    async def _read(
        self, path: str, gzip_ok: bool, if_none_match: str | None, **kwargs: Any
    ) -> Answer:
        headers = {"Accept-Encoding": "gzip" if gzip_ok else "identity"}
        if if_none_match is not None:
            headers["If-None-Match"] = if_none_match
        return await self._call("GET", self.base + path, headers=headers, **kwargs)

    async def recording(
        self, stream_id: str, *, gzip_ok: bool = True, if_none_match: str | None = None
    ) -> Answer:
        return await self._read(f"{stream_id}/recording", gzip_ok, if_none_match)

    async def download(
        self, stream_id: str, *, gzip_ok: bool = True, if_none_match: str | None = None
    ) -> Answer:
        return await self._read(f"{stream_id}/recording.jsonl", gzip_ok, if_none_match)

    async def blob(
        self,
        stream_id: str,
        name: str,
        *,
        gzip_ok: bool = True,
        if_none_match: str | None = None,
    ) -> Answer:
        return await self._read(f"{stream_id}/blobs/{name}", gzip_ok, if_none_match)

    async def delete(self, stream_id: str, owner_key: str | None) -> Answer:
        headers = {} if owner_key is None else {"Authorization": f"Bearer {owner_key}"}
        return await self._call("DELETE", f"{self.base}{stream_id}", headers=headers)

    async def oembed(self, params: dict[str, str]) -> Answer:
        return await self._call("GET", self.api + "oembed", params=params)


def raw_session(*traces: aiohttp.TraceConfig) -> aiohttp.ClientSession:
    """A session that leaves bodies compressed, so a test sees what was sent."""
    return aiohttp.ClientSession(
        auto_decompress=False, timeout=aiohttp.ClientTimeout(total=60), trace_configs=list(traces)
    )


async def new_stream(session: aiohttp.ClientSession, base_url: str) -> tuple[str, str]:
    """A fresh stream from negotiate: (streamId, ownerKey)."""
    async with session.post(f"{base_url}/api/negotiate", json={}) as resp:
        answer = await resp.json(content_type=None)
    return answer["streamId"], answer["ownerKey"]
