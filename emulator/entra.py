"""Entra mode: REST callers prove themselves with tokens from an OpenID authority, and the
emulator, as Web PubSub's managed identity, gets tokens from it for the event handlers.

`check_claims` is pure. `RestTokenVerifier` reads the authority's OpenID metadata
(`{authority}/{tenant}/v2.0/.well-known/openid-configuration`) for its issuer and JWKS, and
checks signature (RS256), issuer, audience and expiry; an unknown key id refetches the keys
(at most once a minute), as key rollover needs. `IdentityTokens` uses azure-identity's own
`ClientSecretCredential`, so the emulator asks the authority exactly as an Azure client would.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import jwt
from azure.identity.aio import ClientSecretCredential

from .config import EntraSettings
from .tokens import TokenError

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 60
REFETCH_SECONDS = 60.0
FETCH_TIMEOUT = 10.0


class Forbidden(Exception):
    """A valid token of a principal that holds no role on this service (403)."""


def check_claims(
    claims: Mapping[str, Any], settings: EntraSettings, *, issuer: str
) -> Mapping[str, Any]:
    """Issuer, audience and the role stand-in; PyJWT has checked signature and times."""
    if claims.get("iss") != issuer:
        raise TokenError("token is from another issuer")
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if settings.audience not in auds:
        raise TokenError("token is for another audience")
    principal = str(claims.get("oid") or claims.get("sub") or "").lower()
    if settings.allowed_principals and principal not in settings.allowed_principals:
        raise Forbidden("the caller has no role on this Web PubSub service")
    return claims


class RestTokenVerifier:
    def __init__(self, settings: EntraSettings) -> None:
        self.settings = settings
        self._issuer: str | None = None
        self._jwks_uri: str | None = None
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _get_json(self, url: str) -> Any:
        assert self._session is not None  # noqa: S101 (started with the app)
        async with self._session.get(url) as resp:
            if resp.status != 200:
                raise TokenError(f"the authority answered {resp.status} for {url}")
            return json.loads(await resp.read())

    async def _refresh(self) -> None:
        if self._issuer is None or self._jwks_uri is None:
            metadata = await self._get_json(self.settings.metadata_url)
            self._issuer = str(metadata["issuer"])
            self._jwks_uri = str(metadata["jwks_uri"])
        keys = jwt.PyJWKSet.from_dict(await self._get_json(self._jwks_uri))
        self._keys = {k.key_id: k.key for k in keys.keys if k.key_id}
        self._fetched_at = time.monotonic()

    async def _key(self, kid: str) -> Any:
        if kid not in self._keys and time.monotonic() - self._fetched_at > REFETCH_SECONDS:
            try:
                await self._refresh()
            except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
                log.warning("cannot read the authority's keys: %s", exc)
                raise TokenError("the authority's keys cannot be read") from None
            except jwt.PyJWTError:
                raise TokenError("the authority's keys are not valid JWKS") from None
        if kid not in self._keys:
            raise TokenError("token is signed with an unknown key")
        return self._keys[kid]

    async def verify(self, token: str) -> Mapping[str, Any]:
        """The claims of a valid token; TokenError (401) or Forbidden (403) otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("token is not a JWT") from None
        if header.get("alg") != "RS256":
            raise TokenError("token must be signed with RS256")
        key = await self._key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_iss": False, "require": ["exp", "iss"]},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"token is invalid: {exc}") from None
        assert self._issuer is not None  # noqa: S101 (set with the keys)
        return check_claims(claims, self.settings, issuer=self._issuer)


class IdentityTokens:
    """Bearer tokens for `resource`, from the authority, as the service's identity gets them."""

    def __init__(self, settings: EntraSettings) -> None:
        client_id, secret = settings.identity_client_id, settings.identity_client_secret
        if not client_id or not secret:
            raise ValueError("an identity needs a client id and its secret")
        self._credential = ClientSecretCredential(
            settings.tenant_id,
            client_id,
            secret,
            authority=settings.authority,
        )

    async def bearer(self, resource: str) -> str:
        scope = resource.rstrip("/") + "/.default"
        token = await self._credential.get_token(scope)
        return f"Bearer {token.token}"

    async def close(self) -> None:
        await self._credential.close()
