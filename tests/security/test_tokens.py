"""Every token negotiate issues, decoded and checked claim by claim: who, which permissions,
which groups, for how long, for which service; and that no answer leaks more than its role."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest

from codestream import ids
from codestream.negotiate import TOKEN_MINUTES
from harness.devhost import RunningDevHost

pytestmark = pytest.mark.integration


async def negotiate(host: RunningDevHost, body: dict[str, str]) -> tuple[int, bytes, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{host.url}/api/negotiate", json=body) as resp,
    ):
        raw = await resp.read()
        assert resp.headers["Cache-Control"] == "no-store"
        return resp.status, raw, resp.headers


def token_of(host: RunningDevHost, url: str) -> dict[str, Any]:
    """The URL's only query parameter is the token; it verifies with the service's key only."""
    split = urlsplit(url)
    assert (split.scheme, split.netloc) == ("ws", f"127.0.0.1:{host.emulator_port}")
    assert split.path == "/client/hubs/codestream"
    query = parse_qs(split.query)
    assert list(query) == ["access_token"]
    token = query["access_token"][0]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "not-the-key-" * 4, algorithms=["HS256"], options={"verify_aud": False})
    return jwt.decode(
        token,
        host.access_key,
        algorithms=["HS256"],
        audience=f"http://127.0.0.1:{host.emulator_port}/client/hubs/codestream",
    )


def check_lifetime(claims: dict[str, Any]) -> None:
    assert claims["exp"] - claims["iat"] == TOKEN_MINUTES * 60 == 900
    assert abs(claims["iat"] - time.time()) < 60


async def test_streamer_tokens_grant_exactly_send_to_their_own_group(
    devhost: RunningDevHost,
) -> None:
    status, raw, _ = await negotiate(devhost, {})
    assert status == 200
    answer = json.loads(raw)
    sid, key = answer["streamId"], answer["ownerKey"]
    assert set(answer) == {"streamId", "ownerKey", "role", "url"}
    assert ids.is_stream_id(sid)
    assert key == ids.owner_key(devhost.owner_key_secret, sid)
    assert key not in answer["url"]
    claims = token_of(devhost, answer["url"])
    assert set(claims) == {"aud", "iat", "exp", "sub", "role"}
    assert claims["sub"] == f"streamer:{sid}"
    assert claims["role"] == [f"webpubsub.sendToGroup.{sid}"]  # not joinLeaveGroup, not all groups
    check_lifetime(claims)

    # resuming with the key: the same grant, a new token; the key is still never in the URL
    status, raw, _ = await negotiate(devhost, {"streamId": sid, "ownerKey": key})
    assert status == 200
    resumed = json.loads(raw)
    assert (resumed["streamId"], resumed["ownerKey"], resumed["role"]) == (sid, key, "streamer")
    assert key not in resumed["url"]
    again = token_of(devhost, resumed["url"])
    assert set(again) == set(claims)
    assert (again["sub"], again["role"]) == (claims["sub"], claims["role"])
    check_lifetime(again)


async def test_watcher_tokens_grant_nothing_but_their_group(devhost: RunningDevHost) -> None:
    _, raw, _ = await negotiate(devhost, {})
    streamer = json.loads(raw)
    sid, key = streamer["streamId"], streamer["ownerKey"]
    users = set()
    for _ in range(3):
        status, raw, _ = await negotiate(devhost, {"streamId": sid})
        assert status == 200
        assert key.encode() not in raw  # nowhere in the answer, not even inside the token
        answer = json.loads(raw)
        assert set(answer) == {"streamId", "role", "url"}
        assert (answer["streamId"], answer["role"]) == (sid, "watcher")
        claims = token_of(devhost, answer["url"])
        assert set(claims) == {"aud", "iat", "exp", "sub", "webpubsub.group"}
        assert claims["webpubsub.group"] == [sid]
        assert claims["sub"].startswith("watcher:")
        assert sid not in claims["sub"]
        check_lifetime(claims)
        users.add(claims["sub"])
    assert len(users) == 3  # anonymous and unlinkable: a fresh id every time


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"ownerKey": "x"}, 400, "bad_schema"),
        ({"streamId": "short"}, 400, "bad_stream_id"),
        ({"streamId": "a" * 33}, 400, "bad_stream_id"),
        ({"streamId": "../../etc/passwd"}, 400, "bad_stream_id"),
        ({"streamId": "stream-of-others", "ownerKey": "A" * 43}, 403, "owner_key_mismatch"),
        ({"streamId": "stream-of-others", "role": "streamer"}, 400, "bad_schema"),
    ],
)
async def test_no_token_without_a_valid_claim(
    devhost: RunningDevHost, body: dict[str, str], status: int, code: str
) -> None:
    got, raw, headers = await negotiate(devhost, body)
    assert got == status
    assert json.loads(raw) == {
        "error": {"code": code, "message": json.loads(raw)["error"]["message"]}
    }
    assert b"access_token" not in raw
    assert headers["Content-Type"].startswith("application/json")


async def test_an_owner_key_opens_only_its_own_stream(devhost: RunningDevHost) -> None:
    _, raw_a, _ = await negotiate(devhost, {})
    _, raw_b, _ = await negotiate(devhost, {})
    a, b = json.loads(raw_a), json.loads(raw_b)
    status, raw, _ = await negotiate(
        devhost, {"streamId": b["streamId"], "ownerKey": a["ownerKey"]}
    )
    assert status == 403
    assert json.loads(raw)["error"]["code"] == "owner_key_mismatch"
    assert a["ownerKey"].encode() not in raw
