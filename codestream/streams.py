"""`/api/streams/{streamId}`: the streamer uploads its history (and may delete it),
watchers read the join state.

A thin shell: the owner check, the size and schema checks (`history`), the decisions
(`manifest.decide_*`) and the join state (`manifest.join_document`) are pure; this module
reads and writes blobs in the order that keeps stored data safe:

1. read the manifest and its ETag;
2. decide; if accepted, write the new immutable blob (If-None-Match: *; an identical blob
   already there is the same content, by its name);
3. write the manifest with If-Match on the ETag read in 1 (If-None-Match: * when new); if
   another upload won the race, decide again on the newer manifest, at most `ATTEMPTS` times;
4. only then delete what the new manifest no longer names ("record" off).

Nothing stored is ever overwritten but the manifest, and the manifest only by a successor of
the version it was decided on. Deleting a recording writes its tombstone first, so from that
moment every read is 410 and every upload 409, then deletes every other blob. Every storage
failure is a 503 with Retry-After, never a 500.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from codestream import ids
from codestream.blobs import NOT_MODIFIED, BlobStore, StorageUnavailable, StoredBlob
from codestream.cloudevents import lower_headers
from codestream.config import Settings
from codestream.contract import CONTRACT
from codestream.errors import Code, Refusal
from codestream.history import Keyframe, Segment, parse_keyframe, parse_segment
from codestream.http import JSON_TYPE, HttpResult, json_result, parse_json
from codestream.joincache import JoinCache, JoinEntry
from codestream.manifest import (
    Accept,
    AlreadyDeleted,
    AlreadyStored,
    DeleteStream,
    Head,
    Manifest,
    ManifestError,
    Refuse,
    Stored,
    Tombstone,
    WriteTombstone,
    decide_delete,
    decide_keyframe,
    decide_segment,
    deleted_refusal,
    join_document,
    parse_stored,
)

log = logging.getLogger(__name__)

ATTEMPTS = 2  # decide + write; a second lost race answers 409 conflict
RETRY_AFTER_SECONDS = 2
READ_CONCURRENCY = 8  # blob reads at once while assembling one join state
DELETE_CONCURRENCY = 16  # blob deletes at once while sweeping a stream
COMPRESS_INLINE_BYTES = 256 * 1024
MANIFEST = "manifest.json"
RECORDING_KEY = "{}#recording"  # the join cache's key of a stream's recording index
NO_STORE = {"Cache-Control": "no-store"}
KEYFRAMES = "keyframes"
SEGMENTS = "segments"


def _error(refusal: Refusal, extra: Mapping[str, Any] | None = None, **headers: str) -> HttpResult:
    return json_result(
        refusal.status, {**refusal.error_body(), **(extra or {})}, {**NO_STORE, **headers}
    )


def _unavailable(what: str) -> HttpResult:
    refusal = Refusal(Code.STORAGE_UNAVAILABLE, f"stream storage is unavailable ({what}); retry")
    return _error(refusal, None, **{"Retry-After": str(RETRY_AFTER_SECONDS)})


def _answer(head: Head) -> HttpResult:
    return json_result(200, {"head": head.position()}, NO_STORE)


def bad_stream_id() -> HttpResult:
    refusal = Refusal(Code.BAD_STREAM_ID, "streamId must be 12-32 characters of [A-Za-z0-9_-]")
    return _error(refusal)


def read_manifest(stored: StoredBlob | object | None, stream_id: str) -> Stored:
    """A manifest blob as read (or None) into a manifest, a tombstone or None."""
    if not isinstance(stored, StoredBlob):
        return None
    try:
        doc = parse_json(stored.body)
    except ValueError:
        raise ManifestError("manifest is not JSON") from None
    return parse_stored(doc, stream_id)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of `Authorization: Bearer <token>`; `headers` lower-cased."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def accepts_gzip(header: str) -> bool:
    """Accept-Encoding names gzip (or *) with a non-zero q."""
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        return q > 0
    return False


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match by weak comparison: `*`, or any listed tag with the same opaque part."""
    ours = etag.removeprefix("W/")
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == ours:
            return True
    return False


