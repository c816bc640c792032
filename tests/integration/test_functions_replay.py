"""The replay endpoints of the real Function App through the dev host, on its own Azurite:
the recording index, the immutable blobs, the JSON Lines download, markers (live through Web
PubSub with Microsoft's client SDK, and stored), the record setting, deleting a recording
(gone for everyone), oEmbed, and every refusal code with its exact document. What is stored
is checked with Microsoft's azure-storage-blob client."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html.parser
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from codestream import config
from codestream.contract import CONTRACT
from codestream.history import replay
from harness.azurite import new_setup, start_azurite
from harness.devhost import Peer, RunningDevHost, start_devhost
from harness.history_model import StreamerModel
from harness.streams_http import Answer, StreamsClient, new_stream, raw_session

pytestmark = pytest.mark.integration

DELETED = {"code": "deleted", "message": "the owner deleted this stream's recording"}
DELETED_UPLOAD = {**DELETED, "message": DELETED["message"] + "; start a new stream"}
NO_STREAM = {"code": "no_stream", "message": "nothing is stored for this stream"}
NO_BLOB = {"code": "no_blob", "message": "this stream's recording has no such blob"}


@pytest.fixture(scope="module")
def devhost() -> Iterator[RunningDevHost]:
    with start_devhost() as host:
        yield host


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with raw_session() as session:
        yield session


def error(answer: Answer) -> dict[str, str]:
    doc = answer.json()
    assert set(doc) == {"error"}, doc
    assert set(doc["error"]) == {"code", "message"}
    return dict(doc["error"])


def body(answer: Answer) -> bytes:
    if answer.headers.get("Content-Encoding") == "gzip":
        return gzip.decompress(answer.body)
    return answer.body


async def stored_blobs(host: RunningDevHost, sid: str) -> dict[str, bytes]:
    """Every blob of a stream, read with Microsoft's client."""
    assert host.storage is not None
    from azure.storage.blob.aio import ContainerClient

    from codestream.blobs import API_VERSION

    found = {}
    async with ContainerClient.from_connection_string(
        host.storage.connection_string, CONTRACT.storage.container, api_version=API_VERSION
    ) as container:
        async for item in container.list_blobs(name_starts_with=f"{sid}/"):
            blob = await container.download_blob(item.name)
            found[item.name.removeprefix(f"{sid}/")] = await blob.readall()
    return found


async def recorded(
    host: RunningDevHost,
    http: aiohttp.ClientSession,
    title: str = "Demo",
    doc: str = "print('hi')\n",
) -> tuple[StreamsClient, str, str, StreamerModel, list[dict[str, Any]]]:
    """A stream with a keyframe, a segment with a marker, a keyframe and a segment."""
    client = StreamsClient(http, host.url)
    sid, key = await new_stream(http, host.url)
    model = StreamerModel(doc=doc)
    model.lang, model.title = "python", title
    uploads: list[dict[str, Any]] = [model.keyframe()]
    model.replace(0, 0, "# ")
    model.control(marker="  step 1: setup ")
    model.replace(100, 100, "x = 'é😀'\n")
    uploads.append(model.cut() or {})
    uploads.append(model.keyframe())
    model.control(marker="step 2")
    model.replace(0, 2, "")
    uploads.append(model.cut() or {})
    for i, upload in enumerate(uploads):
        kind = "keyframes" if i % 2 == 0 else "segments"
        answer = await client.upload(kind, sid, key, upload)
        assert answer.status == 200, answer.json()
    return client, sid, key, model, uploads


# ---------------------------------------------------------------- the index


