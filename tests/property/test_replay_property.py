"""The replay cores under any input:

- a marker label is either accepted (trimmed, 1..markerChars code points, nothing refused left
  in it) or refused bad_schema / too_large; nothing raises;
- any oEmbed query is answered or refused with a documented code; an answer's embed is within
  the bounds, and its HTML, for any title, is one iframe whose title attribute is exactly the
  shown title: nothing of the title leaves its attribute;
- a streamer that toggles "record", drops markers, reloads and finally deletes, with uploads
  duplicated and lost on the way: when record is off the stored blobs are exactly the latest
  keyframe and its tail (what the shell keeps after pruning), the join state replays to the
  streamer's document, markers are numbered 1, 2, ... in order at versions that existed, the
  JSON Lines download has the predicted size and one `{"type", ...body}` per stored body, and
  after the delete every upload is refused `deleted` (409).
"""

from __future__ import annotations

import html.parser
import json
import unicodedata
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from codestream.contract import CONTRACT
from codestream.errors import Code, Refusal
from codestream.history import parse_keyframe, parse_segment, replay
from codestream.manifest import (
    Accept,
    AlreadyStored,
    DeleteStream,
    Manifest,
    Refuse,
    Tombstone,
    WriteTombstone,
    decide_delete,
    decide_keyframe,
    decide_segment,
    join_document,
)
from codestream.markers import JS_TRIM, parse_label
from codestream.oembed import EmbedRequest, display_title, oembed_document, parse_request
from codestream.recording import download_order, download_size, entry_line, header_line
from harness.history_model import StreamerModel

SID = "stream-prop-0002"
SITE = "https://stapp-x.azurestaticapps.net"


@given(st.one_of(st.text(), st.from_type(object).filter(lambda v: not isinstance(v, str))))
def test_any_label_is_accepted_trimmed_or_refused(value: Any) -> None:
    result = parse_label(value)
    if isinstance(result, Refusal):
        assert result.code in (Code.BAD_SCHEMA, Code.TOO_LARGE)
        assert result.message
        return
    assert isinstance(value, str)
    assert result == value.strip(JS_TRIM)
    assert 1 <= len(result) <= CONTRACT.marker_chars
    assert all(unicodedata.category(ch) not in ("Cc", "Cs", "Zl", "Zp") for ch in result)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1))
def test_printable_labels_within_the_limit_are_kept(raw: str) -> None:
    label = raw.strip(JS_TRIM)
    result = parse_label(raw)
    if not label or any(
        ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069" for ch in label
    ):
        assert isinstance(result, Refusal)
    elif len(label) > CONTRACT.marker_chars:
        assert isinstance(result, Refusal)
        assert result.code is Code.TOO_LARGE
    else:
        assert result == label


SIDS = st.from_regex(r"[A-Za-z0-9_-]{12,32}", fullmatch=True)
URLS = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda page, sid, tail: f"{SITE}{page}{sid}{tail}",
        st.sampled_from(["/watch.html#", "/embed.html#", "/watch.html?s=", "/x#", "#"]),
        st.one_of(SIDS, st.text(max_size=40)),
        st.text(max_size=40),
    ),
)
QUERIES = st.fixed_dictionaries(
    {},
    optional={
        "url": URLS,
        "format": st.sampled_from(["json", "xml", "", "JSON"]) | st.text(max_size=5),
        "maxwidth": st.one_of(st.integers(-5, 5000).map(str), st.text(max_size=6)),
        "maxheight": st.one_of(st.integers(-5, 5000).map(str), st.text(max_size=6)),
    },
)


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@given(QUERIES, st.one_of(st.none(), st.text(max_size=CONTRACT.title_chars)))
def test_any_oembed_query_is_answered_or_refused(query: dict[str, str], title: str | None) -> None:
    request = parse_request(query, SITE)
    if isinstance(request, Refusal):
        assert request.code in (Code.BAD_QUERY, Code.UNKNOWN_URL, Code.FORMAT_NOT_SUPPORTED)
        return
    assert isinstance(request, EmbedRequest)
    assert CONTRACT.stream_id.fullmatch(request.link.stream_id)
    assert 1 <= request.width <= CONTRACT.replay.oembed_width
    assert 1 <= request.height <= CONTRACT.replay.oembed_height
    for bound, size in (("maxwidth", request.width), ("maxheight", request.height)):
        if bound in query:
            assert size <= int(query[bound])
    document = oembed_document(SITE, request, title)
    json.dumps(document, ensure_ascii=False).encode("utf-8")  # encodable: no lone surrogate
    tags = _Tags()
    tags.feed(document["html"])
    tags.close()
    assert [tag for tag, _a in tags.tags] == ["iframe"]
    attrs = tags.tags[0][1]
    assert attrs["title"] == f"CodeStream: {display_title(title)}"
    assert attrs["src"] == f"{SITE}/embed.html#{request.link.fragment()}"


# ---------------------------------------------------------------- a streamer's whole story

