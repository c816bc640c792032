"""The REST data plane, at the paths and api-versions `azure-messaging-webpubsubservice` uses.

Every route needs `Authorization: Bearer <JWT>`: signed with the access key, `aud` = the
request URL (what the SDK's key credential sends), or, in Entra mode, a token of the
configured OpenID authority for the Web PubSub audience (what a `TokenCredential` sends).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from yarl import URL

from .client_endpoint import RUNTIME
from .entra import Forbidden
from .errors import CONNECTION_NOT_EXISTED, error_response, not_found_head
from .hub import PERMISSIONS, Connection, Hub, valid_hub_name
from .odata_filter import Filter, FilterError, parse
from .session import Session
from .subprotocol import MAX_GROUP_NAME, Payload
from .tokens import TokenError, issue_client_token, verify_rest_token

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DEFAULT_CLOSE_REASON = "Connection closed by the server"
MAX_PAGE = 200
MAX_TTL_SECONDS = 300
# the data-plane versions of the REST reference (and of Microsoft's emulator)
API_VERSIONS = ("2021-10-01", "2022-11-01", "2023-07-01", "2024-01-01", "2024-12-01")


async def _authenticate(request: web.Request) -> web.Response | None:
    runtime = request.app[RUNTIME]
    auth = request.headers.get("Authorization", "")
    if not auth.lower().startswith("bearer "):
        return error_response(401, "Unauthorized", "missing bearer token")
    token = auth[7:].strip()
    try:
        verify_rest_token(token, runtime.config.access_key, request.path)
    except TokenError as exc:
        if runtime.rest_verifier is None:
            return error_response(401, "Unauthorized", str(exc))
    else:
        if runtime.config.disable_local_auth:
            return error_response(401, "Unauthorized", "local auth is disabled: use Entra ID")
        return None
    try:
        await runtime.rest_verifier.verify(token)
    except TokenError as exc:
        return error_response(401, "Unauthorized", str(exc))
    except Forbidden as exc:
        return error_response(403, "Forbidden", str(exc))
    return None


def _api_version_error(request: web.Request) -> web.Response | None:
    versions = request.query.getall("api-version", [])
    if not versions or not versions[0]:
        return error_response(400, "BadRequest", "the api-version query parameter is required")
    if len(versions) > 1 or versions[0] not in API_VERSIONS:
        supported = ", ".join(API_VERSIONS)
        return error_response(
            400, "UnsupportedApiVersion", f"api-version {versions[0]!r}; supported: {supported}"
        )
    return None


@web.middleware
async def rest_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(("/api/hubs/", "/_emulator/")):
        return await handler(request)
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route (404) or method (405)
    refusal = await _authenticate(request)
    if refusal is not None:
        return refusal
    hub = request.match_info.get("hub", "")
    if not valid_hub_name(hub):
        return error_response(400, "BadRequest", "invalid hub name")
    if request.path.startswith("/api/"):
        if error := _api_version_error(request):
            return error
        route = request.match_info.route.resource
        name = route.canonical if route is not None else request.path
        request.app[RUNTIME].rest_calls[f"{request.method} {name}"] += 1
    return await handler(request)


def _hub(request: web.Request) -> Hub:
    return request.app[RUNTIME].registry.hub(request.match_info["hub"])


def _no_content() -> web.Response:
    return web.Response(status=204)


def _exists(found: bool, missing_code: str) -> web.Response:
    return web.Response(status=200) if found else not_found_head(missing_code)


def _filter(raw: str | None) -> Filter | web.Response | None:
    if raw is None or raw == "":
        return None
    try:
        return parse(raw)
    except FilterError as exc:
        return error_response(400, "Error.BadRequest", str(exc))


def _ttl_error(request: web.Request) -> web.Response | None:
    """`messageTtlSeconds`: an integer 0-300 (digits only), as the service validates it."""
    values = request.query.getall("messageTtlSeconds", [])
    if not values:
        return None
    if len(values) == 1 and values[0].isdigit() and int(values[0]) <= MAX_TTL_SECONDS:
        return None
    return error_response(
        400, "BadRequest", f"messageTtlSeconds must be an integer from 0 to {MAX_TTL_SECONDS}"
    )


async def _payload(request: web.Request) -> Payload | web.Response:
    """The body as a Payload, or the error response to send instead."""
    if error := _ttl_error(request):
        return error
    limit = request.app[RUNTIME].config.limits.max_message_bytes
    if (request.content_length or 0) > limit:
        return error_response(413, "PayloadTooLarge", f"message exceeds {limit} bytes")
    content_type = request.headers.get("Content-Type", "")
    if not content_type.strip():
        content_type = "application/octet-stream"  # as the service reads a bare body
    media = content_type.split(";")[0].strip().lower()
    if media not in ("application/json", "text/plain", "application/octet-stream"):
        return error_response(
            415,
            "UnsupportedMediaType",
            f"unsupported content type {media!r}: use application/json, text/plain "
            "or application/octet-stream",
        )
    body = await request.read()
    if len(body) > limit:
        return error_response(413, "PayloadTooLarge", f"message exceeds {limit} bytes")
    try:
        return Payload.from_content_type(content_type, body)
    except UnicodeDecodeError:
        return error_response(400, "BadRequest", "text/plain body must be UTF-8")
    except ValueError as exc:
        return error_response(400, "BadRequest", str(exc))


async def _send_input(request: web.Request) -> tuple[Payload, Filter | None] | web.Response:
    flt = _filter(request.query.get("filter"))
    if isinstance(flt, web.Response):
        return flt
    payload = await _payload(request)
    if isinstance(payload, web.Response):
        return payload
    return payload, flt


def _close(conns: list[Connection], request: web.Request) -> web.Response:
    excluded = set(request.query.getall("excluded", []))
    reason = request.query.get("reason") or DEFAULT_CLOSE_REASON
    for conn in conns:
        if conn.id not in excluded:
            conn.sink.close(reason)
    return _no_content()


def _connection(request: web.Request) -> Connection | None:
    return _hub(request).connection(request.match_info["connectionId"])


def _connection_not_found(request: web.Request) -> web.Response:
    cid = request.match_info["connectionId"]
    return error_response(404, CONNECTION_NOT_EXISTED, f"Connection `{cid}` is not found.")


def _valid_group(group: object) -> bool:
    return isinstance(group, str) and bool(group.strip()) and len(group) <= MAX_GROUP_NAME


# --- hub -------------------------------------------------------------------------------
async def send_to_all(request: web.Request) -> web.Response:
    parsed = await _send_input(request)
    if isinstance(parsed, web.Response):
        return parsed
    payload, flt = parsed
    _hub(request).send_to_all(payload, request.query.getall("excluded", []), flt)
    return web.Response(status=202)


async def _bulk_groups(request: web.Request, add: bool) -> web.Response:
    """`:addToGroups` / `:removeFromGroups`: {"groups": [...], "filter": "..."}."""
    media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media != "application/json":
        return error_response(415, "UnsupportedMediaType", "the body must be application/json")
    try:
        body: Any = json.loads(await request.read())
    except (ValueError, RecursionError):
        return error_response(400, "BadRequest", "the body is not valid JSON")
    groups = body.get("groups") if isinstance(body, dict) else None
    if not isinstance(groups, list) or not groups or not all(map(_valid_group, groups)):
        msg = "groups must be a non-empty list of group names (1-1024 characters)"
        return error_response(400, "BadRequest", msg)
    raw = body.get("filter")
    if raw is not None and not isinstance(raw, str):
        return error_response(400, "BadRequest", "filter must be a string")
    flt = _filter(raw)
    if isinstance(flt, web.Response):
        return flt
    hub = _hub(request)
    for conn in hub.matching(flt):
        for group in groups:
            if add:
                hub.join(conn, group)
            else:
                hub.leave(conn, group)
    return web.Response(status=200)


async def add_to_groups(request: web.Request) -> web.Response:
    return await _bulk_groups(request, add=True)


async def remove_from_groups(request: web.Request) -> web.Response:
    return await _bulk_groups(request, add=False)


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
    return _exists(_connection(request) is not None, "Warning.Connection.NotExisted")


async def close_connection(request: web.Request) -> web.Response:
    conn = _connection(request)
    return _close([conn] if conn else [], request)


async def send_to_connection(request: web.Request) -> web.Response:
    """202 also when the connection does not exist, as the service answers."""
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
    found = bool(_hub(request).group_members(request.match_info["group"]))
    return _exists(found, "Warning.Group.NotExisted")


async def close_group(request: web.Request) -> web.Response:
    return _close(_hub(request).group_members(request.match_info["group"]), request)


async def send_to_group(request: web.Request) -> web.Response:
    parsed = await _send_input(request)
    if isinstance(parsed, web.Response):
        return parsed
    payload, flt = parsed
    excluded = request.query.getall("excluded", [])
    _hub(request).send_to_group_from_server(request.match_info["group"], payload, excluded, flt)
    return web.Response(status=202)


def _public_url(request: web.Request) -> URL:
    """The URL the caller used: behind a TLS proxy, X-Forwarded-Proto and -Host say it."""
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    if proto not in ("http", "https") and not host:
        return request.url
    scheme = proto if proto in ("http", "https") else request.scheme
    try:
        return URL.build(scheme=scheme, authority=host or request.host, path=request.path)
    except ValueError:  # a Host header that is no host: keep what was asked
        return request.url


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
        next_link = str(_public_url(request).with_query(query))
    return web.json_response({"value": page, "nextLink": next_link})


async def add_connection_to_group(request: web.Request) -> web.Response:
    conn = _connection(request)
    if conn is None:
        return _connection_not_found(request)
    _hub(request).join(conn, request.match_info["group"])
    return web.Response(status=200)


async def remove_connection_from_group(request: web.Request) -> web.Response:
    conn = _connection(request)
    if conn is not None:
        _hub(request).leave(conn, request.match_info["group"])
    return _no_content()


# --- users -----------------------------------------------------------------------------
async def user_exists(request: web.Request) -> web.Response:
    found = bool(_hub(request).user_connections(request.match_info["userId"]))
    return _exists(found, "Warning.User.NotExisted")


async def close_user(request: web.Request) -> web.Response:
    return _close(_hub(request).user_connections(request.match_info["userId"]), request)


async def send_to_user(request: web.Request) -> web.Response:
    parsed = await _send_input(request)
    if isinstance(parsed, web.Response):
        return parsed
    payload, flt = parsed
    _hub(request).send_to_user(request.match_info["userId"], payload, flt)
    return web.Response(status=202)


async def add_user_to_group(request: web.Request) -> web.Response:
    """404 when the user has no connection; nothing is remembered for its later ones."""
    user = request.match_info["userId"]
    if not _hub(request).add_user_to_group(user, request.match_info["group"]):
        return error_response(404, "Warning.User.NotExisted", f"User `{user}` is not found.")
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
        return _connection_not_found(request)
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
    if conn is None:
        return not_found_head(CONNECTION_NOT_EXISTED)
    return _exists(Hub.has(conn, *parsed), "Warning.Permission.NotGranted")


# --- emulator-only: counters for benchmarks ------------------------------------------------
async def rest_stats(request: web.Request) -> web.Response:
    """Data-plane REST calls answered since the emulator started, per route (every hub)."""
    calls = request.app[RUNTIME].rest_calls
    return web.json_response({"total": sum(calls.values()), "calls": dict(sorted(calls.items()))})


# --- emulator-only test hook -------------------------------------------------------------
async def drop_connection(request: web.Request) -> web.Response:
    """Cut a connection's TCP stream with no close frame (a network failure), for tests."""
    conn = _connection(request)
    if conn is None or not isinstance(conn.sink, Session):
        return _connection_not_found(request)
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
            web.post(h + "/:addToGroups", add_to_groups),
            web.post(h + "/:removeFromGroups", remove_from_groups),
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
            web.get("/_emulator/hubs/{hub}/stats", rest_stats, allow_head=False),
        ]
    )