async def test_the_recording_index(devhost: RunningDevHost, http: Any) -> None:
    client, sid, _key, model, uploads = await recorded(devhost, http)
    blobs = await stored_blobs(devhost, sid)
    manifest = json.loads(blobs["manifest.json"])
    plain = await client.recording(sid, gzip_ok=False)
    assert plain.status == 200
    assert plain.headers["Content-Type"].startswith("application/json")
    assert (plain.headers["Cache-Control"], plain.headers["Vary"]) == (
        "no-cache",
        "Accept-Encoding",
    )
    assert "Content-Encoding" not in plain.headers
    k1, k2 = manifest["keyframes"]
    s1, s2 = manifest["segments"]
    seg1, seg2 = uploads[1], uploads[3]
    assert plain.json() == {
        "streamId": sid,
        "title": "Demo",
        "lang": "python",
        "ended": False,
        "record": True,
        "createdAt": manifest["createdAt"],
        "updatedAt": manifest["updatedAt"],
        "head": {"epoch": "e1", "v": 3, "t": model.t},
        "keyframes": [
            {"name": k["name"], "epoch": "e1", "v": k["v"], "t": k["t"], "bytes": k["bytes"]}
            for k in (k1, k2)
        ],
        "segments": [
            {
                "name": s["name"],
                "epoch": "e1",
                "from": s["from"],
                "to": s["to"],
                "t0": s["t0"],
                "t1": s["t1"],
                "bytes": s["bytes"],
            }
            for s in (s1, s2)
        ],
        "gaps": [],
        "markers": [
            {
                "n": 1,
                "label": "step 1: setup",
                "epoch": "e1",
                "v": 1,
                "t": seg1["t0"] + seg1["controls"][0][0],
            },
            {
                "n": 2,
                "label": "step 2",
                "epoch": "e1",
                "v": 2,
                "t": seg2["t0"] + seg2["controls"][0][0],
            },
        ],
    }
    assert [k["v"] for k in (k1, k2)] == [0, 2]
    assert plain.json()["markers"] == manifest["markers"]
    zipped = await client.recording(sid)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == plain.body
    etag = zipped.headers["ETag"]
    assert etag == plain.headers["ETag"]
    assert etag.startswith('W/"')
    unchanged = await client.recording(sid, if_none_match=etag)
    assert (unchanged.status, unchanged.body, unchanged.headers["ETag"]) == (304, b"", etag)
    # the join state carries the markers too
    state = (await client.join_state(sid)).json()
    assert state["markers"] == plain.json()["markers"]
    assert replay(state["keyframe"], state["segments"]) == (model.doc, 3)


# ---------------------------------------------------------------- immutable blobs


async def test_every_blob_is_served_as_stored_and_cached_for_good(
    devhost: RunningDevHost, http: Any
) -> None:
    client, sid, _key, _model, _uploads = await recorded(devhost, http)
    blobs = await stored_blobs(devhost, sid)
    index = (await client.recording(sid)).json()
    names = [k["name"] for k in index["keyframes"]] + [s["name"] for s in index["segments"]]
    assert sorted(names) == sorted(n for n in blobs if n != "manifest.json")
    for name in names:
        digest = name.rsplit("-", 1)[1]
        assert hashlib.sha256(blobs[name]).hexdigest()[:8] == digest
        plain = await client.blob(sid, name, gzip_ok=False)
        assert (plain.status, plain.body) == (200, blobs[name])
        assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert plain.headers["ETag"] == f'"{digest}"'
        assert plain.headers["Vary"] == "Accept-Encoding"
        zipped = await client.blob(sid, name)
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert zipped.headers["ETag"] == f'"{digest}-gzip"'
        assert gzip.decompress(zipped.body) == blobs[name]
        for tag in (f'"{digest}"', f'"{digest}-gzip"', f'W/"{digest}"', "*"):
            again = await client.blob(sid, name, if_none_match=tag)
            assert (again.status, again.body) == (304, b"")
        assert (await client.blob(sid, name, if_none_match='"other"')).status == 200


