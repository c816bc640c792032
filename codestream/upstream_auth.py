"""Is this request really from our Web PubSub service?

With an access key (connection string: the emulator, or Azure with local auth enabled) the
service signs every event: `ce-signature` = HMAC-SHA256(key, connectionId). In Azure with
local auth disabled there is no key; the service then sends an Entra ID token of its managed
identity as `Authorization: Bearer`, and we check its signature (Entra's published keys),
audience, issuer, expiry and that it belongs to our service's identity (`oid`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import jwt

from codestream import signature
from codestream.config import DEFAULT_AUTHORITY_HOST, Settings, UpstreamEntra
from codestream.errors import Code, Refusal

KeyResolver = Callable[[str], Any]  # token -> verification key
LEEWAY_SECONDS = 60


def _unauthenticated(message: str) -> Refusal:
    return Refusal(Code.UNAUTHENTICATED, message)


def check_signature(
    access_keys: tuple[str, ...], headers: Mapping[str, str], connection_id: str
) -> Refusal | None:
    header = headers.get("ce-signature")
    if not header:
        return _unauthenticated("ce-signature is missing")
    if not signature.verify(connection_id, header, access_keys):
        return _unauthenticated("ce-signature does not match")
    return None


def jwks_url(authority_host: str, tenant_id: str) -> str:
    return f"{authority_host}/{tenant_id}/discovery/v2.0/keys"


def issuers(authority_host: str, tenant_id: str) -> list[str]:
    """v2 tokens name `{authority}/{tenant}/v2.0`; Entra's public cloud issues v1 tokens (those
    for a resource without an app manifest) as `https://sts.windows.net/{tenant}/`."""
    found = [f"{authority_host}/{tenant_id}/v2.0"]
    if authority_host == DEFAULT_AUTHORITY_HOST:
        found.append(f"https://sts.windows.net/{tenant_id}/")
    return found


def default_key_resolver(authority_host: str, tenant_id: str) -> KeyResolver:
    url = jwks_url(authority_host, tenant_id)
    client = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=10)

    def resolve(token: str) -> Any:
        return client.get_signing_key_from_jwt(token).key

    return resolve


class EntraVerifier:
    """Checks the bearer token Web PubSub's managed identity attaches to upstream calls."""

    def __init__(self, upstream: UpstreamEntra, key_resolver: KeyResolver | None = None) -> None:
        self._upstream = upstream
        host, tenant = upstream.authority_host, upstream.tenant_id
        self._resolve = key_resolver or default_key_resolver(host, tenant)
        self._issuers = issuers(host, tenant)

    def verify(self, authorization: str | None) -> Refusal | None:
        """Blocking (the first call per key fetches Entra's keys); see `verify_async`."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthenticated("Authorization: Bearer token is missing")
        token = token.strip()
        try:
            key = self._resolve(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._upstream.audience,
                issuer=self._issuers,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "oid"]},
            )
        except jwt.ExpiredSignatureError:
            return _unauthenticated("bearer token has expired")
        except jwt.InvalidAudienceError:
            return _unauthenticated("bearer token is for another audience")
        except jwt.InvalidIssuerError:
            return _unauthenticated("bearer token is from another tenant")
        except (jwt.PyJWTError, ValueError):
            return _unauthenticated("bearer token is invalid")
        if str(claims.get("oid", "")).lower() != self._upstream.principal_id.lower():
            return _unauthenticated("bearer token is not from this app's Web PubSub identity")
        return None

    async def verify_async(self, authorization: str | None) -> Refusal | None:
        return await asyncio.to_thread(self.verify, authorization)


class UpstreamAuth:
    """Picks the check the settings call for; built once at start."""

    def __init__(self, settings: Settings, key_resolver: KeyResolver | None = None) -> None:
        self._keys = settings.access_keys
        self._entra = (
            EntraVerifier(settings.upstream_entra, key_resolver)
            if not self._keys and settings.upstream_entra
            else None
        )

    async def check(self, headers: Mapping[str, str], connection_id: str) -> Refusal | None:
        """`headers` lower-cased. None means authentic."""
        if self._keys:
            return check_signature(self._keys, headers, connection_id)
        if self._entra is not None:
            return await self._entra.verify_async(headers.get("authorization"))
        return _unauthenticated("no upstream authentication is configured")
