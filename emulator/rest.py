"""The REST data plane, at the paths and api-versions `azure-messaging-webpubsubservice` uses.

Every route needs `Authorization: Bearer <JWT>` signed with the access key whose `aud` is the
request URL, which is what the SDK's key credential sends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .client_endpoint import RUNTIME
from .errors import error_response
from .hub import PERMISSIONS, Connection, Hub, valid_hub_name
from .session import Session
from .subprotocol import Payload
from .tokens import TokenError, issue_client_token, verify_rest_token

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DEFAULT_CLOSE_REASON = "Connection closed by the server"
MAX_PAGE = 200


@web.middleware
async def rest_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(("/api/hubs/", "/_emulator/")):
        return await handler(request)
    auth = request.headers.get("Authorization", "")
    if not auth.lower().startswith("bearer "):
        return error_response(401, "Unauthorized", "missing bearer token")
    try:
        verify_rest_token(auth[7:].strip(), request.app[RUNTIME].config.access_key, request.path)
    except TokenError as exc:
        return error_response(401, "Unauthorized", str(exc))
    hub = request.match_info.get("hub", "")
    if not valid_hub_name(hub):
        return error_response(400, "BadRequest", "invalid hub name")
    if request.path.startswith("/api/") and not request.query.get("api-version"):
        return error_response(400, "BadRequest", "the api-version query parameter is required")
    return await handler(request)


def _hub(request: web.Request) -> Hub:
    return request.app[RUNTIME].registry.hub(request.match_info["hub"])


def _no_content() -> web.Response:
    return web.Response(status=204)


def _exists(found: bool) -> web.Response:
    return web.Response(status=200 if found else 404)


async def _payload(request: web.Request) -> Payload | web.Response:
    """The body as a Payload, or the error response to send instead."""
    if request.query.get("filter"):
        return error_response(400, "NotSupported", "OData filter is not supported by the emulator")
    limit = request.app[RUNTIME].config.limits.max_message_bytes
    if (request.content_length or 0) > limit:
        return error_response(413, "PayloadTooLarge", f"message exceeds {limit} bytes")
    body = await request.read()
    if len(body) > limit:
        return error_response(413, "PayloadTooLarge", f"message exceeds {limit} bytes")
    try:
        return Payload.from_content_type(request.headers.get("Content-Type", ""), body)
    except UnicodeDecodeError:
        return error_response(400, "BadRequest", "text/plain body must be UTF-8")
    except ValueError as exc:
        return error_response(400, "BadRequest", str(exc))


def _close(conns: list[Connection], request: web.Request) -> web.Response:
    excluded = set(request.query.getall("excluded", []))
    reason = request.query.get("reason") or DEFAULT_CLOSE_REASON
    for conn in conns:
        if conn.id not in excluded:
            conn.sink.close(reason)
    return _no_content()


def _connection(request: web.Request) -> Connection | None:
    return _hub(request).connection(request.match_info["connectionId"])


def _not_found(what: str) -> web.Response:
    return error_response(404, "NotFound", f"{what} not found")


# --- hub -------------------------------------------------------------------------------
async def send_to_all(request: web.Request) -> web.Response:
    payload = await _payload(request)
    if isinstance(payload, web.Response):
        return payload
    _hub(request).send_to_all(payload, request.query.getall("excluded", []))
    return web.Response(status=202)


async def close_all(request: web.Request) -> web.Response:
    return _close(list(_hub(request).connections.values()), request)


async def generate_token(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        minutes = int(request.query.get("minutesToExpire", "60"))
    except ValueError:
        minutes = 0
    if minutes < 1:
        return error_response(400, "BadRequest", "minutesToExpire must be a positive integer")
    client_type = request.query.get("clientType", "Default")
    if client_type.lower() != "default":
        return error_response(400, "NotSupported", f"clientType {client_type} is not supported")
    token = issue_client_token(
        runtime.config.access_key,
        f"{request.scheme}://{request.host}",
        request.match_info["hub"],
        user_id=request.query.get("userId"),
        roles=request.query.getall("role", []),
        groups=request.query.getall("group", []),
        minutes_to_expire=minutes,
    )
    return web.json_response({"token": token})


# --- connections -------------------------------------------------------------------------
async def connection_exists(request: web.Request) -> web.Response:
    return _exists(_connection(request) is not None)


async def close_connection(request: web.Request) -> web.Response:
    conn = _connection(request)
    return _close([conn] if conn else [], request)


async def send_to_connection(request: web.Request) -> web.Response:
    payload = await _payload(request)
    if isinstance(payload, web.Response):
        return payload
    conn = _connection(request)
    if conn is not None:
        _hub(request).send_to_connection(conn, payload)
    return web.Response(status=202)


async def remove_connection_from_all_groups(request: web.Request) -> web.Response:
    conn = _connection(request)
    if conn is not None:
        for group in list(conn.groups):
            _hub(request).leave(conn, group)
    return _no_content()


# --- groups ----------------------------------------------------------------------------
async def group_exists(request: web.Request) -> web.Response:
    return _exists(bool(_hub(request).group_members(request.match_info["group"])))


async def close_group(request: web.Request) -> web.Response:
    return _close(_hub(request).group_members(request.match_info["group"]), request)


async def send_to_group(request: web.Request) -> web.Response:
    payload = await _payload(request)
    if isinstance(payload, web.Response):
        return payload
    excluded = request.query.getall("excluded", [])
    _hub(request).send_to_group_from_server(request.match_info["group"], payload, excluded)
    return web.Response(status=202)


async def list_connections(request: web.Request) -> web.Response:
    """Pages of at most `maxpagesize`, `top` in all; the continuation token is an offset."""
    members = sorted(_hub(request).group_members(request.match_info["group"]), key=lambda c: c.id)
    try:
        top = int(request.query.get("top", "0")) if "top" in request.query else None
        size = min(int(request.query.get("maxpagesize", MAX_PAGE)), MAX_PAGE)
        start = int(request.query.get("continuationToken", "0"))
    except ValueError:
        return error_response(400, "BadRequest", "top, maxpagesize and continuationToken are ints")
    if (top is not None and top < 1) or size < 1 or start < 0:
        return error_response(400, "BadRequest", "top and maxpagesize must be positive")
    limit = len(members) if top is None else min(top, len(members))
    end = min(start + size, limit)
    page = [{"connectionId": c.id, "userId": c.user_id} for c in members[start:end]]
    next_link = None
    if end < limit:
        query = request.rel_url.query.copy()
        query["continuationToken"] = str(end)
        next_link = str(request.url.with_query(query))
    return web.json_response({"value": page, "nextLink": next_link})


async def add_connection_to_group(request: web.Request) -> web.Response:
    conn = _connection(request)
    if conn is None:
        return _not_found("connection")
    _hub(request).join(conn, request.match_info["group"])
    return web.Response(status=200)


async def remove_connection_from_group(request: web.Request) -> web.Response:
    conn = _connection(request)
    if conn is not None:
        _hub(request).leave(conn, request.match_info["group"])
    return _no_content()


# --- users -----------------------------------------------------------------------------
async def user_exists(request: web.Request) -> web.Response:
    return _exists(bool(_hub(request).user_connections(request.match_info["userId"])))


async def close_user(request: web.Request) -> web.Response:
    return _close(_hub(request).user_connections(request.match_info["userId"]), request)


async def send_to_user(request: web.Request) -> web.Response:
    payload = await _payload(request)
    if isinstance(payload, web.Response):
        return payload
    _hub(request).send_to_user(request.match_info["userId"], payload)
    return web.Response(status=202)


async def add_user_to_group(request: web.Request) -> web.Response:
    _hub(request).add_user_to_group(request.match_info["userId"], request.match_info["group"])
    return web.Response(status=200)


async def remove_user_from_group(request: web.Request) -> web.Response:
    group = request.match_info["group"]
    _hub(request).remove_user_from_group(request.match_info["userId"], group)
    return _no_content()


async def remove_user_from_all_groups(request: web.Request) -> web.Response:
    _hub(request).remove_user_from_group(request.match_info["userId"], None)
    return _no_content()


# --- permissions -------------------------------------------------------------------------
def _permission(request: web.Request) -> tuple[str, str | None] | web.Response:
    permission = request.match_info["permission"]
    if permission not in PERMISSIONS:
        return error_response(400, "BadRequest", f"permission must be one of {list(PERMISSIONS)}")
    return permission, request.query.get("targetName") or None


async def grant_permission(request: web.Request) -> web.Response:
    parsed = _permission(request)
    if isinstance(parsed, web.Response):
        return parsed
    conn = _connection(request)
    if conn is None:
        return _not_found("connection")
    Hub.grant(conn, *parsed)
    return web.Response(status=200)


async def revoke_permission(request: web.Request) -> web.Response:
    parsed = _permission(request)
    if isinstance(parsed, web.Response):
        return parsed
    conn = _connection(request)
    if conn is not None:
        Hub.revoke(conn, *parsed)
    return _no_content()


async def check_permission(request: web.Request) -> web.Response:
    parsed = _permission(request)
    if isinstance(parsed, web.Response):
        return parsed
    conn = _connection(request)
    return _exists(conn is not None and Hub.has(conn, *parsed))


# --- emulator-only test hook -------------------------------------------------------------
async def drop_connection(request: web.Request) -> web.Response:
    """Cut a connection's TCP stream with no close frame (a network failure), for tests."""
    conn = _connection(request)
    if conn is None or not isinstance(conn.sink, Session):
        return _not_found("connection")
    conn.sink.drop_transport()
    return _no_content()