async def test_blob_refusals(devhost: RunningDevHost, http: Any) -> None:
    client, sid, _key, _model, _uploads = await recorded(devhost, http)
    other_client, other_sid, _k, _m, _u = await recorded(devhost, http, doc="other\n")
    other_name = (await other_client.recording(other_sid)).json()["segments"][0]["name"]
    name = (await client.recording(sid)).json()["segments"][0]["name"]

    bad_name = {
        "code": "bad_blob_name",
        "message": "not a keyframe or segment name: k/<epoch>/<v>-<hash8> or s/<epoch>/...",
    }
    for hostile in (
        "manifest.json",
        "k/e1/0-zzzzzzzz",
        "k/e1/0-ABCDEF12",
        "x/e1/0-abcdef12",
        "k/e1/-abcdef12",
        "k/e!/0-abcdef12",
        f"{name}/",
        f"{name}x",
        "k/e1/0-abcdef12%00",
    ):
        answer = await client.blob(sid, hostile)
        assert (answer.status, error(answer)) == (400, bad_name), hostile
    # a well-formed name the manifest does not name: another stream's, or one never stored
    for unknown in (other_name, "s/e1/1-1-00000000", "k/e9/0-abcdef12"):
        answer = await client.blob(sid, unknown)
        assert (answer.status, error(answer)) == (404, NO_BLOB), unknown
        assert answer.headers["Cache-Control"] == "no-cache"
    nothing = await client.blob("nothingstored0001", name)
    assert (nothing.status, error(nothing)) == (404, NO_STREAM)
    bad_id = await client.blob("bad!id", name)
    assert (bad_id.status, error(bad_id)["code"]) == (400, "bad_stream_id")
    # traversal in the raw URL never reaches another blob (the router or the pattern refuses)
    for raw in ("..%2Fmanifest.json", "%2e%2e/%2e%2e/x", "k/..%2F..%2Fmanifest.json"):
        url = f"{devhost.url}/api/streams/{sid}/blobs/{raw}"
        async with http.get(aiohttp.helpers.URL(url, encoded=True)) as resp:
            assert resp.status in (400, 404), raw
            assert b"streamId" not in await resp.read()


async def test_a_just_uploaded_segment_is_served_whatever_this_instance_cached(
    devhost: RunningDevHost, http: Any
) -> None:
    client, sid, key, model, _uploads = await recorded(devhost, http)
    name = (await client.recording(sid)).json()["segments"][-1]["name"]
    assert (await client.blob(sid, name)).status == 200  # the index is cached now
    model.replace(0, 0, "z")
    upload = model.cut()
    assert (await client.segment(sid, key, upload or {})).status == 200
    fresh = (await stored_blobs(devhost, sid)).keys() - {"manifest.json", name}
    for new_name in fresh:
        assert (await client.blob(sid, new_name)).status == 200


# ---------------------------------------------------------------- the download


async def test_the_download_is_exact_json_lines(devhost: RunningDevHost, http: Any) -> None:
    client, sid, _key, _model, _uploads = await recorded(devhost, http, title='<b>"x"</b>')
    blobs = await stored_blobs(devhost, sid)
    manifest = json.loads(blobs["manifest.json"])
    plain = await client.download(sid, gzip_ok=False)
    assert plain.status == 200
    assert plain.headers["Content-Type"].split(";")[0] == "application/x-ndjson"
    assert plain.headers["Content-Disposition"] == (
        f'attachment; filename="codestream-{sid}.jsonl"'
    )
    assert plain.headers["Cache-Control"] == "no-cache"
    assert "Content-Encoding" not in plain.headers
    lines = plain.body.split(b"\n")
    assert lines[-1] == b""  # every line ends with a newline
    header = json.dumps(
        {
            "type": "recording",
            "format": 1,
            "streamId": sid,
            "title": '<b>"x"</b>',
            "lang": "python",
            "createdAt": manifest["createdAt"],
            "updatedAt": manifest["updatedAt"],
            "ended": False,
        },
        separators=(",", ":"),
    ).encode()
    assert lines[0] == header
    entries = sorted(
        [("keyframe", k) for k in manifest["keyframes"]]
        + [("segment", s) for s in manifest["segments"]],
        key=lambda pair: pair[1]["seq"],
    )
    assert [kind for kind, _entry in entries] == ["keyframe", "segment", "keyframe", "segment"]
    for line, (kind, entry) in zip(lines[1:-1], entries, strict=True):
        stored = blobs[entry["name"]]
        assert line == b'{"type":"' + kind.encode() + b'",' + stored[1:]
        assert json.loads(line) == {"type": kind, **json.loads(stored)}
    zipped = await client.download(sid)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == plain.body
    etag = zipped.headers["ETag"]
    assert etag == plain.headers["ETag"] == (await client.recording(sid)).headers["ETag"]
    assert (await client.download(sid, if_none_match=etag)).status == 304
    nothing = await client.download("nothingstored0001")
    assert (nothing.status, error(nothing)) == (404, NO_STREAM)
    assert (await client.download("bad!id")).status == 400


