from __future__ import annotations

import json
from dataclasses import dataclass, field

from emulator.hub import Connection, Hub, Registry, valid_hub_name
from emulator.odata_filter import parse
from emulator.subprotocol import DataType, Payload


@dataclass
class FakeSink:
    frames: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    def send_data(self, frame: str, payload: Payload) -> None:
        self.frames.append(frame)

    def close(self, reason: str) -> None:
        self.closed.append(reason)


def _conn(cid: str, user: str | None = None, roles: set[str] | None = None) -> Connection:
    return Connection(cid, "hub", user, None, FakeSink(), roles=roles or set())


def _data(conn: Connection) -> list[object]:
    return [json.loads(f)["data"] for f in conn.sink.frames]  # type: ignore[attr-defined]


TEXT = Payload(DataType.TEXT, b"hi")


def test_group_fan_out_with_no_echo_and_excluded() -> None:
    hub = Hub("hub")
    a, b, c = _conn("a", "alice"), _conn("b"), _conn("c")
    for conn in (a, b, c):
        hub.add(conn, ["g"])
    hub.send_to_group_from_client(a, "g", TEXT, no_echo=True)
    assert (_data(a), _data(b), _data(c)) == ([], ["hi"], ["hi"])
    assert json.loads(b.sink.frames[0])["fromUserId"] == "alice"  # type: ignore[attr-defined]
    hub.send_to_group_from_server("g", TEXT, excluded=["b"])
    assert (_data(a), _data(b), _data(c)) == (["hi"], ["hi"], ["hi", "hi"])
    # a REST send to a group arrives as a group message with no sender, as documented
    assert json.loads(c.sink.frames[-1]) == {  # type: ignore[attr-defined]
        "type": "message",
        "from": "group",
        "group": "g",
        "fromUserId": None,
        "dataType": "text",
        "data": "hi",
    }


def test_remove_cleans_groups_and_users() -> None:
    hub = Hub("hub")
    a = _conn("a", "alice")
    hub.add(a, ["g"])
    assert hub.user_connections("alice") == [a]
    hub.remove(a)
    assert hub.group_members("g") == []
    assert hub.user_connections("alice") == []
    assert "g" not in hub.groups


def test_adding_a_user_with_no_connection_keeps_nothing() -> None:
    """The service answers 404 and does not remember it (Microsoft's live SDK tests)."""
    hub = Hub("hub")
    assert hub.add_user_to_group("alice", "g") is False
    hub.add(_conn("a", "alice"))
    assert hub.group_members("g") == []
    assert "g" not in hub.groups


def test_adding_a_user_adds_its_current_connections_only() -> None:
    hub = Hub("hub")
    first = _conn("a", "alice")
    hub.add(first)
    assert hub.add_user_to_group("alice", "g") is True
    later = _conn("b", "alice")
    hub.add(later)
    assert hub.group_members("g") == [first]
    hub.remove_user_from_group("alice", None)
    assert hub.group_members("g") == []


def test_filtered_fan_out() -> None:
    hub = Hub("hub")
    a, b = _conn("a", "alice"), _conn("b", "bob")
    hub.add(a, ["g", "vip"])
    hub.add(b, ["g"])
    assert hub.send_to_all(TEXT, flt=parse("'vip' in groups")) == 1
    assert (_data(a), _data(b)) == (["hi"], [])
    assert hub.send_to_group_from_server("g", TEXT, flt=parse("userId ne 'alice'")) == 1
    assert (_data(a), _data(b)) == (["hi"], ["hi"])
    assert hub.send_to_user("alice", TEXT, flt=parse("connectionId eq 'nobody'")) == 0
    assert [c.id for c in hub.matching(parse("length(groups) ge 1"))] == ["a", "b"]


def test_permissions_general_and_per_group() -> None:
    conn = _conn("a", roles={"webpubsub.sendToGroup.s1"})
    assert conn.allowed("sendToGroup", "s1")
    assert not conn.allowed("sendToGroup", "s2")
    assert not conn.allowed("joinLeaveGroup", "s1")
    Hub.grant(conn, "joinLeaveGroup", None)
    assert conn.allowed("joinLeaveGroup", "anything")
    assert Hub.has(conn, "joinLeaveGroup", None)
    Hub.revoke(conn, "sendToGroup", None)  # no target: every group's grant goes
    assert not conn.allowed("sendToGroup", "s1")


def test_registry_hub_names_are_case_insensitive() -> None:
    registry = Registry()
    assert registry.hub("CodeStream") is registry.hub("codestream")


def test_hub_names_follow_the_sdk_rule() -> None:
    assert valid_hub_name("codestream")
    assert valid_hub_name("Hub_1")
    assert not valid_hub_name("1hub")
    assert not valid_hub_name("a-b")
    assert not valid_hub_name("")
