"""Tickets: bound to (stream, connection, secret), never an owner key, checked in constant
time, and a hostile string is a mismatch, never an error."""

from __future__ import annotations

import hmac

import pytest

from codestream import ids, tickets
from codestream.contract import CONTRACT
from codestream.tickets import Tickets

SECRET = "s" * 32
SID = "stream-abc-123"


def test_a_ticket_is_stable_and_fits_the_contract() -> None:
    ticket = Tickets(SECRET).issue(SID, "conn-1")
    assert ticket == Tickets(SECRET).issue(SID, "conn-1")
    assert len(ticket) == 43 <= CONTRACT.ticket_chars  # 32 bytes, base64url, no padding
    assert "=" not in ticket
    assert Tickets(SECRET).verify(SID, "conn-1", ticket)


@pytest.mark.parametrize(
    ("secret", "stream_id", "connection_id"),
    [
        ("t" * 32, SID, "conn-1"),
        (SECRET, "stream-abc-124", "conn-1"),
        (SECRET, SID, "conn-2"),
        (SECRET, "stream-abc-12", "3:conn-1"),  # no id shifts the separator: ids hold no ":"
    ],
)
def test_it_names_one_stream_connection_and_deployment(
    secret: str, stream_id: str, connection_id: str
) -> None:
    good = Tickets(SECRET).issue(SID, "conn-1")
    assert Tickets(secret).issue(stream_id, connection_id) != good
    assert not Tickets(secret).verify(stream_id, connection_id, good)


def test_it_is_derived_for_this_purpose_only() -> None:
    # a ticket of stream X for a connection id equal to anything is never X's owner key
    owner = ids.owner_key(SECRET, SID)
    assert Tickets(SECRET).issue(SID, "") != owner
    assert not ids.owner_key_matches(SECRET, SID, Tickets(SECRET).issue(SID, "conn-1"))


@pytest.mark.parametrize("offered", ["", "x", "\ud800", "é" * 43, "a" * 10_000])
def test_junk_is_a_mismatch(offered: str) -> None:
    assert not Tickets(SECRET).verify(SID, "conn-1", offered)


def test_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tickets.hmac, "compare_digest", spy)
    good = Tickets(SECRET).issue(SID, "conn-1")
    assert Tickets(SECRET).verify(SID, "conn-1", good)
    assert not Tickets(SECRET).verify(SID, "conn-1", "x" + good[1:])
    assert len(compared) == 2
