"""Negotiate decisions: new stream, resume, watch; least privilege in every grant."""

from __future__ import annotations

import json

import pytest

from codestream import ids
from codestream.errors import Code, Refusal
from codestream.negotiate import Grant, plan
from codestream.state import Role

SECRET = "z" * 40
SID = "stream-abc-123"


def test_new_stream_is_a_least_privilege_streamer() -> None:
    grant = plan(b"{}", SECRET)
    assert isinstance(grant, Grant)
    assert grant.role is Role.STREAMER
    assert ids.is_stream_id(grant.stream_id)
    assert grant.user_id == f"streamer:{grant.stream_id}"
    assert grant.roles == (f"webpubsub.sendToGroup.{grant.stream_id}",)
    assert grant.groups == ()
    assert grant.owner_key == ids.owner_key(SECRET, grant.stream_id)
    assert set(grant.answer("wss://u")) == {"streamId", "ownerKey", "role", "url"}


def test_resume_with_owner_key() -> None:
    key = ids.owner_key(SECRET, SID)
    grant = plan(json.dumps({"streamId": SID, "ownerKey": key}).encode(), SECRET)
    assert isinstance(grant, Grant)
    assert (grant.stream_id, grant.role, grant.roles) == (
        SID,
        Role.STREAMER,
        (f"webpubsub.sendToGroup.{SID}",),
    )


def test_watcher_has_no_roles_and_only_its_group() -> None:
    grant = plan(json.dumps({"streamId": SID}).encode(), SECRET)
    assert isinstance(grant, Grant)
    assert grant.role is Role.WATCHER
    assert grant.roles == ()
    assert grant.groups == (SID,)
    assert grant.user_id.startswith("watcher:")
    assert grant.answer("wss://u") == {"streamId": SID, "role": "watcher", "url": "wss://u"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (json.dumps({"streamId": SID, "ownerKey": "wrong"}).encode(), Code.OWNER_KEY_MISMATCH),
        (
            json.dumps({"streamId": SID, "ownerKey": ids.owner_key("other" * 8, SID)}).encode(),
            Code.OWNER_KEY_MISMATCH,
        ),
        (
            json.dumps(
                {"streamId": SID, "ownerKey": ids.owner_key(SECRET, "stream-xyz-789")}
            ).encode(),
            Code.OWNER_KEY_MISMATCH,
        ),
        (b"{bad", Code.BAD_JSON),
        (json.dumps({"streamId": "x"}).encode(), Code.BAD_STREAM_ID),
    ],
)
def test_refusals(body: bytes, code: Code) -> None:
    result = plan(body, SECRET)
    assert isinstance(result, Refusal)
    assert result.code == code
    assert result.status == (403 if code is Code.OWNER_KEY_MISMATCH else 400)
