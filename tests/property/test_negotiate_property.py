"""Negotiate bodies: any input is a typed request or a clear refusal, never an exception.

Also the grant a request earns: exact roles and groups, whatever the stream id.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from codestream import ids
from codestream.errors import Code, Refusal
from codestream.messages import (
    MAX_NEGOTIATE_BYTES,
    NewStream,
    ResumeStream,
    WatchStream,
    parse_negotiate,
)
from codestream.negotiate import NO_STORE, negotiate, plan
from codestream.state import Role
from harness.strategies import (
    deep_json,
    dump,
    hostile_bodies,
    json_values,
    lone_surrogates,
    mutate,
    nested,
    stream_ids,
)

SECRET = "p" * 32
NEGOTIATE_CODES = {Code.BAD_JSON, Code.BAD_SCHEMA, Code.BAD_STREAM_ID, Code.TOO_LARGE}

valid_bodies = st.one_of(
    st.just({}),
    st.builds(lambda s: {"streamId": s}, stream_ids),
    st.builds(lambda s: {"streamId": s, "ownerKey": ids.owner_key(SECRET, s)}, stream_ids),
)
bodies = hostile_bodies(
    valid_bodies,
    valid_bodies.flatmap(lambda b: mutate(b, ["streamId", "ownerKey"])),
    st.dictionaries(st.sampled_from(["streamId", "ownerKey"]), json_values),
)


@given(bodies)
@example(nested(2000).encode())  # 4000 bytes: within the size limit
@example(b"\xff\xfe")
@example(b"x" * (MAX_NEGOTIATE_BYTES + 1))
@example(b'{"streamId": NaN}')
def test_any_body_is_a_request_or_a_refusal(body: bytes) -> None:
    result = parse_negotiate(body)
    if isinstance(result, Refusal):
        assert result.code in NEGOTIATE_CODES
        assert result.status in (400, 413)
        assert result.message
        return
    assert isinstance(result, NewStream | ResumeStream | WatchStream)
    if not isinstance(result, NewStream):
        assert ids.is_stream_id(result.stream_id)
    if isinstance(result, ResumeStream):
        assert isinstance(result.owner_key, str)
        assert 0 < len(result.owner_key) <= 128


@given(deep_json)
def test_deeply_nested_json_is_refused(text: str) -> None:
    result = parse_negotiate(text.encode())
    assert isinstance(result, Refusal)
    # too deep to decode -> bad_json; decodable but not an object -> bad_schema
    assert result.code in (Code.BAD_JSON, Code.BAD_SCHEMA, Code.TOO_LARGE)


@given(stream_ids)
def test_grants_are_least_privilege_for_every_stream_id(sid: str) -> None:
    watcher = plan(dump({"streamId": sid}), SECRET)
    assert not isinstance(watcher, Refusal)
    assert (watcher.role, watcher.roles, watcher.groups) == (Role.WATCHER, (), (sid,))
    assert watcher.owner_key is None
    assert watcher.user_id.startswith("watcher:")
    assert sid not in watcher.user_id

    key = ids.owner_key(SECRET, sid)
    streamer = plan(dump({"streamId": sid, "ownerKey": key}), SECRET)
    assert not isinstance(streamer, Refusal)
    assert streamer.role is Role.STREAMER
    assert streamer.roles == (f"webpubsub.sendToGroup.{sid}",)
    assert streamer.groups == ()
    assert streamer.user_id == f"streamer:{sid}"
    assert streamer.owner_key == key


@given(stream_ids, st.text(min_size=1, max_size=128) | lone_surrogates)
@example("stream-under-test", "\ud800")  # {"ownerKey": "\\ud800"}: found by tools/fuzz/http.py
def test_only_the_exact_owner_key_resumes(sid: str, offered: str) -> None:
    result = plan(dump({"streamId": sid, "ownerKey": offered}), SECRET)
    if offered == ids.owner_key(SECRET, sid):
        assert not isinstance(result, Refusal)
    else:
        assert isinstance(result, Refusal)
        assert result.code is Code.OWNER_KEY_MISMATCH
        assert result.status == 403


class FakeService:
    """Issues a token URL; records what it was asked for."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def get_client_access_token(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(kwargs)
        return {"url": "ws://service/client/hubs/codestream?access_token=t"}


@given(bodies)
def test_negotiate_answers_200_or_a_json_error_and_never_caches(body: bytes) -> None:
    service = FakeService()
    result = asyncio.run(negotiate(body, SECRET, service))
    assert result.headers.get("Cache-Control") == NO_STORE["Cache-Control"]
    answer = result.json()
    if result.status == 200:
        assert len(service.calls) == 1
        assert service.calls[0]["minutes_to_expire"] == 15
        assert answer["role"] in ("streamer", "watcher")
        if answer["role"] == "watcher":
            assert "ownerKey" not in answer
            assert service.calls[0]["roles"] == []
    else:
        assert result.status in (400, 403, 413)
        assert set(answer) == {"error"}
        assert set(answer["error"]) == {"code", "message"}
        assert service.calls == []  # a refused request costs no token
