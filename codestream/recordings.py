"""Reading a stream's recording: `GET /api/streams/{id}/recording` (the index),
`.../blobs/{name}` (one keyframe or segment, immutable), `.../recording.jsonl` (the download)
and `GET /api/oembed`. Anonymous, like the join state: whoever has the link may watch.

A thin shell over `recording` and `oembed` (pure). The index is kept in the per-instance join
cache beside the join state (`storage.joinCacheMs`, revalidated with the manifest's ETag), so
a replay page's many blob reads cost one storage read each, not two; a name the cached index
does not know yet, or a blob that is gone, is checked against a fresh index before it is
refused, so a cache never turns a just-uploaded segment into a 404 or a deleted recording
into anything but 410.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

from codestream import ids
from codestream.blobs import BlobStore, StorageUnavailable, StoredBlob
from codestream.cloudevents import lower_headers
from codestream.config import Settings
from codestream.contract import CONTRACT
from codestream.errors import Code, Refusal
from codestream.history import canonical_json
from codestream.http import JSON_TYPE, HttpResult
from codestream.joincache import JoinCache, JoinEntry
from codestream.manifest import Manifest, ManifestError, deleted_refusal
from codestream.oembed import oembed_document, origin, parse_request
from codestream.recording import (
    Entry,
    download_filename,
    download_order,
    download_size,
    entry_line,
    header_line,
    index_document,
)
from codestream.streams import (
    READ_CONCURRENCY,
    RECORDING_KEY,
    RETRY_AFTER_SECONDS,
    accepts_gzip,
    bad_stream_id,
    compress,
    etag_matches,
    read_entry_manifest,
)

log = logging.getLogger(__name__)

NO_CACHE = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
IMMUTABLE = f"public, max-age={CONTRACT.replay.blob_max_age_seconds}, immutable"
NDJSON_TYPE = "application/x-ndjson"
DOWNLOADS_AT_ONCE = 2  # per instance: each holds up to replay.downloadMaxBytes
DOWNLOAD_WAIT_SECONDS = 10.0
COMPRESS_INLINE_BYTES = 256 * 1024


def _refusal(refusal: Refusal, headers: Mapping[str, str] = NO_CACHE, **more: str) -> HttpResult:
    body = canonical_json(refusal.error_body())
    return HttpResult(refusal.status, body, {"Content-Type": JSON_TYPE, **headers, **more})


def _unavailable(what: str, headers: Mapping[str, str] = NO_CACHE) -> HttpResult:
    refusal = Refusal(Code.STORAGE_UNAVAILABLE, f"stream storage is unavailable ({what}); retry")
    return _refusal(refusal, headers, **{"Retry-After": str(RETRY_AFTER_SECONDS)})


def _not_readable(entry: JoinEntry, headers: Mapping[str, str] = NO_CACHE) -> HttpResult | None:
    """410 for a deleted recording, 404 when nothing is stored; None when there is one."""
    if entry.deleted:
        return _refusal(deleted_refusal(for_upload=False), headers)
    if entry.manifest is None:
        return _refusal(Refusal(Code.NO_STREAM, "nothing is stored for this stream"), headers)
    return None


class _MissingBlob(Exception):
    """A blob the manifest names could not be read: pruned, deleted or expired meanwhile."""


@dataclass
class _Downloads:
    """The downloads being assembled on one event loop (asyncio primitives belong to one)."""

    slots: asyncio.Semaphore


class Recordings:
    def __init__(
        self,
        settings: Settings,
        store: BlobStore,
        cache: JoinCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._site = settings.site_url
        self._store = store
        self._cache = cache
        self._clock = clock
        self._downloads: dict[int, _Downloads] = {}

    # ------------------------------------------------------------ the index

    async def _index(self, stream_id: str, fresh: bool = False) -> JoinEntry:
        key = RECORDING_KEY.format(stream_id)
        if fresh:
            self._cache.expire(key)
        return await self._cache.get(key, lambda previous: self._load_index(stream_id, previous))

    async def _load_index(self, stream_id: str, previous: JoinEntry | None) -> JoinEntry:
        read = await read_entry_manifest(self._store, stream_id, previous)
        if isinstance(read, JoinEntry):
            return read
        etag, manifest = read
        raw = index_document(manifest)
        return JoinEntry(etag, raw, await compress(raw), manifest=manifest)

    async def _guarded(
        self, stream_id: str, answer: Callable[[], Awaitable[HttpResult]]
    ) -> HttpResult:
        if not ids.is_stream_id(stream_id):
            return bad_stream_id()
        try:
            return await answer()
        except StorageUnavailable as exc:
            log.warning("reading stream storage failed: %s", exc)
            return _unavailable("cannot read the recording")
        except ManifestError as exc:
            log.error("stream %s has an unreadable manifest: %s", stream_id, exc)
            return _unavailable("stored manifest is unreadable")

    async def recording(self, stream_id: str, headers: Mapping[str, str]) -> HttpResult:
        """`GET /api/streams/{id}/recording`."""
        headers = lower_headers(headers)

        async def answer() -> HttpResult:
            entry = await self._index(stream_id)
            if refused := _not_readable(entry):
                return refused
            assert entry.etag is not None  # noqa: S101
            etag = f"W/{entry.etag}"
            if etag_matches(headers.get("if-none-match", ""), entry.etag):
                return HttpResult(304, b"", {**NO_CACHE, "ETag": etag})
            found = {**NO_CACHE, "ETag": etag, "Content-Type": JSON_TYPE}
            if accepts_gzip(headers.get("accept-encoding", "")):
                return HttpResult(200, entry.gzipped, {**found, "Content-Encoding": "gzip"})
            return HttpResult(200, entry.raw, found)

        return await self._guarded(stream_id, answer)

    # ------------------------------------------------------------ immutable blobs

    async def blob(self, stream_id: str, name: str, headers: Mapping[str, str]) -> HttpResult:
        """`GET /api/streams/{id}/blobs/{name}`: a keyframe or segment the manifest names."""
        headers = lower_headers(headers)

        async def answer() -> HttpResult:
            if not CONTRACT.blob_name.fullmatch(name):
                msg = "not a keyframe or segment name: k/<epoch>/<v>-<hash8> or s/<epoch>/..."
                return _refusal(Refusal(Code.BAD_BLOB_NAME, msg))
            entry = await self._index(stream_id)
            if not entry.deleted and (
                entry.manifest is None or name not in entry.manifest.blob_names()
            ):
                entry = await self._index(stream_id, fresh=True)  # uploaded a moment ago?
            if refused := _not_readable(entry):
                return refused
            assert entry.manifest is not None  # noqa: S101
            no_blob = Refusal(Code.NO_BLOB, "this stream's recording has no such blob")
            if name not in entry.manifest.blob_names():
                return _refusal(no_blob)
            blob = await self._store.read(f"{stream_id}/{name}")
            if not isinstance(blob, StoredBlob):
                entry = await self._index(stream_id, fresh=True)  # deleted or pruned meanwhile
                return _not_readable(entry) or _refusal(no_blob)
            return await _immutable(name, blob.body, headers)

        return await self._guarded(stream_id, answer)

    # ------------------------------------------------------------ the download

    def _slots(self) -> asyncio.Semaphore:
        key = id(asyncio.get_running_loop())
        if key not in self._downloads:
            self._downloads[key] = _Downloads(asyncio.Semaphore(DOWNLOADS_AT_ONCE))
        return self._downloads[key].slots

    async def download(self, stream_id: str, headers: Mapping[str, str]) -> HttpResult:
        """`GET /api/streams/{id}/recording.jsonl`: the whole recording, one JSON a line."""
        headers = lower_headers(headers)

        async def answer() -> HttpResult:
            entry = await self._index(stream_id)
            if refused := _not_readable(entry):
                return refused
            assert entry.manifest is not None  # noqa: S101
            assert entry.etag is not None  # noqa: S101
            etag = f"W/{entry.etag}"
            if etag_matches(headers.get("if-none-match", ""), entry.etag):
                return HttpResult(304, b"", {**NO_CACHE, "ETag": etag})
            size = download_size(entry.manifest)
            limit = CONTRACT.replay.download_max_bytes
            if size > limit:
                msg = f"the recording is {size} bytes of JSON Lines; downloads are at most {limit}"
                return _refusal(Refusal(Code.TOO_LARGE, msg))
            slots = self._slots()
            try:
                await asyncio.wait_for(slots.acquire(), DOWNLOAD_WAIT_SECONDS)
            except TimeoutError:
                msg = "too many downloads on this instance at once; retry"
                return _refusal(Refusal(Code.RATE_LIMITED, msg), NO_CACHE, **{"Retry-After": "5"})
            try:
                return await self._assemble(stream_id, entry, headers)
            finally:
                slots.release()

        return await self._guarded(stream_id, answer)

    async def _assemble(
        self, stream_id: str, entry: JoinEntry, headers: Mapping[str, str]
    ) -> HttpResult:
        gzip_ok = accepts_gzip(headers.get("accept-encoding", ""))
        for attempt in range(2):
            assert entry.manifest is not None  # noqa: S101
            assert entry.etag is not None  # noqa: S101
            try:
                body = await self._jsonl(stream_id, entry.manifest, gzip_ok)
            except _MissingBlob:
                if attempt:
                    break
                entry = await self._index(stream_id, fresh=True)  # changed meanwhile?
                if refused := _not_readable(entry):
                    return refused
                continue
            found = {
                **NO_CACHE,
                "ETag": f"W/{entry.etag}",
                "Content-Type": NDJSON_TYPE,
                "Content-Disposition": f'attachment; filename="{download_filename(stream_id)}"',
            }
            if gzip_ok:
                found["Content-Encoding"] = "gzip"
            return HttpResult(200, body, found)
        log.warning("stream %s: a blob its manifest names is missing", stream_id)
        msg = "a keyframe or segment of this recording is missing from storage"
        return _refusal(Refusal(Code.NO_BLOB, msg))

    async def _jsonl(self, stream_id: str, manifest: Manifest, gzip_ok: bool) -> bytes:
        """Bodies are read a few at a time, in order, and appended (compressed as they come,
        when gzip is accepted): what is held is the answer so far and a window of bodies."""
        out: list[bytes] = []
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if gzip_ok else None

        async def emit(data: bytes) -> None:
            if compressor is None:
                out.append(data)
            elif len(data) > COMPRESS_INLINE_BYTES:
                out.append(await asyncio.to_thread(compressor.compress, data))
            else:
                out.append(compressor.compress(data))

        await emit(header_line(manifest))
        entries = download_order(manifest)
        async for kind, body in self._bodies_in_order(stream_id, entries):
            await emit(entry_line(kind, body))
        if compressor is not None:
            out.append(compressor.flush())
        return b"".join(out)

    async def _bodies_in_order(
        self, stream_id: str, entries: list[Entry]
    ) -> AsyncIterator[tuple[str, bytes]]:
        async def fetch(name: str) -> bytes:
            blob = await self._store.read(f"{stream_id}/{name}")
            if not isinstance(blob, StoredBlob):
                raise _MissingBlob(name)
            return blob.body

        upcoming = iter(entries)
        window: deque[tuple[str, asyncio.Task[bytes]]] = deque()

        def schedule() -> None:
            item = next(upcoming, None)
            if item is not None:
                window.append((item.kind, asyncio.ensure_future(fetch(item.name))))

        for _ in range(READ_CONCURRENCY):
            schedule()
        try:
            while window:
                kind, task = window.popleft()
                body = await task
                schedule()
                yield kind, body
        finally:
            for _kind, task in window:
                task.cancel()

    # ------------------------------------------------------------ oEmbed

    async def oembed(self, query: Mapping[str, str], request_url: str) -> HttpResult:
        """`GET /api/oembed?url=...`: public metadata, open to any origin."""
        cors = {"Access-Control-Allow-Origin": "*"}
        refusals = {**NO_CACHE, **cors}
        site = self._site or origin(request_url)
        if site is None:
            msg = "cannot tell this site's origin from the request; set SiteUrl"
            return _refusal(Refusal(Code.BAD_QUERY, msg), refusals)
        request = parse_request(query, site)
        if isinstance(request, Refusal):
            return _refusal(request, refusals)
        stream_id = request.link.stream_id
        try:
            entry = await self._index(stream_id)
        except StorageUnavailable as exc:
            log.warning("reading stream storage failed: %s", exc)
            return _unavailable("cannot read the stream's title", refusals)
        except ManifestError as exc:
            log.error("stream %s has an unreadable manifest: %s", stream_id, exc)
            return _unavailable("stored manifest is unreadable", refusals)
        if entry.deleted:  # a live stream stores nothing yet: it embeds all the same
            return _refusal(deleted_refusal(for_upload=False), refusals)
        title = entry.manifest.title if entry.manifest is not None else None
        document = oembed_document(site, request, title)
        max_age = CONTRACT.replay.oembed_max_age_seconds
        found = {"Content-Type": JSON_TYPE, "Cache-Control": f"public, max-age={max_age}", **cors}
        return HttpResult(200, canonical_json(document), found)


async def _immutable(name: str, body: bytes, headers: Mapping[str, str]) -> HttpResult:
    """A content-addressed body: cached for good. The ETag is its hash, strong, one per
    representation (a gzipped body is other bytes than the identity one)."""
    digest = name.rsplit("-", 1)[1]
    plain, zipped = f'"{digest}"', f'"{digest}-gzip"'
    gzip_ok = accepts_gzip(headers.get("accept-encoding", ""))
    etag = zipped if gzip_ok else plain
    common = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding", "ETag": etag}
    condition = headers.get("if-none-match", "")
    if etag_matches(condition, plain) or etag_matches(condition, zipped):
        return HttpResult(304, b"", common)
    found = {**common, "Content-Type": JSON_TYPE}
    if gzip_ok:
        return HttpResult(200, await compress(body), {**found, "Content-Encoding": "gzip"})
    return HttpResult(200, body, found)
