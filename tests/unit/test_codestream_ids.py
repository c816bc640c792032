"""Stream ids and owner keys."""

from __future__ import annotations

import pytest

from codestream import ids

SECRET = "x" * 40


def test_new_stream_ids_are_valid_and_distinct() -> None:
    made = {ids.new_stream_id() for _ in range(200)}
    assert len(made) == 200
    assert all(ids.is_stream_id(s) for s in made)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("abcdefghijkl", True),
        ("A" * 32, True),
        ("a-b_c-d_e-f_", True),
        ("abcdefghijk", False),  # 11
        ("A" * 33, False),
        ("abc def ghijk", False),
        ("abcdefghijk/", False),
        ("abcdefghijkl\n", False),
        (12345678901234, False),
        (None, False),
    ],
)
def test_stream_id_format(value: object, ok: bool) -> None:
    assert ids.is_stream_id(value) is ok


def test_owner_key_is_hmac_bound_to_stream_and_secret() -> None:
    key = ids.owner_key(SECRET, "stream-aaaaaaa")
    assert len(key) == 43
    assert "=" not in key
    assert ids.owner_key_matches(SECRET, "stream-aaaaaaa", key)
    assert not ids.owner_key_matches(SECRET, "stream-bbbbbbb", key)
    assert not ids.owner_key_matches("y" * 40, "stream-aaaaaaa", key)
    assert not ids.owner_key_matches(SECRET, "stream-aaaaaaa", key[:-1])
    assert not ids.owner_key_matches(SECRET, "stream-aaaaaaa", "")


def test_least_privilege_role_names_one_group() -> None:
    assert ids.send_role("abcdefghijkl") == "webpubsub.sendToGroup.abcdefghijkl"
    assert ids.streamer_user("abcdefghijkl") == "streamer:abcdefghijkl"
    assert ids.new_watcher_user().startswith("watcher:")
