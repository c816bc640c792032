"""Events to the upstream event handler, in CloudEvents binary mode.

Building a request and reading a response are pure functions; `Upstream` is the only place
that does HTTP. Every call is bounded by a timeout, and the abuse-protection handshake
(`OPTIONS` with `WebHook-Request-Origin`) is done once per handler URL before its first event.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
from multidict import CIMultiDict

from .ce_signature import ce_signature
from .config import EventHandler
from .subprotocol import Payload

log = logging.getLogger(__name__)

SYSTEM_PREFIX = "azure.webpubsub.sys."
USER_PREFIX = "azure.webpubsub.user."
STATE_HEADER = "ce-connectionState"
AWPS_VERSION = "1.0"


@dataclass(frozen=True)
class EventContext:
    """What every event says about its connection."""

    hub: str
    connection_id: str
    user_id: str | None
    subprotocol: str | None
    state: str | None
    origin: str  # WebHook-Request-Origin: the service's host name


@dataclass(frozen=True)
class EventRequest:
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class EventResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


def build_request(
    ctx: EventContext,
    *,
    event_name: str,
    system: bool,
    content_type: str,
    body: bytes,
    access_keys: Sequence[str],
) -> EventRequest:
    """The documented `ce-*` headers; `ce-signature` signs the connection id with each key."""
    headers = {
        "Content-Type": content_type,
        "WebHook-Request-Origin": ctx.origin,
        "ce-specversion": "1.0",
        "ce-type": (SYSTEM_PREFIX if system else USER_PREFIX) + event_name,
        "ce-source": f"/hubs/{ctx.hub}/client/{ctx.connection_id}",
        "ce-id": uuid.uuid4().hex,
        "ce-time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "ce-hub": ctx.hub,
        "ce-connectionId": ctx.connection_id,
        "ce-eventName": event_name,
        # not in the CloudEvents reference, but Azure sends it and @azure/web-pubsub-express
        # ignores requests without it
        "ce-awpsversion": AWPS_VERSION,
    }
    signature = ce_signature(ctx.connection_id, access_keys)
    if signature:
        headers["ce-signature"] = signature
    if ctx.user_id:
        headers["ce-userId"] = ctx.user_id
    if ctx.subprotocol:
        headers["ce-subprotocol"] = ctx.subprotocol
    if ctx.state:
        headers[STATE_HEADER] = ctx.state
    return EventRequest(headers, body)


def connect_body(
    claims: Mapping[str, Any],
    query: Mapping[str, Sequence[str]],
    headers: Mapping[str, Sequence[str]],
    subprotocols: Sequence[str],
) -> bytes:
    """Claims as name -> list of values, as the service serialises them."""

    def values(v: Any) -> list[str]:
        items = v if isinstance(v, list) else [v]
        return [x if isinstance(x, str) else json.dumps(x) for x in items]

    return json.dumps(
        {
            "claims": {k: values(v) for k, v in claims.items()},
            "query": {k: list(v) for k, v in query.items()},
            "headers": {k: list(v) for k, v in headers.items()},
            "subprotocols": list(subprotocols),
            "clientCertificates": [],
        }
    ).encode()


def disconnected_body(reason: str) -> bytes:
    return json.dumps({"reason": reason}).encode()


class EventRejected(Exception):
    """The handler said no (or failed); `status` is what the client's handshake gets."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ConnectResult:
    user_id: str | None = None
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    subprotocol: str | None = None
    state: str | None = None
    state_set: bool = False


def _state(headers: Mapping[str, str]) -> tuple[str | None, bool]:
    if STATE_HEADER not in headers:
        return None, False
    return headers[STATE_HEADER] or None, True