# ---------------------------------------------------------------- markers, live


async def test_a_marker_reaches_watchers_live_with_the_server_time(
    devhost: RunningDevHost,
) -> None:
    streamer = await Peer(devhost).open()
    try:
        sid = streamer.stream_id or ""
        watcher = await Peer(devhost, {"streamId": sid}).open()
        try:
            before = int(time.time() * 1000)
            await streamer.send_event("control", {"streamId": sid, "marker": "  step 2: tests "})
            live = await watcher.wait_for(type="control")
            after = int(time.time() * 1000)
            assert set(live) == {"type", "streamId", "marker"}
            assert (live["streamId"], live["marker"]["label"]) == (sid, "step 2: tests")
            assert set(live["marker"]) == {"label", "t"}
            assert before <= live["marker"]["t"] <= after
            # refused markers reach nobody; the streamer hears why
            for bad, _code in (
                ("", "bad_schema"),
                ("x" * 81, "too_large"),
                ("a\u202eb", "bad_schema"),
            ):
                await streamer.send_event("control", {"streamId": sid, "marker": bad})
            errors = [await streamer.wait_for(type="error", nth=n) for n in (1, 2, 3)]
            assert [e["code"] for e in errors] == ["bad_schema", "too_large", "bad_schema"]
            await streamer.send_event("control", {"streamId": sid, "title": "barrier"})
            await watcher.wait_for(type="control", title="barrier")
            assert len(watcher.received(type="control")) == 2  # the marker, the barrier
            # a watcher may not drop markers
            await watcher.send_event("control", {"streamId": sid, "marker": "mine"})
            assert (await watcher.wait_for(type="error"))["code"] == "wrong_role"
        finally:
            await watcher.close()
    finally:
        await streamer.close()


# ---------------------------------------------------------------- the record setting


async def test_record_off_keeps_only_the_latest_keyframe_and_tail_then_deletes_at_the_end(
    devhost: RunningDevHost, http: Any
) -> None:
    client, sid, key, model, _uploads = await recorded(devhost, http)
    before = await stored_blobs(devhost, sid)
    assert len(before) == 5
    off = model.keyframe() | {"record": False}
    assert (await client.keyframe(sid, key, off)).status == 200
    after = await stored_blobs(devhost, sid)
    index = (await client.recording(sid)).json()
    assert index["record"] is False
    assert len(index["keyframes"]) == 1
    assert index["segments"] == index["gaps"] == []
    assert [m["label"] for m in index["markers"]] == ["step 1: setup", "step 2"]  # kept
    assert set(after) == {"manifest.json", index["keyframes"][0]["name"]}
    for gone in set(before) - set(after):
        answer = await client.blob(sid, gone)
        assert (answer.status, error(answer)) == (404, NO_BLOB)
    model.replace(0, 0, "a")
    tail = model.cut() or {}
    assert (await client.segment(sid, key, tail)).status == 200
    state = (await client.join_state(sid)).json()
    assert replay(state["keyframe"], state["segments"]) == (model.doc, model.v)
    assert state["segments"] == [tail]
    # the next keyframe (no "record": the setting stays off) prunes again
    assert (await client.keyframe(sid, key, model.keyframe())).status == 200
    assert len(await stored_blobs(devhost, sid)) == 2
    download = body(await client.download(sid)).split(b"\n")
    assert [json.loads(line)["type"] for line in download[:-1]] == ["recording", "keyframe"]
    # the end of the stream: everything goes; the next reads are 404
    model.replace(0, 0, "b")
    model.control(ended=True)
    last = await client.segment(sid, key, model.cut() or {})
    assert (last.status, last.json()) == (200, {"head": {"epoch": "e1", "v": model.v}})
    assert await stored_blobs(devhost, sid) == {}
    for answer in (
        await client.join_state(sid),
        await client.recording(sid),
        await client.download(sid),
    ):
        assert (answer.status, error(answer)) == (404, NO_STREAM)
    link = f"{devhost.url}/watch.html#{sid}"
    assert (await client.oembed({"url": link})).json()["title"] == "Live code"