STEPS = st.lists(
    st.sampled_from(
        ["edit", "edit", "edit", "cut", "cut", "keyframe", "record-on", "record-off", "marker",
         "reload", "retry", "lose"]
    ),
    max_size=40,
)  # fmt: skip


class Shell:
    """What the shell does with the decisions, on an in-memory store."""

    def __init__(self) -> None:
        self.stored: Manifest | Tombstone | None = None
        self.blobs: dict[str, bytes] = {}
        self.last: tuple[str, bytes] | None = None

    def upload(self, kind: str, body: bytes) -> Any:
        self.last = (kind, body)
        parsed = parse_keyframe(body) if kind == "k" else parse_segment(body)
        assert not isinstance(parsed, Refusal), parsed
        if kind == "k":
            decision = decide_keyframe(self.stored, SID, parsed, 1e9)  # type: ignore[arg-type]
        else:
            decision = decide_segment(self.stored, SID, parsed, 1e9)  # type: ignore[arg-type]
        if isinstance(decision, Accept):
            self.blobs.setdefault(decision.name, decision.body)
            self.stored = decision.manifest
            for name in decision.prune:
                del self.blobs[name]
        elif isinstance(decision, DeleteStream):
            self.stored, self.blobs = None, {}
        return decision


@given(STEPS, st.booleans())
def test_record_markers_download_and_delete_under_any_story(
    steps: list[str], start_on: bool
) -> None:
    model = StreamerModel(doc="start\n")
    shell = Shell()
    record = start_on
    shell.upload("k", json.dumps(model.keyframe() | {"record": record}).encode())
    expected_markers = 0
    for i, step in enumerate(steps):
        if step == "edit":
            model.replace(0, 0, "ab\n")
        elif step == "marker":
            model.control(marker=f" m{expected_markers} ")
        elif step in ("cut", "lose"):
            segment = model.cut()
            if segment is None:
                continue
            pending_markers = sum(1 for _dt, c in segment["controls"] if "marker" in c)
            if step == "lose":  # never reached the server: the next upload is out of order
                continue
            decision = shell.upload("s", json.dumps(segment).encode())
            if isinstance(decision, Accept):
                expected_markers += pending_markers
            else:
                assert isinstance(decision, Refuse)
                assert decision.refusal.code is Code.OUT_OF_ORDER
                keyframe = model.keyframe()  # the client's recovery
                assert isinstance(shell.upload("k", json.dumps(keyframe).encode()), Accept)
        elif step in ("keyframe", "record-on", "record-off"):
            model.cut()  # pending work goes with the keyframe's document
            body = model.keyframe()
            if step != "keyframe":
                record = step == "record-on"
                body["record"] = record
            decision = shell.upload("k", json.dumps(body).encode())
            assert isinstance(decision, Accept | AlreadyStored), decision
        elif step == "reload":
            model.new_epoch(f"reload{i}")
            assert isinstance(shell.upload("k", json.dumps(model.keyframe()).encode()), Accept)
        elif step == "retry" and shell.last is not None:
            again = shell.upload(*shell.last)
            assert isinstance(again, AlreadyStored | Refuse | Accept)
        manifest = shell.stored
        assert isinstance(manifest, Manifest)
        assert manifest.record is record
        names = set(manifest.blob_names())
        if not record:  # only what a late joiner needs
            latest = manifest.latest_keyframe()
            assert names == {latest.name, *(s.name for s in manifest.tail())}
        assert names <= set(shell.blobs)
        if not record:
            assert set(shell.blobs) == names  # every pruned blob is gone
        bodies = [shell.blobs[manifest.latest_keyframe().name]]
        bodies += [shell.blobs[s.name] for s in manifest.tail()]
        joined = json.loads(join_document(manifest, bodies[0], bodies[1:]))
        doc, v = replay(joined["keyframe"], joined["segments"])
        assert (doc, v) == (model.history[(manifest.head.epoch, manifest.head.v)], manifest.head.v)
        assert [m.n for m in manifest.markers] == list(range(1, len(manifest.markers) + 1))
        assert len(manifest.markers) == expected_markers
        for marker in manifest.markers:
            assert (marker.epoch, marker.v) in model.history
        lines = [header_line(manifest)]
        lines += [entry_line(e.kind, shell.blobs[e.name]) for e in download_order(manifest)]
        assert download_size(manifest) == sum(len(line) for line in lines)
        for line, entry in zip(lines[1:], download_order(manifest), strict=True):
            assert json.loads(line) == {"type": entry.kind, **json.loads(shell.blobs[entry.name])}
    deletion = decide_delete(shell.stored, 2e9)
    assert isinstance(deletion, WriteTombstone)
    shell.stored, shell.blobs = deletion.tombstone, {}
    model.replace(0, 0, "after")
    for kind, body in (
        ("s", model.cut()),
        ("k", model.keyframe()),
        ("k", model.keyframe() | {"record": True}),
    ):
        refused = shell.upload(kind, json.dumps(body).encode())
        assert isinstance(refused, Refuse)
        assert (refused.refusal.code, refused.refusal.status) == (Code.DELETED, 409)
    assert shell.blobs == {}