async def read_entry_manifest(
    store: BlobStore, stream_id: str, previous: JoinEntry | None
) -> JoinEntry | tuple[str, Manifest]:
    """A stream's manifest for a cached answer: `previous` again when it has not changed
    (a conditional read), the answer itself when nothing or a tombstone is stored, else the
    manifest with its ETag to assemble a new answer from."""
    known = previous.etag if previous is not None else None
    stored = await store.read(f"{stream_id}/{MANIFEST}", unless_etag=known)
    if stored is NOT_MODIFIED and previous is not None:
        return previous
    manifest = read_manifest(stored, stream_id)
    if manifest is None:
        return JoinEntry(None)
    assert isinstance(stored, StoredBlob)  # noqa: S101 (read_manifest found a blob)
    if isinstance(manifest, Tombstone):
        return JoinEntry(stored.etag, deleted=True)
    return stored.etag, manifest


class Streams:
    def __init__(
        self,
        settings: Settings,
        store: BlobStore,
        clock: Callable[[], float] = time.time,
        cache: JoinCache | None = None,
    ) -> None:
        self._secret = settings.owner_key_secret
        self._store = store
        self._clock = clock
        self._cache = cache or JoinCache(CONTRACT.storage.join_cache_ms / 1000)

    def _expire(self, stream_id: str) -> None:
        """This instance's cached answers of the stream are stale now."""
        self._cache.expire(stream_id)
        self._cache.expire(RECORDING_KEY.format(stream_id))

    # ------------------------------------------------------------ uploads

    def _owner_refusal(self, stream_id: str, headers: Mapping[str, str]) -> HttpResult | None:
        if not ids.is_stream_id(stream_id):
            return bad_stream_id()
        token = bearer_token(headers)
        if token is None:
            msg = "send the stream's owner key as Authorization: Bearer <ownerKey>"
            return _error(
                Refusal(Code.UNAUTHENTICATED, msg), None, **{"WWW-Authenticate": "Bearer"}
            )
        if len(token) > CONTRACT.owner_key_chars or not ids.owner_key_matches(
            self._secret, stream_id, token
        ):
            return _error(
                Refusal(Code.OWNER_KEY_MISMATCH, "the owner key does not match this stream")
            )
        return None

    async def upload(
        self, kind: str, stream_id: str, headers: Mapping[str, str], body: bytes
    ) -> HttpResult:
        """`kind` is KEYFRAMES or SEGMENTS (the route says which)."""
        headers = lower_headers(headers)
        if refused := self._owner_refusal(stream_id, headers):
            return refused
        upload = parse_keyframe(body) if kind == KEYFRAMES else parse_segment(body)
        if isinstance(upload, Refusal):
            return _error(upload)
        try:
            return await self._store_upload(stream_id, upload)
        except StorageUnavailable as exc:
            log.warning("upload to stream storage failed: %s", exc)
            return _unavailable("upload not stored")
        except ManifestError as exc:
            log.error("stream %s has an unreadable manifest: %s", stream_id, exc)
            return _unavailable("stored manifest is unreadable")

    async def _store_upload(self, stream_id: str, upload: Keyframe | Segment) -> HttpResult:
        manifest_name = f"{stream_id}/{MANIFEST}"
        created: list[str] = []  # blobs this request wrote, in case the stream went meanwhile
        for _attempt in range(ATTEMPTS):
            stored = await self._store.read(manifest_name)
            assert stored is not NOT_MODIFIED  # noqa: S101 (no condition was sent)
            manifest = read_manifest(stored, stream_id)
            if isinstance(upload, Keyframe):
                decision = decide_keyframe(manifest, stream_id, upload, self._clock())
            else:
                decision = decide_segment(manifest, stream_id, upload, self._clock())
            match decision:
                case AlreadyStored(head):
                    return _answer(head)
                case Refuse(refusal, head, retry_after):
                    if created and refusal.code in (Code.DELETED, Code.NO_STREAM):
                        # deleted while this upload was on its way: leave nothing behind
                        await self._delete_all(stream_id, created)
                    extra = (
                        {"head": head.position()}
                        if refusal.code is Code.OUT_OF_ORDER and head
                        else None
                    )
                    retry = {"Retry-After": str(retry_after)} if retry_after else {}
                    return _error(refusal, extra, **retry)
                case DeleteStream(head):
                    assert isinstance(stored, StoredBlob)  # noqa: S101 (a manifest was read)
                    if await self._end_unrecorded(stream_id, stored.etag):
                        return _answer(head)
                case Accept(new, name, blob, prune):
                    if await self._store.create(f"{stream_id}/{name}", blob):
                        created.append(name)
                    if isinstance(stored, StoredBlob):
                        written = await self._store.replace(
                            manifest_name, new.to_json(), stored.etag
                        )
                    else:
                        written = await self._store.create(manifest_name, new.to_json())
                    if written:
                        self._expire(stream_id)
                        if prune:
                            await self._delete_all(stream_id, prune)
                        return _answer(new.head)
            # another upload changed the manifest since we read it: decide again
        msg = "other uploads to this stream changed it meanwhile; retry"
        return _error(Refusal(Code.CONFLICT, msg))

    async def _delete_all(self, stream_id: str, names: Sequence[str]) -> None:
        limit = asyncio.Semaphore(DELETE_CONCURRENCY)

        async def delete(name: str) -> None:
            async with limit:
                await self._store.delete(f"{stream_id}/{name}")

        await asyncio.gather(*(delete(name) for name in names))

    async def _sweep(self, stream_id: str) -> int:
        """Delete every blob of the stream but its manifest; how many there were."""
        prefix = f"{stream_id}/"
        names = [
            n.removeprefix(prefix)
            for n in await self._store.list_names(prefix)
            if n != prefix + MANIFEST
        ]
        await self._delete_all(stream_id, names)
        return len(names)

    async def _end_unrecorded(self, stream_id: str, etag: str) -> bool:
        """The stream ended with "record" off: its blobs go, then (If-Match) its manifest.
        In this order, a sweep cut short is simply done again by the retried upload."""
        await self._sweep(stream_id)
        deleted = await self._store.delete(f"{stream_id}/{MANIFEST}", etag)
        self._expire(stream_id)
        return deleted

    # ------------------------------------------------------------ deleting a recording

    async def delete(self, stream_id: str, headers: Mapping[str, str]) -> HttpResult:
        """`DELETE /api/streams/{id}`: the owner deletes the recording, for everyone."""
        headers = lower_headers(headers)
        if refused := self._owner_refusal(stream_id, headers):
            return refused
        try:
            return await self._delete(stream_id)
        except StorageUnavailable as exc:
            log.warning("deleting a stream failed: %s", exc)
            return _unavailable("the recording is not deleted yet")
        except ManifestError as exc:
            log.error("stream %s has an unreadable manifest: %s", stream_id, exc)
            return _unavailable("stored manifest is unreadable")

    async def _delete(self, stream_id: str) -> HttpResult:
        manifest_name = f"{stream_id}/{MANIFEST}"
        for _attempt in range(ATTEMPTS):
            stored = await self._store.read(manifest_name)
            match decide_delete(read_manifest(stored, stream_id), self._clock()):
                case Refuse(refusal, _head, retry_after):
                    retry = {"Retry-After": str(retry_after)} if retry_after else {}
                    return _error(refusal, None, **retry)
                case AlreadyDeleted():
                    pass
                case WriteTombstone(tombstone):
                    if isinstance(stored, StoredBlob):
                        written = await self._store.replace(
                            manifest_name, tombstone.to_json(), stored.etag
                        )
                    else:
                        written = await self._store.create(manifest_name, tombstone.to_json())
                    if not written:
                        continue  # an upload changed the manifest: decide again
            self._expire(stream_id)
            swept = await self._sweep(stream_id)
            log.info("stream %s: recording deleted (%d blobs)", stream_id, swept)
            return HttpResult(204, b"", dict(NO_STORE))
        msg = "uploads to this stream changed it meanwhile; retry"
        return _error(Refusal(Code.CONFLICT, msg))

    # ------------------------------------------------------------ the join state

    async def read(self, stream_id: str, headers: Mapping[str, str]) -> HttpResult:
        headers = lower_headers(headers)
        if not ids.is_stream_id(stream_id):
            return bad_stream_id()
        try:
            entry = await self._cache.get(
                stream_id, lambda previous: self._load(stream_id, previous)
            )
        except StorageUnavailable as exc:
            log.warning("reading stream storage failed: %s", exc)
            return _unavailable("cannot read the stream")
        except ManifestError as exc:
            log.error("stream %s has an unreadable manifest: %s", stream_id, exc)
            return _unavailable("stored manifest is unreadable")
        cache = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        if entry.deleted:
            refusal = deleted_refusal(for_upload=False)
            return json_result(refusal.status, refusal.error_body(), cache)
        if entry.etag is None:
            refusal = Refusal(Code.NO_STREAM, "nothing is stored for this stream")
            return json_result(refusal.status, refusal.error_body(), cache)
        etag = f"W/{entry.etag}"
        if etag_matches(headers.get("if-none-match", ""), entry.etag):
            return HttpResult(304, b"", {**cache, "ETag": etag})
        answer = {**cache, "ETag": etag, "Content-Type": JSON_TYPE}
        if accepts_gzip(headers.get("accept-encoding", "")):
            return HttpResult(200, entry.gzipped, {**answer, "Content-Encoding": "gzip"})
        return HttpResult(200, entry.raw, answer)

    async def _load(self, stream_id: str, previous: JoinEntry | None) -> JoinEntry:
        entry = await self._load_once(stream_id, previous)
        if entry is _MISSING_BLOB:
            # a blob went after the manifest was read (pruned, or the stream deleted): once more
            entry = await self._load_once(stream_id, None)
        return JoinEntry(None) if entry is _MISSING_BLOB else entry

    async def _load_once(self, stream_id: str, previous: JoinEntry | None) -> JoinEntry:
        prefix = f"{stream_id}/"
        read = await read_entry_manifest(self._store, stream_id, previous)
        if isinstance(read, JoinEntry):
            return read
        etag, manifest = read
        names = [manifest.latest_keyframe().name, *(s.name for s in manifest.tail())]
        reuse = previous.blobs if previous is not None else {}
        limit = asyncio.Semaphore(READ_CONCURRENCY)

        async def fetch(name: str) -> bytes | None:
            if name in reuse:
                return reuse[name]
            async with limit:
                blob = await self._store.read(prefix + name)
            return blob.body if isinstance(blob, StoredBlob) else None

        bodies = await asyncio.gather(*(fetch(name) for name in names))
        if any(body is None for body in bodies):
            # e.g. the retention rule took a blob before the manifest: nothing to join from
            log.warning("stream %s: a blob its manifest names is missing", stream_id)
            return _MISSING_BLOB
        found = [b for b in bodies if b is not None]
        raw = join_document(manifest, found[0], found[1:])
        gzipped = await compress(raw)
        return JoinEntry(etag, raw, gzipped, dict(zip(names, found, strict=True)))


_MISSING_BLOB = JoinEntry(None)


async def compress(raw: bytes) -> bytes:
    if len(raw) > COMPRESS_INLINE_BYTES:  # megabytes: off the event loop
        return await asyncio.to_thread(gzip.compress, raw, 6, mtime=0)
    return gzip.compress(raw, compresslevel=6, mtime=0)
