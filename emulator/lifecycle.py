"""A connection's life as a pure state machine: events in, actions out. No sockets, no asyncio.

`session.py` is the shell: it feeds what happened (a socket attached or ended, a close asked
for, the recovery timer fired, the server stopping) and carries out the actions. Every end of
a connection goes through one transition into `CLOSED`, the only place that emits
`EmitDisconnected` (and `LeaveHub`, if the connection had not left the hub already), so the
`disconnected` event is sent exactly once, whichever way the connection ended.

The legal transitions, as a table in the spirit of h11's `_state.py`:

| from \\ event | Attach   | SocketEnded        | Close    | RecoveryExpired | Shutdown |
|--------------|----------|--------------------|----------|-----------------|----------|
| OPEN         | OPEN     | DETACHED or CLOSED | CLOSING  | -               | CLOSED   |
| DETACHED     | OPEN     | -                  | CLOSED   | CLOSED          | CLOSED   |
| CLOSING      | -        | CLOSED             | CLOSING  | -               | CLOSED   |
| CLOSED       | -        | -                  | -        | -               | -        |

A `-` is not an error: the event is stale (an old socket's end, a timer that lost a race, a
second close) and changes nothing. `Attach` where it is not legal is refused (`attach` says
so), which the shell answers by closing the new socket.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class State(enum.Enum):
    OPEN = "open"  # a socket is attached and frames flow
    DETACHED = "detached"  # reliable only: the socket was lost, the client may recover it
    CLOSING = "closing"  # the server is closing the socket; already gone from the hub
    CLOSED = "closed"  # terminal


# --- events --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attach:
    """A (new) socket for this connection: the first one, or a recovery."""


@dataclass(frozen=True)
class SocketEnded:
    """The socket of `generation` is gone. `close_code` is set when the client sent a close
    frame (0 for a close frame without a code); None when the transport was lost."""

    generation: int
    close_code: int | None = None


@dataclass(frozen=True)
class Close:
    """The server ends the connection: REST close, a bad frame, a failed handler, overflow.
    `flush`: send what is queued first; otherwise drop it and close now."""

    code: int
    reason: str
    tell_client: bool = False
    flush: bool = True


@dataclass(frozen=True)
class RecoveryExpired:
    generation: int


@dataclass(frozen=True)
class Shutdown:
    """The server is stopping: close the socket now and end the connection."""


Event = Attach | SocketEnded | Close | RecoveryExpired | Shutdown


# --- actions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LeaveHub:
    """Gone for senders and REST at once (not only after the close handshake)."""


@dataclass(frozen=True)
class StartRecoveryTimer:
    generation: int


@dataclass(frozen=True)
class CancelRecoveryTimer:
    pass


@dataclass(frozen=True)
class SendDisconnectedMessage:
    """The `disconnected` system message to a JSON-subprotocol client, before the close."""

    reason: str


@dataclass(frozen=True)
class CloseSocket:
    code: int
    reason: str
    flush: bool


@dataclass(frozen=True)
class EmitDisconnected:
    """The `disconnected` upstream event; the connection's event stream ends after it."""

    reason: str


Action = (
    LeaveHub
    | StartRecoveryTimer
    | CancelRecoveryTimer
    | SendDisconnectedMessage
    | CloseSocket
    | EmitDisconnected
)

# The table above, as data: the states each (state, event) may lead to.
TRANSITIONS: dict[tuple[State, type[Event]], frozenset[State]] = {
    (State.OPEN, Attach): frozenset({State.OPEN}),
    (State.OPEN, SocketEnded): frozenset({State.DETACHED, State.CLOSED}),
    (State.OPEN, Close): frozenset({State.CLOSING}),
    (State.OPEN, Shutdown): frozenset({State.CLOSED}),
    (State.DETACHED, Attach): frozenset({State.OPEN}),
    (State.DETACHED, Close): frozenset({State.CLOSED}),
    (State.DETACHED, RecoveryExpired): frozenset({State.CLOSED}),
    (State.DETACHED, Shutdown): frozenset({State.CLOSED}),
    (State.CLOSING, SocketEnded): frozenset({State.CLOSED}),
    (State.CLOSING, Close): frozenset({State.CLOSING}),
    (State.CLOSING, Shutdown): frozenset({State.CLOSED}),
}

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
SHUTDOWN_REASON = "server shutting down"
EXPIRED_REASON = "recovery window expired"
# A close frame with one of these codes is a deliberate end, not a network hiccup: 1000, or no
# code at all (what @azure/web-pubsub-client's stop() sends). Any other code (1001 "going
# away" from a sleeping tab, 1006, 4xxx) leaves a reliable connection recoverable.
DELIBERATE_CLOSE_CODES = frozenset({CLOSE_NORMAL, 0, 1005})


