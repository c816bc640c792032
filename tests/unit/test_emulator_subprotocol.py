from __future__ import annotations

import json

import pytest

from emulator.subprotocol import (
    AckError,
    DataType,
    JoinGroup,
    Payload,
    Ping,
    ProtocolError,
    SendEvent,
    SendToGroup,
    SequenceAck,
    ack_frame,
    connected_frame,
    encode,
    group_message,
    parse_frame,
    server_message,
)


def test_send_to_group_json_data_keeps_its_value() -> None:
    frame = {"type": "sendToGroup", "group": "g", "dataType": "json", "data": {"a": [1, "é"]}}
    command = parse_frame(json.dumps({**frame, "noEcho": True, "ackId": 7}))
    assert isinstance(command, SendToGroup)
    assert (command.group, command.no_echo, command.ack_id) == ("g", True, 7)
    assert command.payload.json_data() == {"a": [1, "é"]}


def test_binary_data_is_base64_both_ways() -> None:
    command = parse_frame('{"type":"event","event":"e","dataType":"binary","data":"AAH/"}')
    assert isinstance(command, SendEvent)
    assert command.payload == Payload(DataType.BINARY, b"\x00\x01\xff")
    assert command.payload.json_data() == "AAH/"


@pytest.mark.parametrize(
    ("text", "ack_id", "message"),
    [
        ("not json", None, "not JSON"),
        ("[1]", None, "object"),
        ('{"type":"joinGroup","ackId":"1","group":"g"}', None, "ackId"),
        ('{"type":"joinGroup","ackId":3}', 3, "group"),
        ('{"type":"sendToGroup","group":"g","dataType":"xml","data":"","ackId":4}', 4, "dataType"),
        ('{"type":"sendToGroup","group":"g","dataType":"text","data":5}', None, "string"),
        ('{"type":"event","event":"e","dataType":"binary","data":"!!"}', None, "base64"),
        ('{"type":"event","event":"1st","data":1,"ackId":5}', 5, "event must"),
        ('{"type":"event","event":"a b","data":1}', None, "event must"),
        ('{"type":"event","event":"' + "e" * 129 + '"}', None, "event must"),
        ('{"type":"nope","ackId":9}', 9, "unknown"),
    ],
)
def test_bad_frames_say_why_and_keep_the_ack_id(
    text: str, ack_id: int | None, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message) as err:
        parse_frame(text)
    assert err.value.ack_id == ack_id


def test_data_type_defaults_to_json() -> None:
    command = parse_frame('{"type":"event","event":"e","data":[1]}')
    assert isinstance(command, SendEvent)
    assert command.payload == Payload(DataType.JSON, b"[1]")


def test_event_names_follow_the_services_rule() -> None:
    for name in ("e", "sync", "a.b-c_d", "E" + "x" * 127):
        command = parse_frame(json.dumps({"type": "event", "event": name, "data": 1}))
        assert isinstance(command, SendEvent)
    for bad in ("", "_x", "-x", "x y", "x/y", "é", "x" * 129):
        with pytest.raises(ProtocolError):
            parse_frame(json.dumps({"type": "event", "event": bad, "data": 1}))


def test_commands_of_either_json_protocol() -> None:
    # sequenceAck parses on both; a connection that is not reliable ignores it
    assert parse_frame('{"type":"sequenceAck","sequenceId":5}') == SequenceAck(5)
    assert parse_frame('{"type":"ping"}') == Ping()
    assert parse_frame('{"type":"joinGroup","group":"g"}') == JoinGroup("g")


def test_server_frames() -> None:
    assert json.loads(connected_frame("c", "u", "t")) == {
        "type": "system",
        "event": "connected",
        "connectionId": "c",
        "userId": "u",
        "reconnectionToken": "t",
    }
    assert json.loads(ack_frame(1)) == {"type": "ack", "ackId": 1, "success": True}
    assert json.loads(ack_frame(2, AckError.DUPLICATE, "dup"))["error"] == {
        "name": "Duplicate",
        "message": "dup",
    }
    text = Payload(DataType.TEXT, b"hi")
    assert json.loads(encode(group_message("g", None, text), sequence_id=3)) == {
        "sequenceId": 3,
        "type": "message",
        "from": "group",
        "group": "g",
        "fromUserId": None,
        "dataType": "text",
        "data": "hi",
    }
    assert server_message(Payload(DataType.JSON, b'"s"'))["data"] == "s"


@pytest.mark.parametrize(
    ("content_type", "body", "data_type"),
    [
        ("application/json; charset=utf-8", b'{"a":1}', DataType.JSON),
        ("text/plain", b"x", DataType.TEXT),
        ("application/octet-stream", b"\xff", DataType.BINARY),
    ],
)
def test_payload_from_content_type(content_type: str, body: bytes, data_type: DataType) -> None:
    assert Payload.from_content_type(content_type, body).data_type is data_type


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("image/png", b"x"), ("application/json", b"{bad"), ("text/plain", b"\xff")],
)
def test_payload_refuses_what_the_service_refuses(content_type: str, body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (UnicodeDecodeError and JSON errors too)
        Payload.from_content_type(content_type, body)


def test_lone_surrogates_reach_json_receivers_unchanged() -> None:
    text = '{"type":"sendToGroup","group":"g","dataType":"text","data":"a\\ud800b"}'
    command = parse_frame(text)
    assert isinstance(command, SendToGroup)
    frame = encode(group_message("g", None, command.payload))
    frame.encode()  # sendable as a WebSocket text frame
    assert json.loads(frame)["data"] == "a\ud800b"
    assert command.payload.text() == "a\ufffd\ufffd\ufffdb"  # plain receivers
    assert command.payload.utf8_body().decode() == "a\ufffd\ufffd\ufffdb"  # upstream


def test_lone_surrogates_in_json_data_are_escaped_only_when_needed() -> None:
    text = '{"type":"sendToGroup","group":"g","dataType":"json","data":["\\udfff","é"]}'
    command = parse_frame(text)
    assert isinstance(command, SendToGroup)
    assert command.payload.body.isascii()
    assert json.loads(command.payload.body) == ["\udfff", "é"]
    plain = parse_frame('{"type":"event","event":"e","data":["é"]}')
    assert isinstance(plain, SendEvent)
    assert plain.payload.body == '["é"]'.encode()


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,
        '{"type":"event","event":"e","dataType":"json","data":NaN}',
        '{"type":"event","event":"bad name\\n","data":1}',
        '{"type":"event","event":"' + "e" * 129 + '","data":1}',
    ],
)
def test_deep_nan_and_bad_event_names_are_protocol_errors(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_frame(text)


def test_deep_rest_json_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="deeply"):
        Payload.from_content_type("application/json", b"[" * 5000 + b"]" * 5000)
