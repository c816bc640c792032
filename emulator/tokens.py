"""Access tokens: what clients and REST callers present, what the emulator issues. Pure.

Both kinds are HS256 JWTs signed with the access key, as Microsoft's SDKs make them:
client tokens have `aud` = `{endpoint}/client/hubs/{hub}`, REST tokens have `aud` = the
request URL (query string included). Audiences are compared on their path, case-insensitively,
so `localhost` and `127.0.0.1` are the same emulator.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt

ALGORITHM = "HS256"
LEEWAY_SECONDS = 5
GROUP_CLAIM = "webpubsub.group"
ROLE_CLAIM = "role"
_RECONNECT_AUDIENCE = "emulator:reconnect"


class TokenError(ValueError):
    """Why a token was refused; safe to show the caller (never contains the token)."""


@dataclass(frozen=True)
class ClientClaims:
    user_id: str | None
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    raw: Mapping[str, Any]


def _audience_path(aud: str) -> str:
    return unquote(urlsplit(aud).path).rstrip("/").lower()


def _decode(token: str, key: str) -> dict[str, Any]:
    if not token:
        raise TokenError("missing access token")
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"verify_aud": False, "require": ["exp"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenError("token signature is invalid") from exc
    except jwt.PyJWTError as exc:
        raise TokenError(f"token is invalid: {exc}") from exc


def _check_audience(claims: Mapping[str, Any], expected_path: str) -> None:
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and _audience_path(a) == expected_path.lower() for a in auds):
        raise TokenError("token audience does not match this endpoint")


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def client_path(hub: str) -> str:
    return f"/client/hubs/{hub}"


def verify_client_token(token: str, key: str, hub: str) -> ClientClaims:
    claims = _decode(token, key)
    _check_audience(claims, client_path(hub))
    sub = claims.get("sub")
    return ClientClaims(
        user_id=sub if isinstance(sub, str) and sub else None,
        roles=_str_list(claims.get(ROLE_CLAIM)),
        groups=_str_list(claims.get(GROUP_CLAIM)),
        raw=claims,
    )


def verify_rest_token(token: str, key: str, request_path: str) -> Mapping[str, Any]:
    claims = _decode(token, key)
    _check_audience(claims, unquote(request_path).rstrip("/"))
    return claims


def issue_client_token(
    key: str,
    endpoint: str,
    hub: str,
    *,
    user_id: str | None = None,
    roles: Iterable[str] = (),
    groups: Iterable[str] = (),
    minutes_to_expire: int = 60,
    now: float | None = None,
) -> str:
    """What `:generateToken` answers: the same claims the SDKs put in a client token."""
    issued = int(now if now is not None else time.time())
    payload: dict[str, Any] = {
        "aud": endpoint.rstrip("/") + client_path(hub),
        "iat": issued,
        "exp": issued + 60 * minutes_to_expire,
    }
    if user_id:
        payload["sub"] = user_id
    if roles := list(roles):
        payload[ROLE_CLAIM] = roles
    if groups := list(groups):
        payload[GROUP_CLAIM] = groups
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def issue_reconnection_token(key: str, hub: str, connection_id: str) -> str:
    """Binds a reliable connection id to its hub, so only its holder can resume it."""
    payload = {"aud": _RECONNECT_AUDIENCE, "hub": hub.lower(), "cid": connection_id}
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def verify_reconnection_token(token: str, key: str, hub: str, connection_id: str) -> None:
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=_RECONNECT_AUDIENCE)
    except jwt.PyJWTError as exc:
        raise TokenError("reconnection token is invalid") from exc
    if claims.get("cid") != connection_id or claims.get("hub") != hub.lower():
        raise TokenError("reconnection token does not match the connection")