async def test_record_off_from_the_first_keyframe(devhost: RunningDevHost, http: Any) -> None:
    client = StreamsClient(http, devhost.url)
    sid, key = await new_stream(http, devhost.url)
    model = StreamerModel(doc="secret draft")
    assert (await client.keyframe(sid, key, model.keyframe() | {"record": False})).status == 200
    model.replace(0, 0, "x")
    assert (await client.segment(sid, key, model.cut() or {})).status == 200
    for _ in range(3):
        model.replace(0, 0, "y")
        assert (await client.segment(sid, key, model.cut() or {})).status == 200
        assert (await client.keyframe(sid, key, model.keyframe())).status == 200
        assert len(await stored_blobs(devhost, sid)) == 2  # manifest + the latest keyframe
    bad = await client.keyframe(sid, key, model.keyframe() | {"record": "no"})
    assert (bad.status, error(bad)) == (
        400,
        {"code": "bad_schema", "message": "record must be true or false"},
    )


# ---------------------------------------------------------------- deleting a recording


async def test_only_the_owner_key_deletes(devhost: RunningDevHost, http: Any) -> None:
    client, sid, key, _model, _uploads = await recorded(devhost, http)
    _other_sid, other_key = await new_stream(http, devhost.url)
    missing = await client.delete(sid, None)
    assert (missing.status, error(missing)["code"]) == (401, "unauthenticated")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    for wrong in (other_key, key[:-1] + ("A" if key[-1] != "A" else "B"), key.upper(), "k" * 5000):
        answer = await client.delete(sid, wrong)
        assert (answer.status, error(answer)) == (
            403,
            {"code": "owner_key_mismatch", "message": "the owner key does not match this stream"},
        )
    async with http.delete(f"{client.base}{sid}", headers={"Authorization": f"Basic {key}"}) as r:
        assert r.status == 401
    bad_id = await client.delete("bad!id", key)
    assert (bad_id.status, error(bad_id)["code"]) == (400, "bad_stream_id")
    assert len(await stored_blobs(devhost, sid)) == 5  # nothing was touched
    assert (await client.join_state(sid)).status == 200


