"""The JSON client subprotocols as data: client frames in, server frames out. Pure.

`json.webpubsub.azure.v1` and `json.reliable.webpubsub.azure.v1` share their requests; the
reliable one adds `sequenceAck` and numbers every data message with `sequenceId`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from dataclasses import dataclass
from typing import Any

JSON_V1 = "json.webpubsub.azure.v1"
JSON_RELIABLE_V1 = "json.reliable.webpubsub.azure.v1"
SUPPORTED = (JSON_RELIABLE_V1, JSON_V1)


class DataType(enum.StrEnum):
    JSON = "json"
    TEXT = "text"
    BINARY = "binary"


class AckError(enum.StrEnum):
    """The documented `error.name` values of a failed ack."""

    FORBIDDEN = "Forbidden"
    INTERNAL = "InternalServerError"
    DUPLICATE = "Duplicate"


CONTENT_TYPES = {
    DataType.JSON: "application/json",
    DataType.TEXT: "text/plain",
    DataType.BINARY: "application/octet-stream",
}


@dataclass(frozen=True)
class Payload:
    """A message body as bytes plus what it is; JSON bodies hold their JSON text."""

    data_type: DataType
    body: bytes

    @classmethod
    def from_content_type(cls, content_type: str, body: bytes) -> Payload:
        """REST and upstream bodies; raises ValueError for a type the service does not take."""
        media = content_type.split(";")[0].strip().lower()
        if media == "application/json":
            try:
                json.loads(body)  # must be JSON to be delivered as dataType json
            except RecursionError:
                raise ValueError("JSON body is nested too deeply") from None
            return cls(DataType.JSON, body)
        if media == "text/plain":
            body.decode("utf-8")
            return cls(DataType.TEXT, body)
        if media == "application/octet-stream":
            return cls(DataType.BINARY, body)
        raise ValueError(
            f"unsupported content type {media!r}: use application/json, text/plain "
            "or application/octet-stream"
        )

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.data_type]

    def json_data(self) -> Any:
        """The `data` member of a JSON-subprotocol message."""
        if self.data_type is DataType.JSON:
            return json.loads(self.body)
        if self.data_type is DataType.TEXT:
            # a client's lone surrogates survive to JSON receivers as \u escapes
            return self.body.decode("utf-8", "surrogatepass")
        return base64.b64encode(self.body).decode("ascii")

    def utf8_body(self) -> bytes:
        """The body as valid UTF-8 where it is text: lone surrogates become U+FFFD."""
        if self.data_type is DataType.TEXT:
            return self.body.decode("utf-8", "replace").encode()
        return self.body

    def text(self) -> str:
        """For a plain WebSocket text frame."""
        return self.body.decode("utf-8", "replace")


class ProtocolError(ValueError):
    """A client frame that is not a valid request: the service declines such a client."""

    def __init__(self, message: str, ack_id: int | None = None) -> None:
        super().__init__(message)
        self.ack_id = ack_id


@dataclass(frozen=True)
class JoinGroup:
    group: str
    ack_id: int | None = None


@dataclass(frozen=True)
class LeaveGroup:
    group: str
    ack_id: int | None = None


@dataclass(frozen=True)
class SendToGroup:
    group: str
    payload: Payload
    no_echo: bool = False
    ack_id: int | None = None


@dataclass(frozen=True)
class SendEvent:
    event: str
    payload: Payload
    ack_id: int | None = None


@dataclass(frozen=True)
class SequenceAck:
    sequence_id: int


@dataclass(frozen=True)
class Ping:
    """Keep-alive the client SDKs send; answered with `{"type": "pong"}`."""


Command = JoinGroup | LeaveGroup | SendToGroup | SendEvent | SequenceAck | Ping

MAX_GROUP_NAME = 1024


def _payload(frame: dict[str, Any], ack_id: int | None) -> Payload:
    raw_type = frame.get("dataType", "json")  # the documented default
    try:
        data_type = DataType(raw_type)
    except ValueError:
        raise ProtocolError(f"unsupported dataType {raw_type!r}", ack_id) from None
    data = frame.get("data")
    if data_type is DataType.JSON:
        try:
            return Payload(data_type, json_text(data).encode())
        except (ValueError, RecursionError):
            raise ProtocolError("data is not valid JSON (NaN or too deep)", ack_id) from None
    if not isinstance(data, str):
        raise ProtocolError(f"data must be a string for dataType {raw_type}", ack_id)
    if data_type is DataType.TEXT:
        # JavaScript strings may hold lone surrogates; keep them (see json_data)
        return Payload(data_type, data.encode("utf-8", "surrogatepass"))
    try:
        return Payload(data_type, base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        raise ProtocolError("binary data must be base64", ack_id) from None


def json_text(value: Any) -> str:
    """Compact JSON, raw UTF-8 unless lone surrogates force ASCII escapes. ValueError on NaN."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text


