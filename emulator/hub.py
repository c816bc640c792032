"""Who is connected, to which groups, as which user, allowed to do what. No sockets.

Each connection carries a `Sink` (the I/O side) that takes frames without waiting, so a
fan-out over thousands of connections never awaits any one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .odata_filter import Filter, Subject
from .subprotocol import Payload, encode, group_message, server_message

SEND_TO_GROUP = "sendToGroup"
JOIN_LEAVE_GROUP = "joinLeaveGroup"
PERMISSIONS = (SEND_TO_GROUP, JOIN_LEAVE_GROUP)
# the SDKs' rule: starts with a letter, then letters, digits or underscores
_HUB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")


def valid_hub_name(name: str) -> bool:
    return _HUB_NAME.fullmatch(name) is not None


class Sink(Protocol):
    def send_data(self, frame: str, payload: Payload) -> None:
        """Queue a data message: `frame` for JSON clients, `payload` for plain WebSocket."""

    def close(self, reason: str) -> None:
        """Close as the service does when asked to (REST close or replaced)."""


def subject(conn: Connection) -> Subject:
    """What an OData filter sees of a connection."""
    return Subject(conn.id, conn.user_id, frozenset(conn.groups))


def role(permission: str, group: str | None = None) -> str:
    return f"webpubsub.{permission}" + (f".{group}" if group else "")


@dataclass(eq=False)
class Connection:
    id: str
    hub: str
    user_id: str | None
    subprotocol: str | None
    sink: Sink
    roles: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    state: str | None = None

    def allowed(self, permission: str, group: str) -> bool:
        return role(permission) in self.roles or role(permission, group) in self.roles


class Hub:
    def __init__(self, name: str) -> None:
        self.name = name
        self.connections: dict[str, Connection] = {}
        self.groups: dict[str, dict[str, Connection]] = {}
        self.users: dict[str, dict[str, Connection]] = {}

    # membership
    def add(self, conn: Connection, groups: Iterable[str] = ()) -> None:
        self.connections[conn.id] = conn
        if conn.user_id:
            self.users.setdefault(conn.user_id, {})[conn.id] = conn
        for group in groups:
            self.join(conn, group)

    def remove(self, conn: Connection) -> None:
        if self.connections.get(conn.id) is not conn:
            return
        del self.connections[conn.id]
        for group in list(conn.groups):
            self.leave(conn, group)
        if conn.user_id and conn.user_id in self.users:
            self.users[conn.user_id].pop(conn.id, None)
            if not self.users[conn.user_id]:
                del self.users[conn.user_id]

    def join(self, conn: Connection, group: str) -> None:
        conn.groups.add(group)
        self.groups.setdefault(group, {})[conn.id] = conn

    def leave(self, conn: Connection, group: str) -> None:
        conn.groups.discard(group)
        members = self.groups.get(group)
        if members is not None:
            members.pop(conn.id, None)
            if not members:
                del self.groups[group]

    def add_user_to_group(self, user_id: str, group: str) -> bool:
        """The user's current connections join; False (and nothing kept) if it has none.
        The service answers 404 then: a user added before it connects is in no group."""
        conns = list(self.users.get(user_id, {}).values())
        for conn in conns:
            self.join(conn, group)
        return bool(conns)

    def remove_user_from_group(self, user_id: str, group: str | None) -> None:
        """`group=None`: from every group."""
        for conn in list(self.users.get(user_id, {}).values()):
            for g in [group] if group else list(conn.groups):
                self.leave(conn, g)

    # queries
    def connection(self, connection_id: str) -> Connection | None:
        return self.connections.get(connection_id)

    def group_members(self, group: str) -> list[Connection]:
        return list(self.groups.get(group, {}).values())

    def user_connections(self, user_id: str) -> list[Connection]:
        return list(self.users.get(user_id, {}).values())

    # delivery
    def matching(self, flt: Filter | None) -> list[Connection]:
        return [c for c in self.connections.values() if flt is None or flt.matches(subject(c))]

    @staticmethod
    def _deliver(
        targets: Iterable[Connection],
        message: dict[str, Any],
        payload: Payload,
        skip: set[str],
        flt: Filter | None = None,
    ) -> int:
        frame = encode(message)  # encoded once for the whole fan-out
        count = 0
        for conn in targets:
            if conn.id not in skip and (flt is None or flt.matches(subject(conn))):
                conn.sink.send_data(frame, payload)
                count += 1
        return count

    def send_to_all(
        self, payload: Payload, excluded: Iterable[str] = (), flt: Filter | None = None
    ) -> int:
        conns = list(self.connections.values())
        return self._deliver(conns, server_message(payload), payload, set(excluded), flt)

    def send_to_group_from_server(
        self,
        group: str,
        payload: Payload,
        excluded: Iterable[str] = (),
        flt: Filter | None = None,
    ) -> int:
        members = self.group_members(group)
        message = group_message(group, None, payload)
        return self._deliver(members, message, payload, set(excluded), flt)

    def send_to_group_from_client(
        self, sender: Connection, group: str, payload: Payload, no_echo: bool
    ) -> int:
        skip = {sender.id} if no_echo else set()
        message = group_message(group, sender.user_id, payload)
        return self._deliver(self.group_members(group), message, payload, skip)

    def send_to_user(self, user_id: str, payload: Payload, flt: Filter | None = None) -> int:
        conns = self.user_connections(user_id)
        return self._deliver(conns, server_message(payload), payload, set(), flt)

    def send_to_connection(self, conn: Connection, payload: Payload) -> None:
        self._deliver([conn], server_message(payload), payload, set())

    # permissions granted at run time (REST)
    @staticmethod
    def grant(conn: Connection, permission: str, target: str | None) -> None:
        conn.roles.add(role(permission, target))

    @staticmethod
    def revoke(conn: Connection, permission: str, target: str | None) -> None:
        """Without a target: the permission on every group; with one: that group's grant."""
        if target:
            conn.roles.discard(role(permission, target))
        else:
            prefix = role(permission)
            conn.roles = {r for r in conn.roles if r != prefix and not r.startswith(prefix + ".")}

    @staticmethod
    def has(conn: Connection, permission: str, target: str | None) -> bool:
        return conn.allowed(permission, target) if target else role(permission) in conn.roles


class Registry:
    """All hubs by case-insensitive name, created on first use like the service's."""

    def __init__(self) -> None:
        self._hubs: dict[str, Hub] = {}

    def hub(self, name: str) -> Hub:
        key = name.lower()
        hub = self._hubs.get(key)
        if hub is None:
            hub = self._hubs[key] = Hub(key)
        return hub

    def connection_count(self) -> int:
        return sum(len(h.connections) for h in self._hubs.values())