async def test_a_deleted_recording_is_gone_for_everyone(devhost: RunningDevHost, http: Any) -> None:
    client, sid, key, model, _uploads = await recorded(devhost, http)
    index = (await client.recording(sid)).json()
    name = index["segments"][0]["name"]
    # readers that have it cached: this instance's join state and index
    assert (await client.join_state(sid)).status == 200
    assert (await client.blob(sid, name)).status == 200
    etag = (await client.recording(sid)).headers["ETag"]
    deleted = await client.delete(sid, key)
    assert (deleted.status, deleted.body) == (204, b"")
    assert deleted.headers["Cache-Control"] == "no-store"
    blobs = await stored_blobs(devhost, sid)
    assert set(blobs) == {"manifest.json"}
    tombstone = json.loads(blobs["manifest.json"])
    assert set(tombstone) == {"format", "deleted", "deletedAt"}
    assert (tombstone["format"], tombstone["deleted"]) == (1, True)
    assert abs(tombstone["deletedAt"] - time.time() * 1000) < 60_000
    reads = [
        await client.join_state(sid),
        await client.join_state(sid, gzip_ok=False),
        await client.recording(sid),
        await client.recording(sid, if_none_match=etag),
        await client.download(sid),
        await client.blob(sid, name),
        await client.blob(sid, index["keyframes"][0]["name"], if_none_match="*"),
        await client.oembed({"url": f"{devhost.url}/watch.html#{sid}"}),
    ]
    for answer in reads:
        assert (answer.status, error(answer)) == (410, DELETED)
    # uploads are refused for good: the next segment, a keyframe, even a new page epoch
    model.replace(0, 0, "a")
    segment = await client.segment(sid, key, model.cut() or {})
    assert (segment.status, error(segment)) == (409, DELETED_UPLOAD)
    keyframe = await client.keyframe(sid, key, model.keyframe())
    assert (keyframe.status, error(keyframe)) == (409, DELETED_UPLOAD)
    model.new_epoch("e2")
    resurrect = await client.keyframe(sid, key, model.keyframe() | {"record": True})
    assert (resurrect.status, error(resurrect)) == (409, DELETED_UPLOAD)
    assert set(await stored_blobs(devhost, sid)) == {"manifest.json"}
    # a forged delete of a deleted stream is still refused; the owner's is idempotent
    assert (await client.delete(sid, None)).status == 401
    again = await client.delete(sid, key)
    assert (again.status, again.body) == (204, b"")
    assert json.loads((await stored_blobs(devhost, sid))["manifest.json"]) == tombstone
    # a stream with nothing stored can be deleted too: a stale tab cannot store into it later
    empty_sid, empty_key = await new_stream(http, devhost.url)
    assert (await client.delete(empty_sid, empty_key)).status == 204
    late = await client.keyframe(empty_sid, empty_key, StreamerModel(doc="x").keyframe())
    assert (late.status, error(late)) == (409, DELETED_UPLOAD)


# ---------------------------------------------------------------- oEmbed


class Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


HOSTILE_TITLE = "\"><script>alert(1)</script> & 'x' </iframe>"


async def test_oembed_answers_exactly_and_escapes_the_title(
    devhost: RunningDevHost, http: Any
) -> None:
    client, sid, _key, _model, _uploads = await recorded(devhost, http, title=HOSTILE_TITLE)
    site = devhost.url  # SiteUrl unset: the API's own origin, where the dev host serves both
    answer = await client.oembed(
        {"url": f"{site}/watch.html#{sid}&t=1:05", "format": "json", "maxwidth": "640"}
    )
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    escaped = "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#x27;x&#x27; &lt;/iframe&gt;"
    assert answer.json() == {
        "version": "1.0",
        "type": "rich",
        "provider_name": "CodeStream",
        "provider_url": site,
        "title": HOSTILE_TITLE,
        "width": 640,
        "height": 360,
        "html": (
            f'<iframe src="{site}/embed.html#{sid}&amp;t=1:05" width="640" height="360" '
            f'loading="lazy" title="CodeStream: {escaped}" style="border:0" '
            'allow="clipboard-write"></iframe>'
        ),
    }
    tags = Tags()
    tags.feed(answer.json()["html"])
    assert [tag for tag, _attrs in tags.tags] == ["iframe"]
    assert tags.tags[0][1]["title"] == f"CodeStream: {HOSTILE_TITLE}"
    # a live stream that stores nothing yet embeds too, with the default title
    live_sid, _live_key = await new_stream(http, devhost.url)
    live = await client.oembed({"url": f"{site}/embed.html?s={live_sid}"})
    assert (live.status, live.json()["title"]) == (200, "Live code")
    assert live.json()["html"].startswith(f'<iframe src="{site}/embed.html#{live_sid}" ')


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"format": "xml", "url": "{site}/watch.html#{sid}"}, 501, "format_not_supported"),
        ({}, 400, "bad_query"),
        ({"url": "{site}/watch.html#{sid}", "maxwidth": "0"}, 400, "bad_query"),
        ({"url": "{site}/watch.html#{sid}", "maxheight": "big"}, 400, "bad_query"),
        ({"url": "https://evil.example/watch.html#{sid}"}, 404, "unknown_url"),
        ({"url": "{site}/index.html#{sid}"}, 404, "unknown_url"),
        ({"url": "{site}/watch.html#not-an-id!"}, 404, "unknown_url"),
        ({"url": "javascript:alert(1)//{site}/watch.html#{sid}"}, 404, "unknown_url"),
    ],
)
async def test_oembed_refusals(
    devhost: RunningDevHost, http: Any, params: dict[str, str], status: int, code: str
) -> None:
    client = StreamsClient(http, devhost.url)
    sid = "abcdefghijkl0001"
    query = {k: v.format(site=devhost.url, sid=sid) for k, v in params.items()}
    answer = await client.oembed(query)
    assert (answer.status, error(answer)["code"]) == (status, code)
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert error(answer)["message"]


