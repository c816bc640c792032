"""`/client/hubs/{hub}`: authenticate, run the `connect` event, upgrade, hand to a Session."""

from __future__ import annotations

import logging
import secrets

from aiohttp import web

from .errors import error_response
from .hub import valid_hub_name
from .runtime import Runtime
from .session import CLOSE_POLICY, Session
from .subprotocol import JSON_RELIABLE_V1, SUPPORTED
from .tokens import (
    TokenError,
    issue_reconnection_token,
    verify_client_token,
    verify_reconnection_token,
)
from .upstream import (
    EventContext,
    EventRejected,
    build_request,
    connect_body,
    read_connect_response,
)

log = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
# never forwarded to the connect handler: they are credentials
_SECRET_QUERY = {"access_token", "awps_reconnection_token"}
_SECRET_HEADERS = {"authorization", "cookie"}


def new_connection_id() -> str:
    return secrets.token_urlsafe(16)


def _offered_subprotocols(request: web.Request) -> list[str]:
    raw = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def _token(request: web.Request) -> str:
    token = request.query.get("access_token", "")
    auth = request.headers.get("Authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    return token


def _new_ws(runtime: Runtime, protocol: str | None) -> web.WebSocketResponse:
    return web.WebSocketResponse(
        protocols=(protocol,) if protocol else (),
        max_msg_size=runtime.config.limits.max_message_bytes,
        compress=False,
        autoping=True,
    )


async def client_endpoint(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    hub_name = request.match_info["hub"]
    if not valid_hub_name(hub_name):
        return error_response(400, "BadRequest", "invalid hub name")
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return error_response(400, "BadRequest", "this endpoint takes WebSocket connections")
    if "awps_connection_id" in request.query:
        return await _recover(request, runtime, hub_name)
    try:
        claims = verify_client_token(_token(request), runtime.config.access_key, hub_name)
    except TokenError as exc:
        return error_response(401, "Unauthorized", str(exc))

    hub = runtime.registry.hub(hub_name)
    settings = runtime.config.hub(hub_name)
    offered = _offered_subprotocols(request)
    json_protocol = next((p for p in offered if p in SUPPORTED), None)
    connection_id = new_connection_id()
    user_id = claims.user_id
    roles = set(claims.roles)
    groups = list(claims.groups)
    state: str | None = None
    chosen = json_protocol

    connect = settings.handler_for("connect", system=True)
    if connect is not None:
        assert runtime.upstream is not None  # noqa: S101 (started with the app)
        query = {k: request.query.getall(k) for k in request.query if k not in _SECRET_QUERY}
        headers = {
            k: request.headers.getall(k)
            for k in request.headers
            if k.lower() not in _SECRET_HEADERS
        }
        ctx = EventContext(hub.name, connection_id, user_id, None, None, runtime.origin)
        event = build_request(
            ctx,
            event_name="connect",
            system=True,
            content_type="application/json; charset=utf-8",
            body=connect_body(claims.raw, query, headers, offered),
            access_keys=runtime.access_keys,
        )
        try:
            resp = await runtime.upstream.send(connect, hub.name, "connect", event, runtime.origin)
            result = read_connect_response(resp)
        except EventRejected as exc:
            log.info("connect refused for %s: %s", connection_id, exc)
            code = {401: "Unauthorized", 403: "Forbidden"}.get(exc.status, "ConnectRejected")
            return error_response(exc.status, code, str(exc))
        user_id = result.user_id or user_id
        roles.update(result.roles)
        groups.extend(result.groups)
        if result.state_set:
            state = result.state
        if json_protocol is None and result.subprotocol in offered:
            chosen = result.subprotocol

    ws = _new_ws(runtime, chosen)
    await ws.prepare(request)
    reliable = json_protocol == JSON_RELIABLE_V1
    session = Session(
        runtime,
        hub,
        settings,
        connection_id=connection_id,
        user_id=user_id,
        json_protocol=json_protocol,
        subprotocol=chosen,
        roles=roles,
        state=state,
        reconnection_token=(
            issue_reconnection_token(runtime.config.access_key, hub.name, connection_id)
            if reliable
            else None
        ),
    )
    hub.add(session.conn, groups)
    session.attach(ws, request.transport)
    session.queue_connected()
    await session.run(ws)
    return ws


async def _recover(request: web.Request, runtime: Runtime, hub_name: str) -> web.StreamResponse:
    """Resume a reliable connection: same id, groups, and every message not yet acked."""
    hub = runtime.registry.hub(hub_name)
    connection_id = request.query.get("awps_connection_id", "")
    token = request.query.get("awps_reconnection_token", "")
    try:
        verify_reconnection_token(token, runtime.config.access_key, hub.name, connection_id)
    except TokenError as exc:
        return error_response(401, "Unauthorized", str(exc))
    conn = hub.connection(connection_id)
    session = conn.sink if conn is not None else None
    ws = _new_ws(runtime, JSON_RELIABLE_V1)
    await ws.prepare(request)
    if not isinstance(session, Session) or not session.recoverable:
        # 1008 tells the client the connection is gone: start a new one instead
        await ws.close(code=CLOSE_POLICY, message=b"connection cannot be recovered")
        return ws
    if not session.attach(ws, request.transport):
        await ws.close(code=CLOSE_POLICY, message=b"connection cannot be recovered")
        return ws
    log.info("connection %s recovered", connection_id)
    await session.run(ws)
    return ws