def _str_tuple(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise EventRejected(500, f"connect response: {name} must be a list of strings")


def read_connect_response(resp: EventResponse) -> ConnectResult:
    """2xx accepts (200 may carry userId/groups/roles/subprotocol); 401/403/4xx/5xx refuse."""
    if not 200 <= resp.status < 300:
        status = resp.status if 400 <= resp.status < 500 else 500
        raise EventRejected(status, f"connect event handler answered {resp.status}")
    state, state_set = _state(resp.headers)
    if resp.status == 204 or not resp.body.strip():
        return ConnectResult(state=state, state_set=state_set)
    try:
        body = json.loads(resp.body)
    except (ValueError, RecursionError):
        raise EventRejected(500, "connect response body is not JSON") from None
    if not isinstance(body, dict):
        raise EventRejected(500, "connect response body must be a JSON object")
    user_id = body.get("userId")
    sub = body.get("subprotocol")
    return ConnectResult(
        user_id=user_id if isinstance(user_id, str) and user_id else None,
        groups=_str_tuple(body.get("groups"), "groups"),
        roles=_str_tuple(body.get("roles"), "roles"),
        subprotocol=sub if isinstance(sub, str) and sub else None,
        state=state,
        state_set=state_set,
    )


@dataclass(frozen=True)
class UserEventResult:
    reply: Payload | None
    state: str | None = None
    state_set: bool = False


def read_user_event_response(resp: EventResponse) -> UserEventResult:
    """A 2xx body goes back to the client with the dataType its Content-Type names."""
    if not 200 <= resp.status < 300:
        raise EventRejected(resp.status, f"event handler answered {resp.status}")
    state, state_set = _state(resp.headers)
    if resp.status == 204 or not resp.body:
        return UserEventResult(None, state, state_set)
    content_type = resp.headers.get("Content-Type", "application/octet-stream")
    try:
        reply = Payload.from_content_type(content_type, resp.body)
    except ValueError as exc:
        raise EventRejected(500, f"event handler response: {exc}") from None
    return UserEventResult(reply, state, state_set)


class BearerSource(Protocol):
    async def bearer(self, resource: str) -> str:
        """`Bearer <token>` for `resource`."""


@dataclass
class Upstream:
    """The HTTP side. One shared client session; failures become EventRejected."""

    timeout: float
    identity: BearerSource | None = None  # Entra mode: tokens for auth.managedIdentity
    session: aiohttp.ClientSession | None = None
    _validated: set[str] = field(default_factory=set)

    async def start(self) -> None:
        # no pool limit: each connection has at most one event in flight (they run in order),
        # and a shared limit would let slow handlers of some connections stall the others
        connector = aiohttp.TCPConnector(limit=0)
        self.session = aiohttp.ClientSession(connector=connector)

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    def _client_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.timeout)

    async def _auth_headers(self, handler: EventHandler) -> dict[str, str]:
        if handler.auth_resource is None:
            return {}
        if self.identity is None:
            raise EventRejected(500, "the emulator has no identity for auth.managedIdentity")
        try:
            return {"Authorization": await self.identity.bearer(handler.auth_resource)}
        except Exception as exc:  # azure-identity raises several kinds; all mean no token
            log.warning("no token for %s: %s", handler.auth_resource, exc)
            raise EventRejected(500, "could not get a managed identity token") from None

    async def _validate(self, url: str, origin: str, auth: Mapping[str, str]) -> None:
        """The CloudEvents abuse-protection handshake; only a success is remembered."""
        if url in self._validated:
            return
        assert self.session is not None  # noqa: S101 (started with the app)
        headers = {"WebHook-Request-Origin": origin, "ce-awpsversion": AWPS_VERSION, **auth}
        async with self.session.options(
            url, headers=headers, timeout=self._client_timeout()
        ) as resp:
            allowed = resp.headers.get("WebHook-Allowed-Origin", "")
            if resp.status != 200:
                raise EventRejected(500, f"abuse-protection OPTIONS answered {resp.status}")
        origins = {o.strip() for o in allowed.split(",")}
        if "*" not in origins and origin not in origins:
            raise EventRejected(500, "event handler did not allow this origin")
        self._validated.add(url)

    async def send(
        self, handler: EventHandler, hub: str, event: str, request: EventRequest, origin: str
    ) -> EventResponse:
        assert self.session is not None  # noqa: S101 (started with the app)
        url = handler.url(hub, event)
        try:
            auth = await self._auth_headers(handler)
            await self._validate(handler.validation_url(hub), origin, auth)
            async with self.session.post(
                url,
                data=request.body,
                headers={**request.headers, **auth},
                timeout=self._client_timeout(),
            ) as resp:
                body = await resp.read()
                return EventResponse(resp.status, CIMultiDict(resp.headers), body)
        except EventRejected:
            raise
        except TimeoutError:
            log.warning("event handler %s timed out after %ss", url, self.timeout)
            raise EventRejected(500, "event handler timed out") from None
        except aiohttp.ClientError as exc:
            log.warning("event handler %s failed: %s", url, exc)
            raise EventRejected(500, "event handler is unreachable") from None
        except (ValueError, UnicodeError) as exc:  # e.g. a header value HTTP cannot carry
            log.warning("event for %s could not be sent: %s", url, exc)
            raise EventRejected(500, "event could not be sent") from None
