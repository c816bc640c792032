"""`POST /api/negotiate`: who may connect, as what, with which permissions.

`plan` decides (pure); `negotiate` asks the service for the client access URL. Tokens grant
the least that works: a streamer may only send to its own stream group; a watcher may do
nothing at all and is put in its stream's group by the token itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError

from codestream import ids
from codestream.contract import CONTRACT
from codestream.errors import Code, Refusal
from codestream.http import HttpResult, error_result, json_result
from codestream.messages import NewStream, ResumeStream, WatchStream, parse_negotiate
from codestream.ports import WebPubSub
from codestream.state import Role

TOKEN_MINUTES = CONTRACT.token_minutes  # clients negotiate again on every (re)connect
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Grant:
    stream_id: str
    role: Role
    user_id: str
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    owner_key: str | None = None

    def answer(self, url: str) -> dict[str, Any]:
        body: dict[str, Any] = {"streamId": self.stream_id, "role": str(self.role), "url": url}
        if self.owner_key is not None:
            body["ownerKey"] = self.owner_key
        return body


def _streamer(stream_id: str, secret: str) -> Grant:
    return Grant(
        stream_id=stream_id,
        role=Role.STREAMER,
        user_id=ids.streamer_user(stream_id),
        roles=(ids.send_role(stream_id),),
        groups=(),
        owner_key=ids.owner_key(secret, stream_id),
    )


def plan(body: bytes, secret: str) -> Grant | Refusal:
    request = parse_negotiate(body)
    if isinstance(request, Refusal):
        return request
    match request:
        case NewStream():
            return _streamer(ids.new_stream_id(), secret)
        case ResumeStream(stream_id, key):
            if not ids.owner_key_matches(secret, stream_id, key):
                return Refusal(Code.OWNER_KEY_MISMATCH, "ownerKey does not match this stream")
            return _streamer(stream_id, secret)
        case WatchStream(stream_id):
            return Grant(stream_id, Role.WATCHER, ids.new_watcher_user(), (), (stream_id,))


async def negotiate(body: bytes, secret: str, client: WebPubSub) -> HttpResult:
    grant = plan(body, secret)
    if isinstance(grant, Refusal):
        return error_result(grant, NO_STORE)
    try:
        token = await client.get_client_access_token(
            user_id=grant.user_id,
            roles=list(grant.roles),
            groups=list(grant.groups),
            minutes_to_expire=TOKEN_MINUTES,
        )
    except AzureError:
        refusal = Refusal(Code.SERVICE_ERROR, "Web PubSub did not issue a token; try again")
        return error_result(refusal, NO_STORE)
    return json_result(200, grant.answer(token["url"]), NO_STORE)