async def test_oembed_knows_only_links_of_the_site_url() -> None:
    site = "https://codestream.example"
    with start_devhost(env={config.SITE_URL: site}) as host:
        async with raw_session() as http:
            client = StreamsClient(http, host.url)
            sid, _key = await new_stream(http, host.url)
            ours = await client.oembed({"url": f"{site}/watch.html#{sid}"})
            assert ours.status == 200
            assert ours.json()["provider_url"] == site
            assert f'src="{site}/embed.html#{sid}"' in ours.json()["html"]
            own = await client.oembed({"url": f"{host.url}/watch.html#{sid}"})
            assert (own.status, error(own)["code"]) == (404, "unknown_url")


# ---------------------------------------------------------------- methods and outages


async def test_other_methods_are_405(devhost: RunningDevHost, http: Any) -> None:
    sid = "abcdefghijkl0001"
    for method, path, allowed in (
        ("POST", f"streams/{sid}", "GET, DELETE"),
        ("PUT", f"streams/{sid}", "GET, DELETE"),
        ("DELETE", f"streams/{sid}/recording", "GET"),
        ("POST", f"streams/{sid}/recording.jsonl", "GET"),
        ("PUT", f"streams/{sid}/blobs/k/e1/0-abcdef12", "GET"),
        ("POST", "oembed", "GET"),
    ):
        async with http.request(method, f"{devhost.url}/api/{path}") as resp:
            assert resp.status == 405, (method, path)
            assert resp.headers["Allow"] == allowed
            assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_a_storage_outage_is_503_on_every_replay_endpoint(tmp_path: Path) -> None:
    setup = new_setup(tmp_path / "azurite")
    with start_azurite(setup) as azurite:
        env = {config.STORAGE_CONNECTION_STRING: azurite.connection_string}
        with start_devhost(env=env) as host:
            async with raw_session() as http:
                client, sid, key, _model, _uploads = await recorded(host, http)
                name = (await client.recording(sid)).json()["keyframes"][0]["name"]
                azurite.process.stop()
                await asyncio.sleep(CONTRACT.storage.join_cache_ms / 1000 + 0.1)
                for answer in (
                    await client.recording(sid),
                    await client.download(sid),
                    await client.blob(sid, name),
                    await client.oembed({"url": f"{host.url}/watch.html#{sid}"}),
                    await client.delete(sid, key),
                ):
                    assert (answer.status, error(answer)["code"]) == (503, "storage_unavailable")
                    assert answer.headers["Retry-After"] == "2"
                with start_azurite(setup):  # back: nothing was deleted, everything reads
                    assert (await client.blob(sid, name)).status == 200
                    assert (await client.delete(sid, key)).status == 204
            assert "Traceback" not in host.process.output()
