"""The connection state machine alone: every way a connection ends emits `disconnected` once."""

from __future__ import annotations

import itertools

import pytest

from emulator.lifecycle import (
    TRANSITIONS,
    CancelRecoveryTimer,
    Close,
    CloseSocket,
    EmitDisconnected,
    Event,
    LeaveHub,
    Lifecycle,
    RecoveryExpired,
    SendDisconnectedMessage,
    Shutdown,
    SocketEnded,
    StartRecoveryTimer,
    State,
)


def _started(reliable: bool) -> Lifecycle:
    life = Lifecycle(reliable=reliable)
    assert life.attach() == (True, [])
    return life


def test_plain_connection_ends_when_its_socket_ends() -> None:
    life = _started(reliable=False)
    actions = life.handle(SocketEnded(1, close_code=None))
    assert actions == [
        LeaveHub(),
        EmitDisconnected("connection closed by the client (no close frame)"),
    ]
    assert life.state is State.CLOSED


@pytest.mark.parametrize("code", [None, 1001, 1006, 4000])
def test_reliable_connection_waits_for_recovery_unless_closed_deliberately(
    code: int | None,
) -> None:
    life = _started(reliable=True)
    assert life.handle(SocketEnded(1, close_code=code)) == [StartRecoveryTimer(1)]
    assert life.state is State.DETACHED
    assert life.recoverable
    assert life.attach() == (True, [CancelRecoveryTimer()])
    assert (life.state, life.generation) == (State.OPEN, 2)


@pytest.mark.parametrize("code", [1000, 0, 1005])
def test_reliable_connection_closed_normally_by_the_client_ends_at_once(code: int) -> None:
    life = _started(reliable=True)
    actions = life.handle(SocketEnded(1, close_code=code))
    assert actions == [LeaveHub(), EmitDisconnected(f"connection closed by the client ({code})")]
    assert not life.recoverable


def test_recovery_window_expiry_ends_the_connection() -> None:
    life = _started(reliable=True)
    life.handle(SocketEnded(1))
    assert life.handle(RecoveryExpired(1)) == [
        LeaveHub(),
        EmitDisconnected("recovery window expired"),
    ]
    assert life.state is State.CLOSED


def test_a_timer_of_an_earlier_socket_is_stale() -> None:
    life = _started(reliable=True)
    life.handle(SocketEnded(1))
    life.attach()  # recovered: generation 2
    assert life.handle(RecoveryExpired(1)) == []
    assert life.handle(SocketEnded(1)) == []
    assert life.state is State.OPEN


def test_server_close_leaves_the_hub_first_and_disconnects_once_the_socket_is_gone() -> None:
    life = _started(reliable=True)
    actions = life.handle(Close(1000, "bye", tell_client=True))
    assert actions == [LeaveHub(), SendDisconnectedMessage("bye"), CloseSocket(1000, "bye", True)]
    assert life.state is State.CLOSING
    assert life.ended
    assert not life.recoverable
    assert life.handle(Close(1008, "again")) == []  # a second close changes nothing
    assert life.handle(SocketEnded(1, 1000)) == [EmitDisconnected("bye")]
    assert life.state is State.CLOSED


def test_urgent_close_while_flushing_cuts_the_flush_short() -> None:
    life = _started(reliable=False)
    life.handle(Close(1000, "bye"))
    assert life.handle(Close(1008, "overflow", flush=False)) == [
        CloseSocket(1008, "overflow", False)
    ]


def test_close_while_detached_ends_at_once() -> None:
    life = _started(reliable=True)
    life.handle(SocketEnded(1))
    assert life.handle(Close(1000, "rest close", tell_client=True)) == [
        LeaveHub(),
        CancelRecoveryTimer(),
        EmitDisconnected("rest close"),
    ]
    assert life.attach() == (False, [])  # no recovery of a closed connection


@pytest.mark.parametrize("detached", [False, True])
def test_shutdown(detached: bool) -> None:
    life = _started(reliable=True)
    if detached:
        life.handle(SocketEnded(1))
    actions = life.handle(Shutdown())
    first = CancelRecoveryTimer() if detached else CloseSocket(1001, "server shutting down", False)
    assert actions == [LeaveHub(), first, EmitDisconnected("server shutting down")]


def test_no_recovery_while_closing() -> None:
    life = _started(reliable=True)
    life.handle(Close(1000, "bye"))
    assert life.attach() == (False, [])
    assert life.state is State.CLOSING


_EVENTS: list[Event] = [
    SocketEnded(1),
    SocketEnded(1, 1000),
    SocketEnded(1, 1001),
    Close(1000, "a", tell_client=True),
    Close(1008, "b", flush=False),
    RecoveryExpired(1),
    Shutdown(),
]


@pytest.mark.parametrize("reliable", [False, True])
@pytest.mark.parametrize("sequence", list(itertools.product(_EVENTS, repeat=3)))
def test_every_sequence_emits_disconnected_at_most_once_and_only_on_closing(
    reliable: bool, sequence: tuple[Event, ...]
) -> None:
    life = _started(reliable)
    emitted, left = 0, 0
    for event in sequence:
        before = life.state
        actions = life.handle(event)
        emitted += sum(isinstance(a, EmitDisconnected) for a in actions)
        left += sum(isinstance(a, LeaveHub) for a in actions)
        if any(isinstance(a, EmitDisconnected) for a in actions):
            assert life.state is State.CLOSED
            assert isinstance(actions[-1], EmitDisconnected)
        if life.state is not before:
            assert life.state in TRANSITIONS[(before, type(event))]
    assert emitted == (1 if life.state is State.CLOSED else 0)
    assert left <= 1
    assert left == (0 if life.state in (State.OPEN, State.DETACHED) else 1)
