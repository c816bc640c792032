"""One client connection's I/O: a WebSocket, its outbound queue, its upstream calls.

Fan-out only appends to a bounded queue drained by this connection's own writer task, so a
slow socket delays nobody else; when the queue overflows the connection is closed. Upstream
events of one connection run in order on its own task, so a slow handler stalls only that
connection's events. A reliable connection outlives its socket for the recovery window.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from .config import EventHandler, HubSettings
from .hub import JOIN_LEAVE_GROUP, SEND_TO_GROUP, Connection, Hub
from .lifecycle import (
    CLOSE_NORMAL,
    Action,
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
from .reliable import AckIds, BufferOverflow, SequenceBuffer
from .runtime import Runtime
from .subprotocol import (
    JSON_RELIABLE_V1,
    PONG_FRAME,
    AckError,
    DataType,
    JoinGroup,
    LeaveGroup,
    Payload,
    Ping,
    ProtocolError,
    SendEvent,
    SendToGroup,
    SequenceAck,
    ack_frame,
    connected_frame,
    disconnected_frame,
    parse_frame,
)
from .upstream import (
    EventContext,
    EventRejected,
    build_request,
    disconnected_body,
    read_user_event_response,
)

log = logging.getLogger(__name__)

CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_ERROR = 1011
FORCED_CLOSE_SECONDS = 3.0

Job = Callable[[], Awaitable[None]]


def _close_reason(reason: str) -> bytes:
    """A close frame holds at most 123 bytes of reason; never cut a UTF-8 character."""
    return reason.encode()[:123].decode("utf-8", "ignore").encode()


class _CloseAfterFlush:
    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class Session:
    """Implements `hub.Sink` for one connection: the I/O shell around its `Lifecycle`."""

    def __init__(
        self,
        runtime: Runtime,
        hub: Hub,
        settings: HubSettings,
        *,
        connection_id: str,
        user_id: str | None,
        json_protocol: str | None,
        subprotocol: str | None,
        roles: set[str],
        state: str | None,
        reconnection_token: str | None,
    ) -> None:
        self.runtime = runtime
        self.limits = runtime.config.limits
        self.hub = hub
        self.settings = settings
        self.json_protocol = json_protocol
        self.reconnection_token = reconnection_token
        self.conn = Connection(
            connection_id, hub.name, user_id, subprotocol, self, roles=roles, state=state
        )
        reliable = json_protocol == JSON_RELIABLE_V1
        self.reliable = (
            SequenceBuffer(self.limits.unacked_frames, self.limits.unacked_bytes)
            if reliable
            else None
        )
        self.life = Lifecycle(reliable=reliable)
        self.ack_ids = AckIds()
        self.ws: web.WebSocketResponse | None = None
        self._transport: asyncio.Transport | None = None
        self._out: deque[str | bytes | _CloseAfterFlush] = deque()
        self._out_bytes = 0
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._jobs: asyncio.Queue[Job | None] = asyncio.Queue()
        self._upstream_task: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._closer: asyncio.Task[None] | None = None
        runtime.sessions.add(self)

    @property
    def recoverable(self) -> bool:
        return self.life.recoverable

    @property
    def finished(self) -> bool:
        return self.life.state is State.CLOSED

    @property
    def id(self) -> str:
        return self.conn.id

    # --- the shell: events in, actions carried out ------------------------------------
    def _handle(self, event: Event) -> None:
        for action in self.life.handle(event):
            self._do(action)

    def _do(self, action: Action) -> None:
        if isinstance(action, LeaveHub):
            self.hub.remove(self.conn)
        elif isinstance(action, StartRecoveryTimer):
            self._expiry = asyncio.get_running_loop().call_later(
                self.limits.recovery_window,
                self._handle,
                RecoveryExpired(action.generation),
            )
        elif isinstance(action, CancelRecoveryTimer):
            if self._expiry is not None:
                self._expiry.cancel()
                self._expiry = None
        elif isinstance(action, SendDisconnectedMessage):
            if self.json_protocol and self.ws is not None:
                frame = disconnected_frame(action.reason)
                self._out.append(frame)
                self._out_bytes += len(frame)
        elif isinstance(action, CloseSocket) and action.flush:
            self._close_after_flush(action)
        elif isinstance(action, CloseSocket):
            self._close_socket_now(action)
        elif isinstance(action, EmitDisconnected):
            self.runtime.sessions.discard(self)
            self._queue_system_event("disconnected", disconnected_body(action.reason))
            self._jobs.put_nowait(None)

    def _close_after_flush(self, action: CloseSocket) -> None:
        if self.ws is None:
            return
        self._out.append(_CloseAfterFlush(action.code, action.reason))
        self._wake.set()
        # a client that does not read must not keep the connection forever
        ws, transport = self.ws, self._transport
        asyncio.get_running_loop().call_later(
            FORCED_CLOSE_SECONDS, self._abort_if_open, ws, transport
        )

    def _close_socket_now(self, action: CloseSocket) -> None:
        ws = self.ws
        self._stop_writer()
        self._out.clear()
        self._out_bytes = 0
        if ws is not None and not ws.closed:
            self._closer = self.runtime.spawn(
                self._close_socket(ws, self._transport, action.code, action.reason)
            )

    # --- socket lifecycle -------------------------------------------------------------
    def attach(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> bool:
        """Bind a (new) socket: on recovery, resend what the client has not acked."""
        accepted, actions = self.life.attach()
        if not accepted:
            return False
        for action in actions:
            self._do(action)
        old = self.ws
        self._stop_writer()
        if old is not None and not old.closed:
            self.runtime.spawn(self._close_socket(old, self._transport, CLOSE_NORMAL, "replaced"))
        self.ws = ws
        self._transport = transport
        self._out.clear()
        self._out_bytes = 0
        self._writer = asyncio.ensure_future(self._write_loop(ws))
        if self.json_protocol:
            self.send_control(connected_frame(self.id, self.conn.user_id, self.reconnection_token))
        if self.reliable is not None:
            for frame in self.reliable.unacked():
                self._enqueue(frame)
        if self._upstream_task is None:
            self._upstream_task = self.runtime.spawn(self._upstream_loop())
        return True

    async def run(self, ws: web.WebSocketResponse) -> None:
        """Read until the socket ends, then tell the lifecycle how it ended."""
        generation = self.life.generation
        close_code: int | None = None
        try:
            while self.life.generation == generation and not self.finished:
                msg = await ws.receive()
                if msg.type == WSMsgType.TEXT:
                    self._on_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._on_binary(msg.data)
                elif msg.type == WSMsgType.CLOSE:
                    close_code = int(msg.data or 0)
                    break
                elif msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
        except Exception:  # a bug here must end one connection, not answer an upgraded request
            log.exception("connection %s failed", self.id)
        finally:
            if self.life.generation == generation:
                self._stop_writer()
                self.ws = None
            self._handle(SocketEnded(generation, close_code))

    def close(self, reason: str) -> None:
        """REST close: say why, then close; the session does not wait for recovery."""
        self._handle(Close(CLOSE_NORMAL, reason, tell_client=True))

    def close_with(self, code: int, reason: str, tell_client: bool = False) -> None:
        self._handle(Close(code, reason, tell_client=tell_client))

    def terminate(self, code: int, reason: str) -> None:
        """Close now, dropping whatever is queued (overflow, protocol violation)."""
        log.info("closing connection %s: %s", self.id, reason)
        self._handle(Close(code, reason, flush=False))

    async def shutdown(self) -> None:
        """Server stopping: close the socket now (1001) and end the session."""
        self._handle(Shutdown())
        if self._closer is not None:
            await self._closer

    def drop_transport(self) -> None:
        """Cut the TCP connection without a close frame, as a network failure would."""
        if self._transport is not None:
            self._transport.abort()

    @staticmethod
    def _abort_if_open(ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> None:
        if not ws.closed and transport is not None:
            transport.abort()

    async def _close_socket(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        code: int,
        reason: str,
    ) -> None:
        try:
            async with asyncio.timeout(FORCED_CLOSE_SECONDS):
                await ws.close(code=code, message=_close_reason(reason))
        except (TimeoutError, ConnectionError, RuntimeError):
            if transport is not None:
                transport.abort()

    def _stop_writer(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None

    # --- outbound ---------------------------------------------------------------------
    async def _write_loop(self, ws: web.WebSocketResponse) -> None:
        out = self._out
        try:
            while True:
                while not out:
                    self._wake.clear()
                    await self._wake.wait()
                item = out.popleft()
                if isinstance(item, _CloseAfterFlush):
                    await ws.close(code=item.code, message=_close_reason(item.reason))
                    return
                self._out_bytes -= len(item)
                if isinstance(item, str):
                    await ws.send_str(item)
                else:
                    await ws.send_bytes(item)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("writer of %s stopped: %s", self.id, exc)
        except Exception:  # never a silent, half-alive connection
            log.exception("writer of %s failed", self.id)
            self.terminate(CLOSE_ERROR, "internal error while sending")

    def _enqueue(self, item: str | bytes) -> None:
        self._out.append(item)
        self._out_bytes += len(item)
        if (
            len(self._out) > self.limits.outbound_queue_frames
            or self._out_bytes > self.limits.outbound_queue_bytes
        ):
            self.terminate(CLOSE_POLICY, "slow consumer: outbound queue overflow")
            return
        self._wake.set()

    def send_control(self, frame: str) -> None:
        if self.ws is not None and self.life.open:
            self._enqueue(frame)

    def send_data(self, frame: str, payload: Payload) -> None:
        if self.life.ended:
            return
        item: str | bytes
        if self.json_protocol is None:
            item = payload.body if payload.data_type is DataType.BINARY else payload.text()
        elif self.reliable is not None:
            try:
                item = self.reliable.number(frame)
            except BufferOverflow as exc:
                self.terminate(CLOSE_POLICY, str(exc))
                return
        else:
            item = frame
        if self.ws is not None and self.life.open:
            self._enqueue(item)

    def _ack(self, ack_id: int | None, error: AckError | None = None, message: str = "") -> None:
        if ack_id is not None:
            self.send_control(ack_frame(ack_id, error, message))

    # --- inbound ----------------------------------------------------------------------
    def _on_binary(self, data: bytes) -> None:
        if not self.life.open:
            return  # being declined or closed: nothing more is processed
        if self.json_protocol:
            # the reference allows UTF-8 JSON in binary frames too
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                self.close_with(CLOSE_UNSUPPORTED, "binary frame is not UTF-8 JSON", True)
                return
            self._on_text(text)
            return
        self._queue_user_event("message", Payload(DataType.BINARY, data), None)

    def _on_text(self, text: str) -> None:
        if not self.life.open:
            return
        if not self.json_protocol:
            self._queue_user_event("message", Payload(DataType.TEXT, text.encode()), None)
            return
        try:
            command = parse_frame(text)
        except ProtocolError as exc:
            # "Service declines the client if the message does not match the described format"
            log.info("connection %s sent a bad frame: %s", self.id, exc)
            self.close_with(CLOSE_POLICY, f"invalid message: {exc}", tell_client=True)
            return
        if isinstance(command, Ping):
            self.send_control(PONG_FRAME)
            return
        if isinstance(command, SequenceAck):
            if self.reliable is not None:
                self.reliable.ack(command.sequence_id)
            return
        ack_id = command.ack_id
        if ack_id is not None and not self.ack_ids.first_time(ack_id):
            self._ack(
                ack_id, AckError.DUPLICATE, f"Message with ack-id: {ack_id} has been processed"
            )
            return
        if isinstance(command, JoinGroup | LeaveGroup):
            if not self.conn.allowed(JOIN_LEAVE_GROUP, command.group):
                self._forbidden(ack_id, JOIN_LEAVE_GROUP, command.group)
                return
            if isinstance(command, JoinGroup):
                self.hub.join(self.conn, command.group)
            else:
                self.hub.leave(self.conn, command.group)
            self._ack(ack_id)
        elif isinstance(command, SendToGroup):
            if not self.conn.allowed(SEND_TO_GROUP, command.group):
                self._forbidden(ack_id, SEND_TO_GROUP, command.group)
                return
            self.hub.send_to_group_from_client(
                self.conn, command.group, command.payload, command.no_echo
            )
            self._ack(ack_id)
        elif isinstance(command, SendEvent):
            self._queue_user_event(command.event, command.payload, ack_id)

    def _forbidden(self, ack_id: int | None, permission: str, group: str) -> None:
        log.info("connection %s lacks %s on %r", self.id, permission, group)
        self._ack(ack_id, AckError.FORBIDDEN, f"No permission to {permission} for group {group}")

    # --- upstream ---------------------------------------------------------------------
    def context(self) -> EventContext:
        return EventContext(
            hub=self.hub.name,
            connection_id=self.id,
            user_id=self.conn.user_id,
            subprotocol=self.conn.subprotocol,
            state=self.conn.state,
            origin=self.runtime.origin,
        )

    async def _upstream_loop(self) -> None:
        while True:
            job = await self._jobs.get()
            if job is None:
                return
            try:
                await job()
            except Exception:  # one bad event must not end the connection's event stream
                log.exception("upstream event of %s failed", self.id)

    def queue_connected(self) -> None:
        self._queue_system_event("connected", b"{}")

    def _queue_system_event(self, name: str, body: bytes) -> None:
        handler = self.settings.handler_for(name, system=True)
        if handler is None:
            return
        # built when sent, so it carries the state as of the events before it
        self._jobs.put_nowait(lambda: self._send_system(handler, name, body))

    async def _send_system(self, handler: EventHandler, name: str, body: bytes) -> None:
        upstream = self.runtime.upstream
        assert upstream is not None  # noqa: S101 (started with the app)
        request = build_request(
            self.context(),
            event_name=name,
            system=True,
            content_type="application/json; charset=utf-8",
            body=body,
            access_keys=self.runtime.access_keys,
        )
        try:
            resp = await upstream.send(handler, self.hub.name, name, request, self.runtime.origin)
        except EventRejected as exc:
            log.warning("%s event of %s: %s", name, self.id, exc)
            return
        if not 200 <= resp.status < 300:
            log.warning("%s event of %s answered %s", name, self.id, resp.status)

    def _queue_user_event(self, name: str, payload: Payload, ack_id: int | None) -> None:
        if self._jobs.qsize() >= self.limits.upstream_queue:
            log.warning("connection %s has too many pending events; dropping %s", self.id, name)
            self._ack(ack_id, AckError.INTERNAL, "too many pending events")
            return
        self._jobs.put_nowait(lambda: self._send_user_event(name, payload, ack_id))

    async def _send_user_event(self, name: str, payload: Payload, ack_id: int | None) -> None:
        if self.finished:
            return
        handler = self.settings.handler_for(name, system=False)
        if handler is None:
            self._ack(ack_id)  # no handler takes it: dropped, as the service does
            return
        upstream = self.runtime.upstream
        assert upstream is not None  # noqa: S101 (started with the app)
        content_type = payload.content_type
        if payload.data_type is not DataType.BINARY:
            content_type += "; charset=utf-8"
        request = build_request(
            self.context(),
            event_name=name,
            system=False,
            content_type=content_type,
            body=payload.utf8_body(),
            access_keys=self.runtime.access_keys,
        )
        try:
            resp = await upstream.send(handler, self.hub.name, name, request, self.runtime.origin)
            result = read_user_event_response(resp)
        except EventRejected as exc:
            log.warning("event %r of %s: %s", name, self.id, exc)
            if ack_id is not None:
                self._ack(ack_id, AckError.INTERNAL, str(exc))
            else:
                self.close_with(CLOSE_ERROR, f"event handler failed: {exc}", tell_client=True)
            return
        if result.state_set:
            self.conn.state = result.state
        if result.reply is not None and not self.finished:
            self.hub.send_to_connection(self.conn, result.reply)
        self._ack(ack_id)