class IllegalTransition(RuntimeError):
    """A bug in the machine itself: it computed a state the table does not allow."""


@dataclass
class Lifecycle:
    """One connection's state. `reliable` connections survive a lost socket."""

    reliable: bool
    state: State = State.OPEN
    generation: int = 0  # of the attached (or last attached) socket
    in_hub: bool = True
    closing_reason: str | None = None
    _attached_once: bool = False

    @property
    def recoverable(self) -> bool:
        return self.reliable and self.state in (State.OPEN, State.DETACHED)

    @property
    def open(self) -> bool:
        return self.state is State.OPEN

    @property
    def ended(self) -> bool:
        """Closing or closed: nothing more is sent to or accepted from the client."""
        return self.state in (State.CLOSING, State.CLOSED)

    def attach(self) -> tuple[bool, list[Action]]:
        """A socket arrives; (accepted, actions). The first attach is the connection's start."""
        if not self._attached_once:
            self._attached_once = True
            self.generation = 1
            return True, []
        if (self.state, Attach) not in TRANSITIONS:
            return False, []
        actions: list[Action] = []
        if self.state is State.DETACHED:
            actions.append(CancelRecoveryTimer())
        self.generation += 1
        self._move(Attach(), State.OPEN)
        return True, actions

    def handle(self, event: Event) -> list[Action]:
        """Apply one event; the actions to carry out, in order."""
        if isinstance(event, Attach):
            return self.attach()[1]
        if (self.state, type(event)) not in TRANSITIONS:
            return []
        if isinstance(event, SocketEnded | RecoveryExpired) and event.generation != self.generation:
            return []  # about a socket that has since been replaced
        if isinstance(event, SocketEnded):
            return self._socket_ended(event)
        if isinstance(event, Close):
            return self._close(event)
        if isinstance(event, RecoveryExpired):
            return self._end(event, EXPIRED_REASON)
        return self._shutdown(event)

    # --- transitions ------------------------------------------------------------------------
    def _socket_ended(self, event: SocketEnded) -> list[Action]:
        if self.state is State.CLOSING:
            return self._end(event, self.closing_reason or "closed by the server")
        deliberate = event.close_code in DELIBERATE_CLOSE_CODES
        if self.reliable and not deliberate:
            self._move(event, State.DETACHED)
            return [StartRecoveryTimer(self.generation)]
        code = event.close_code if event.close_code is not None else "no close frame"
        return self._end(event, f"connection closed by the client ({code})")

    def _close(self, event: Close) -> list[Action]:
        if self.state is State.DETACHED:
            return self._end(event, event.reason, CancelRecoveryTimer())
        if self.state is State.CLOSING:
            self._move(event, State.CLOSING)
            # a second, urgent close (e.g. overflow while flushing) cuts the flush short
            return [] if event.flush else [CloseSocket(event.code, event.reason, False)]
        self.closing_reason = event.reason
        actions: list[Action] = [LeaveHub()]
        self.in_hub = False
        if event.tell_client:
            actions.append(SendDisconnectedMessage(event.reason))
        actions.append(CloseSocket(event.code, event.reason, event.flush))
        self._move(event, State.CLOSING)
        return actions

    def _shutdown(self, event: Shutdown) -> list[Action]:
        if self.state is State.DETACHED:
            return self._end(event, SHUTDOWN_REASON, CancelRecoveryTimer())
        reason = self.closing_reason or SHUTDOWN_REASON
        return self._end(event, reason, CloseSocket(CLOSE_GOING_AWAY, SHUTDOWN_REASON, False))

    def _end(self, event: Event, reason: str, *first: Action) -> list[Action]:
        """The one way into CLOSED."""
        actions: list[Action] = list(first)
        if self.in_hub:
            actions.insert(0, LeaveHub())
            self.in_hub = False
        actions.append(EmitDisconnected(reason))
        self._move(event, State.CLOSED)
        return actions

    def _move(self, event: Event, to: State) -> None:
        allowed = TRANSITIONS.get((self.state, type(event)), frozenset())
        if to not in allowed:
            raise IllegalTransition(f"{self.state.name} --{type(event).__name__}--> {to.name}")
        self.state = to
