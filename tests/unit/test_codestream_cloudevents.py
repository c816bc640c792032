"""CloudEvents parsing, connect claims, answers, and the abuse-protection handshake."""

from __future__ import annotations

import json

import pytest

from codestream.cloudevents import (
    Kind,
    abuse_protection,
    connect_claims,
    parse_event,
    refuse_user_event,
    reply,
)
from codestream.errors import Code, Refusal

BASE = {
    "ce-specversion": "1.0",
    "ce-type": "azure.webpubsub.user.sync",
    "ce-eventname": "sync",
    "ce-connectionid": "conn-1",
    "ce-hub": "codestream",
    "ce-userid": "watcher:abc",
    "ce-connectionstate": "c3RhdGU=",
    "content-type": "application/json; charset=utf-8",
}


@pytest.mark.parametrize(
    ("ce_type", "name", "kind"),
    [
        ("azure.webpubsub.sys.connect", "connect", Kind.CONNECT),
        ("azure.webpubsub.sys.connected", "connected", Kind.CONNECTED),
        ("azure.webpubsub.sys.disconnected", "disconnected", Kind.DISCONNECTED),
        ("azure.webpubsub.user.sync", "sync", Kind.USER),
        ("azure.webpubsub.user.anything", "anything", Kind.USER),
    ],
)
def test_parse_kinds(ce_type: str, name: str, kind: Kind) -> None:
    event = parse_event({**BASE, "ce-type": ce_type, "ce-eventname": name}, b"{}")
    assert not isinstance(event, Refusal)
    assert (event.kind, event.name, event.connection_id, event.hub) == (
        kind,
        name,
        "conn-1",
        "codestream",
    )
    assert event.user_id == "watcher:abc"
    assert event.state == "c3RhdGU="
    assert event.is_json


def test_text_payload_is_not_json() -> None:
    event = parse_event({**BASE, "content-type": "text/plain"}, b"hi")
    assert not isinstance(event, Refusal)
    assert not event.is_json


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"ce-specversion": "0.3"}, Code.BAD_CLOUDEVENT),
        ({"ce-type": ""}, Code.BAD_CLOUDEVENT),
        ({"ce-connectionid": ""}, Code.BAD_CLOUDEVENT),
        ({"ce-hub": ""}, Code.BAD_CLOUDEVENT),
        ({"ce-eventname": ""}, Code.BAD_CLOUDEVENT),
        ({"ce-type": "com.example.thing"}, Code.BAD_CLOUDEVENT),
        ({"ce-type": "azure.webpubsub.sys.reboot", "ce-eventname": "reboot"}, Code.UNKNOWN_EVENT),
        ({"ce-type": "azure.webpubsub.sys.user", "ce-eventname": "user"}, Code.UNKNOWN_EVENT),
        ({"ce-eventname": "control"}, Code.BAD_CLOUDEVENT),  # type says sync
        ({"ce-type": "azure.webpubsub.sys.connect", "ce-eventname": "sync"}, Code.BAD_CLOUDEVENT),
    ],
)
def test_parse_refusals(change: dict[str, str], code: Code) -> None:
    result = parse_event({**BASE, **change}, b"{}")
    assert isinstance(result, Refusal)
    assert result.code == code


def test_connect_claims_normalised_to_lists() -> None:
    body = json.dumps({"claims": {"sub": "u", "role": ["a", "b"], "exp": [123]}}).encode()
    assert connect_claims(body) == {"sub": ["u"], "role": ["a", "b"], "exp": ["123"]}
    assert connect_claims(b"") == {}
    assert connect_claims(b'{"claims": null}') == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", Code.BAD_JSON),
        (b'{"claims": []}', Code.BAD_CLOUDEVENT),
        (b" " * 70000, Code.TOO_LARGE),
    ],
)
def test_connect_claims_refusals(body: bytes, code: Code) -> None:
    result = connect_claims(body)
    assert isinstance(result, Refusal)
    assert result.code == code


def test_replies() -> None:
    empty = reply(None, "st")
    assert (empty.status, empty.body, empty.headers) == (204, b"", {"ce-connectionState": "st"})
    refused = refuse_user_event(Refusal(Code.WRONG_ROLE, "no"))
    assert refused.status == 200  # a non-2xx would make the service drop the connection
    assert refused.json() == {"type": "error", "code": "wrong_role", "message": "no"}
    assert "ce-connectionState" not in refused.headers


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("127.0.0.1:8081", True),
        ("127.0.0.1", True),
        ("x.webpubsub.azure.com", False),
        ("", False),
    ],
)
def test_abuse_protection(origin: str, allowed: bool) -> None:
    result = abuse_protection({"webhook-request-origin": origin}, "127.0.0.1:8081")
    if allowed:
        assert result.status == 200
        assert result.headers["WebHook-Allowed-Origin"] == origin
    else:
        assert result.status == 400
        assert result.json()["error"]["code"] == "origin_not_allowed"
