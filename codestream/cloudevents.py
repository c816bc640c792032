"""Web PubSub's CloudEvents (HTTP binary mode) in and out, without I/O.

Parses the `ce-*` headers into a typed `CloudEvent` and builds the answers the service
understands: status codes, `ce-connectionState`, and the abuse-protection handshake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from codestream.errors import Code, Refusal
from codestream.http import JSON_TYPE, HttpResult, error_result, json_result, parse_json

SYS_PREFIX = "azure.webpubsub.sys."
USER_PREFIX = "azure.webpubsub.user."
STATE_HEADER = "ce-connectionState"
MAX_CONNECT_BODY = 64 * 1024


class Kind(StrEnum):
    CONNECT = "connect"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    USER = "user"


@dataclass(frozen=True)
class CloudEvent:
    kind: Kind
    name: str  # event name: connect/connected/disconnected or the user event's name
    hub: str
    connection_id: str
    user_id: str | None
    state: str | None  # raw ce-connectionState
    is_json: bool  # Content-Type application/json (dataType json)
    body: bytes


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def parse_event(headers: Mapping[str, str], body: bytes) -> CloudEvent | Refusal:
    """`headers` must have lower-case names (see `lower_headers`)."""
    if headers.get("ce-specversion") != "1.0":
        return Refusal(Code.BAD_CLOUDEVENT, "ce-specversion 1.0 is required")
    ce_type = headers.get("ce-type", "")
    name = headers.get("ce-eventname", "")
    connection_id = headers.get("ce-connectionid", "")
    hub = headers.get("ce-hub", "")
    if not (ce_type and name and connection_id and hub):
        msg = "ce-type, ce-eventName, ce-connectionId and ce-hub are required"
        return Refusal(Code.BAD_CLOUDEVENT, msg)
    if ce_type.startswith(SYS_PREFIX):
        try:
            kind = Kind(ce_type.removeprefix(SYS_PREFIX))
        except ValueError:
            return Refusal(Code.UNKNOWN_EVENT, f"unknown system event {ce_type!r}")
        if kind is Kind.USER:
            return Refusal(Code.UNKNOWN_EVENT, f"unknown system event {ce_type!r}")
    elif ce_type.startswith(USER_PREFIX):
        kind = Kind.USER
    else:
        return Refusal(Code.BAD_CLOUDEVENT, f"ce-type {ce_type!r} is not a Web PubSub event")
    expected = name if kind is Kind.USER else str(kind)
    if ce_type.rsplit(".", 1)[-1] != expected or (kind is not Kind.USER and name != expected):
        return Refusal(Code.BAD_CLOUDEVENT, "ce-type and ce-eventName disagree")
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return CloudEvent(
        kind=kind,
        name=name,
        hub=hub,
        connection_id=connection_id,
        user_id=headers.get("ce-userid") or None,
        state=headers.get(STATE_HEADER.lower()) or None,
        is_json=content_type == JSON_TYPE,
        body=body,
    )


def connect_claims(body: bytes) -> dict[str, list[str]] | Refusal:
    """The token's claims from a connect event body, each as a list of strings."""
    if len(body) > MAX_CONNECT_BODY:
        return Refusal(Code.TOO_LARGE, "connect event body is too large")
    try:
        value = parse_json(body) if body else {}
    except ValueError:
        return Refusal(Code.BAD_JSON, "connect event body is not JSON")
    claims = value.get("claims") if isinstance(value, dict) else None
    if claims is None:
        claims = {}
    if not isinstance(claims, dict):
        return Refusal(Code.BAD_CLOUDEVENT, "claims must be an object")
    result: dict[str, list[str]] = {}
    for key, raw in claims.items():
        items = raw if isinstance(raw, list) else [raw]
        result[str(key)] = [str(item) for item in items]
    return result


def _state_headers(state: str | None) -> dict[str, str]:
    return {STATE_HEADER: state} if state is not None else {}


def accept_connect(state: str) -> HttpResult:
    return json_result(200, {}, _state_headers(state))


def reply(payload: Any | None = None, state: str | None = None) -> HttpResult:
    """Answer a user event: `payload` (if any) goes back to the sender as a server message."""
    if payload is None:
        return HttpResult(204, b"", _state_headers(state))
    return json_result(200, payload, _state_headers(state))


def refuse_user_event(refusal: Refusal, state: str | None = None) -> HttpResult:
    """200 on purpose: a non-2xx answer would make the service drop the sender's connection."""
    return reply(refusal.event_reply(), state)


def refuse(refusal: Refusal) -> HttpResult:
    return error_result(refusal)


def abuse_protection(headers: Mapping[str, str], service_host: str) -> HttpResult:
    """Answer the CloudEvents webhook handshake for our own service only."""
    origins = [o.strip().lower() for o in headers.get("webhook-request-origin", "").split(",")]
    host_only = service_host.split(":", 1)[0]
    for origin in origins:
        if origin and origin in (service_host, host_only):
            return HttpResult(200, b"", {"WebHook-Allowed-Origin": origin})
    msg = f"WebHook-Request-Origin must be this app's Web PubSub service ({service_host})"
    return error_result(Refusal(Code.ORIGIN_NOT_ALLOWED, msg))