MAX_EVENT_NAME = 128
# the service's rule for event names (they travel in ce-type and ce-eventName headers)
_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,127}")


def valid_event_name(name: str) -> bool:
    return _EVENT_NAME.fullmatch(name) is not None


def _group(frame: dict[str, Any], ack_id: int | None) -> str:
    group = frame.get("group")
    if not isinstance(group, str) or not group or len(group) > MAX_GROUP_NAME:
        raise ProtocolError("group must be a non-empty string of at most 1024 chars", ack_id)
    return group


def parse_frame(text: str) -> Command:
    """One client text frame -> one command; ProtocolError says what is wrong."""
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("frame is not JSON (or is nested too deeply)") from None
    if not isinstance(frame, dict):
        raise ProtocolError("frame must be a JSON object")
    ack_id = frame.get("ackId")
    if ack_id is not None and (not isinstance(ack_id, int) or isinstance(ack_id, bool)):
        raise ProtocolError("ackId must be an integer")
    kind = frame.get("type")
    if kind == "joinGroup":
        return JoinGroup(_group(frame, ack_id), ack_id)
    if kind == "leaveGroup":
        return LeaveGroup(_group(frame, ack_id), ack_id)
    if kind == "sendToGroup":
        group = _group(frame, ack_id)
        return SendToGroup(group, _payload(frame, ack_id), bool(frame.get("noEcho")), ack_id)
    if kind == "event":
        event = frame.get("event")
        if not isinstance(event, str) or not valid_event_name(event):
            raise ProtocolError(
                "event must be a letter, then up to 127 letters, digits, '_', '.' or '-'", ack_id
            )
        return SendEvent(event, _payload(frame, ack_id), ack_id)
    if kind == "ping":
        return Ping()
    if kind == "sequenceAck":  # ignored on a connection that is not reliable
        seq = frame.get("sequenceId")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ProtocolError("sequenceId must be a non-negative integer")
        return SequenceAck(seq)
    raise ProtocolError(f"unknown message type {kind!r}", ack_id)


def _dump(message: dict[str, Any]) -> str:
    return json_text(message)


def connected_frame(connection_id: str, user_id: str | None, reconnection_token: str | None) -> str:
    message: dict[str, Any] = {
        "type": "system",
        "event": "connected",
        "connectionId": connection_id,
    }
    if user_id:
        message["userId"] = user_id
    if reconnection_token:
        message["reconnectionToken"] = reconnection_token
    return _dump(message)


PONG_FRAME = '{"type":"pong"}'


def disconnected_frame(reason: str) -> str:
    return _dump({"type": "system", "event": "disconnected", "message": reason})


def ack_frame(ack_id: int, error: AckError | None = None, message: str = "") -> str:
    body: dict[str, Any] = {"type": "ack", "ackId": ack_id, "success": error is None}
    if error is not None:
        body["error"] = {"name": str(error), "message": message}
    return _dump(body)


def group_message(group: str, from_user_id: str | None, payload: Payload) -> dict[str, Any]:
    """A data message without its sequence id (added per connection by the reliable one).

    REST sends to a group come this way too, with `fromUserId` null: "messages published from
    one group the client joined" (reference-json-webpubsub-subprotocol.md)."""
    return {
        "type": "message",
        "from": "group",
        "group": group,
        "fromUserId": from_user_id or None,
        "dataType": str(payload.data_type),
        "data": payload.json_data(),
    }


def server_message(payload: Payload) -> dict[str, Any]:
    return {
        "type": "message",
        "from": "server",
        "dataType": str(payload.data_type),
        "data": payload.json_data(),
    }


def encode(message: dict[str, Any], sequence_id: int | None = None) -> str:
    if sequence_id is not None:
        message = {"sequenceId": sequence_id, **message}
    return _dump(message)
