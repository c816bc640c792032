from __future__ import annotations

import json

import pytest

from codestream.signature import verify
from emulator.subprotocol import DataType
from emulator.upstream import (
    EventContext,
    EventRejected,
    EventResponse,
    build_request,
    connect_body,
    read_connect_response,
    read_user_event_response,
)

CTX = EventContext("hub", "conn1", "user1", "json.webpubsub.azure.v1", "c3RhdGU=", "h:1")


def test_request_has_every_documented_header() -> None:
    req = build_request(
        CTX,
        event_name="sync",
        system=False,
        content_type="text/plain",
        body=b"x",
        access_keys=["key1", "key2"],
    )
    h = req.headers
    assert h["ce-type"] == "azure.webpubsub.user.sync"
    assert h["ce-source"] == "/hubs/hub/client/conn1"
    assert (h["ce-hub"], h["ce-connectionId"], h["ce-userId"]) == ("hub", "conn1", "user1")
    assert (h["ce-eventName"], h["ce-specversion"], h["ce-awpsversion"]) == ("sync", "1.0", "1.0")
    assert h["ce-subprotocol"] == "json.webpubsub.azure.v1"
    assert h["ce-connectionState"] == "c3RhdGU="
    assert h["WebHook-Request-Origin"] == "h:1"
    assert h["ce-time"].endswith("Z")
    assert h["ce-id"]
    assert verify("conn1", h["ce-signature"], ["key2"])
    assert h["ce-signature"].count("sha256=") == 2


def test_system_event_type_and_no_optional_headers() -> None:
    ctx = EventContext("hub", "c", None, None, None, "h")
    req = build_request(
        ctx,
        event_name="connect",
        system=True,
        content_type="application/json",
        body=b"{}",
        access_keys=["k"],
    )
    assert req.headers["ce-type"] == "azure.webpubsub.sys.connect"
    assert not {"ce-userId", "ce-subprotocol", "ce-connectionState"} & set(req.headers)


def test_connect_body_claims_are_lists() -> None:
    body = json.loads(connect_body({"sub": "u", "role": ["a", "b"], "exp": 5}, {}, {}, ["p"]))
    assert body["claims"] == {"sub": ["u"], "role": ["a", "b"], "exp": ["5"]}
    assert body["subprotocols"] == ["p"]


def _resp(status: int, body: bytes = b"", **headers: str) -> EventResponse:
    return EventResponse(status, {k.replace("_", "-"): v for k, v in headers.items()}, body)


def test_connect_response_sets_identity_and_state() -> None:
    body = json.dumps({"userId": "u2", "groups": ["g"], "roles": ["r"], "subprotocol": "p"})
    result = read_connect_response(_resp(200, body.encode(), ce_connectionState="s"))
    assert (result.user_id, result.groups, result.roles, result.subprotocol) == (
        "u2",
        ("g",),
        ("r",),
        "p",
    )
    assert (result.state, result.state_set) == ("s", True)
    assert read_connect_response(_resp(204)).user_id is None


@pytest.mark.parametrize(
    ("status", "client_status"), [(401, 401), (403, 403), (400, 400), (502, 500)]
)
def test_connect_refusals(status: int, client_status: int) -> None:
    with pytest.raises(EventRejected) as err:
        read_connect_response(_resp(status))
    assert err.value.status == client_status


def test_connect_response_with_bad_groups_is_an_error() -> None:
    with pytest.raises(EventRejected):
        read_connect_response(_resp(200, b'{"groups": "g"}'))


def test_user_event_reply_follows_content_type() -> None:
    result = read_user_event_response(
        _resp(200, b'{"a":1}', Content_Type="application/json; charset=utf-8")
    )
    assert result.reply is not None
    assert result.reply.data_type is DataType.JSON
    assert read_user_event_response(_resp(204)).reply is None
    cleared = read_user_event_response(_resp(204, ce_connectionState=""))
    assert (cleared.state, cleared.state_set) == (None, True)
    with pytest.raises(EventRejected):
        read_user_event_response(_resp(500))