def add_routes(app: web.Application) -> None:
    h = "/api/hubs/{hub}"
    c = h + "/connections/{connectionId}"
    g = h + "/groups/{group}"
    u = h + "/users/{userId}"
    p = h + "/permissions/{permission}/connections/{connectionId}"
    app.router.add_routes(
        [
            web.post(h + "/:send", send_to_all),
            web.post(h + "/:closeConnections", close_all),
            web.post(h + "/:generateToken", generate_token),
            web.head(c, connection_exists),
            web.delete(c, close_connection),
            web.post(c + "/:send", send_to_connection),
            web.delete(c + "/groups", remove_connection_from_all_groups),
            web.head(g, group_exists),
            web.post(g + "/:closeConnections", close_group),
            web.post(g + "/:send", send_to_group),
            web.get(g + "/connections", list_connections, allow_head=False),
            web.put(g + "/connections/{connectionId}", add_connection_to_group),
            web.delete(g + "/connections/{connectionId}", remove_connection_from_group),
            web.head(u, user_exists),
            web.post(u + "/:closeConnections", close_user),
            web.post(u + "/:send", send_to_user),
            web.put(u + "/groups/{group}", add_user_to_group),
            web.delete(u + "/groups/{group}", remove_user_from_group),
            web.delete(u + "/groups", remove_user_from_all_groups),
            web.put(p, grant_permission),
            web.delete(p, revoke_permission),
            web.head(p, check_permission),
            web.post("/_emulator/hubs/{hub}/connections/{connectionId}/:drop", drop_connection),
        ]
    )
