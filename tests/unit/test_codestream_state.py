"""Connection state round trip and rejection of unreadable states."""

from __future__ import annotations

import base64

import pytest

from codestream.ratelimit import Bucket
from codestream.state import ConnState, Role, decode_state


def test_round_trip() -> None:
    state = ConnState(Role.STREAMER, "abcdefghijkl", {"control": Bucket(2.5, 1700.0)}, ended=True)
    assert decode_state(state.encode()) == state
    assert state.encode().isascii()


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not base64!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b'{"r":"admin","s":"abcdefghijkl"}').decode(),
        base64.b64encode(b'{"r":"watcher","s":"short"}').decode(),
        base64.b64encode(b'{"r":"watcher"}').decode(),
        base64.b64encode(b'{"r":"watcher","s":"abcdefghijkl","b":{"x":1}}').decode(),
        "A" * 5000,
    ],
)
def test_unreadable_state_is_none(raw: str | None) -> None:
    assert decode_state(raw) is None
