"""`/api/webpubsub/events`: Web PubSub's event handler.

Authenticates every event, then: `connect` decides a connection's role from its token's
claims and stores it in the connection state; a streamer's `connected`/`disconnected` keep
the stream's `status` and replace an older streamer connection (a watcher's cost nothing);
user events are checked by `messages.check_user_event` before anything is forwarded, and a
`snapshot` or `catchup` must carry the ticket of the sync-request it answers. Nothing is kept
in memory between invocations: any instance can handle any event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from azure.core.exceptions import AzureError

from codestream import ids
from codestream.cloudevents import (
    CloudEvent,
    Kind,
    abuse_protection,
    accept_connect,
    connect_claims,
    lower_headers,
    parse_event,
    refuse,
    refuse_user_event,
    reply,
)
from codestream.config import Settings
from codestream.contract import CONTRACT
from codestream.errors import Code, Refusal
from codestream.http import HttpResult
from codestream.messages import (
    Catchup,
    Checked,
    Control,
    Snapshot,
    Sync,
    Watchers,
    catchup_message,
    check_user_event,
    control_message,
    snapshot_message,
    status_message,
    sync_request_message,
    watchers_message,
)
from codestream.ports import WebPubSub
from codestream.state import ConnState, Role, decode_state
from codestream.tickets import Tickets
from codestream.upstream_auth import UpstreamAuth

log = logging.getLogger(__name__)
JSON = "application/json"
ROLE_CLAIMS = ("role", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
GROUP_CLAIM = "webpubsub.group"


def decide_connect(user_id: str | None, claims: Mapping[str, list[str]]) -> ConnState | Refusal:
    """Exactly the two token shapes negotiate issues are accepted; anything else is refused."""
    roles = [r for name in ROLE_CLAIMS for r in claims.get(name, [])]
    groups = list(claims.get(GROUP_CLAIM, []))
    user_id = user_id or ""
    if user_id.startswith(ids.STREAMER_PREFIX):
        stream_id = user_id.removeprefix(ids.STREAMER_PREFIX)
        if ids.is_stream_id(stream_id) and roles == [ids.send_role(stream_id)] and not groups:
            return ConnState(Role.STREAMER, stream_id)
    elif (
        user_id.startswith(ids.WATCHER_PREFIX)
        and not roles
        and len(groups) == 1
        and ids.is_stream_id(groups[0])
    ):
        return ConnState(Role.WATCHER, groups[0])
    msg = "token is neither a streamer's nor a watcher's token from /api/negotiate"
    return Refusal(Code.BAD_CLAIMS, msg)


class EventHandler:
    def __init__(
        self,
        settings: Settings,
        auth: UpstreamAuth,
        client: Callable[[], WebPubSub],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._auth = auth
        self._client = client
        self._clock = clock
        self._tickets = Tickets(settings.owner_key_secret)

    async def handle(self, method: str, headers: Mapping[str, str], body: bytes) -> HttpResult:
        headers = lower_headers(headers)
        if method == "OPTIONS":
            return abuse_protection(headers, self._settings.service_host)
        if method != "POST":
            msg = "the event handler accepts POST (events) and OPTIONS (handshake)"
            return refuse(Refusal(Code.METHOD_NOT_ALLOWED, msg))
        event = parse_event(headers, body)
        if isinstance(event, Refusal):
            return refuse(event)
        if refusal := await self._auth.check(headers, event.connection_id):
            log.warning("upstream event refused: %s", refusal.message)
            return refuse(refusal)
        if event.hub != self._settings.hub:
            return refuse(Refusal(Code.WRONG_HUB, f"this app serves hub {self._settings.hub!r}"))
        try:
            return await self._dispatch(event)
        except AzureError as exc:
            log.error("Web PubSub call failed during %s: %s", event.name, exc.message)
            refusal = Refusal(Code.SERVICE_ERROR, "Web PubSub call failed; try again")
            if event.kind is Kind.USER:
                return refuse_user_event(refusal)
            return refuse(refusal)

    async def _dispatch(self, event: CloudEvent) -> HttpResult:
        if event.kind is Kind.CONNECT:
            return self._connect(event)
        state = decode_state(event.state)
        if event.kind is Kind.USER:
            return await self._user_event(event, state)
        if state is None:  # connected/disconnected of a connection we never accepted
            return reply()
        if event.kind is Kind.CONNECTED:
            await self._connected(event, state)
        else:
            await self._disconnected(state)
        return reply()

    def _connect(self, event: CloudEvent) -> HttpResult:
        claims = connect_claims(event.body)
        if isinstance(claims, Refusal):
            return refuse(claims)
        decision = decide_connect(event.user_id, claims)
        if isinstance(decision, Refusal):
            return refuse(decision)
        return accept_connect(decision.encode())

    async def _count_watchers(self, stream_id: str) -> int:
        """One paged listing of the group; asked for by the streamer, coalesced on its side."""
        count = 0
        async for _ in self._client().list_connections(group=stream_id):
            count += 1
        return count

    async def _connected(self, event: CloudEvent, state: ConnState) -> None:
        if state.role is Role.WATCHER:  # joins cost no REST call: counts are asked for
            return
        client = self._client()
        await client.close_user_connections(
            ids.streamer_user(state.stream_id),
            excluded=[event.connection_id],
            reason=CONTRACT.streamer_replaced_reason,  # the page stops when it reads this
        )
        await client.send_to_group(state.stream_id, status_message("live"), content_type=JSON)

    async def _disconnected(self, state: ConnState) -> None:
        if state.role is Role.WATCHER:
            return
        if state.ended:  # watchers already got "ended"
            return
        # a newer connection of the same streamer replaced this one: the stream is still live
        if await self._client().user_exists(ids.streamer_user(state.stream_id)):
            return
        await self._client().send_to_group(
            state.stream_id, status_message("offline"), content_type=JSON
        )

    async def _user_event(self, event: CloudEvent, state: ConnState | None) -> HttpResult:
        result = check_user_event(event.name, event.body, event.is_json, state, self._clock())
        if not isinstance(result, Checked):
            # ids and codes only: event data may hold the streamer's code
            log.info("refused %r from %s: %s", event.name, event.connection_id, result.refusal.code)
            encoded = result.state.encode() if result.state else None
            return refuse_user_event(result.refusal, encoded)
        client = self._client()
        new_state = result.state
        match result.event:
            case Sync(stream_id, have):
                streamer = ids.streamer_user(stream_id)
                if not await client.user_exists(streamer):
                    return reply(status_message("offline"), new_state.encode())
                ticket = self._tickets.issue(stream_id, event.connection_id)
                message = sync_request_message(event.connection_id, have, ticket)
                await client.send_to_user(streamer, message, content_type=JSON)
            case Snapshot() | Catchup() as answer:
                if not self._tickets.verify(answer.stream_id, answer.to, answer.ticket):
                    msg = "ticket is not the one of a sync-request from `to` on this stream"
                    return refuse_user_event(Refusal(Code.NOT_A_WATCHER, msg), new_state.encode())
                message = (
                    snapshot_message(answer)
                    if isinstance(answer, Snapshot)
                    else catchup_message(answer)
                )
                await client.send_to_connection(answer.to, message, content_type=JSON)
            case Watchers(stream_id):
                count = await self._count_watchers(stream_id)
                return reply(watchers_message(count), new_state.encode())
            case Control() as control:
                message = control_message(control, int(self._clock() * 1000))
                await client.send_to_group(control.stream_id, message, content_type=JSON)
                if control.ended:
                    await client.send_to_group(
                        control.stream_id, status_message("ended"), content_type=JSON
                    )
                    new_state = replace(new_state, ended=True)
        return reply(None, new_state.encode())
