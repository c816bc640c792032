"""Upstream authentication: ce-signature with keys, Entra bearer tokens without.

Tokens are signed with an RSA key generated here; the key resolver is injected, so nothing
leaves the machine.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from codestream import signature
from codestream.config import UpstreamEntra, load_settings
from codestream.errors import Code
from codestream.upstream_auth import (
    EntraVerifier,
    UpstreamAuth,
    check_signature,
    issuers,
    jwks_url,
)
from harness.azurite import NO_STORAGE

TENANT = "11111111-2222-3333-4444-555555555555"
OTHER_TENANT = "99999999-2222-3333-4444-555555555555"
PRINCIPAL = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
AUDIENCE = "api://codestream-upstream"
UPSTREAM = UpstreamEntra(AUDIENCE, TENANT, PRINCIPAL)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
FOREIGN_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token(key: Any = KEY, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "aud": AUDIENCE,
        "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "oid": PRINCIPAL,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


VERIFIER = EntraVerifier(UPSTREAM, key_resolver=lambda _token: KEY.public_key())


def test_keys_and_issuers_follow_the_configured_authority() -> None:
    assert jwks_url("https://login.microsoftonline.com", TENANT) == (
        f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"
    )
    assert issuers("https://login.microsoftonline.com", TENANT) == [
        f"https://login.microsoftonline.com/{TENANT}/v2.0",
        f"https://sts.windows.net/{TENANT}/",
    ]
    local = "https://127.0.0.1:8443"
    assert issuers(local, TENANT) == [f"{local}/{TENANT}/v2.0"]  # no public-cloud v1 issuer
    verifier = EntraVerifier(
        UpstreamEntra(AUDIENCE, TENANT, PRINCIPAL, local), key_resolver=lambda _t: KEY.public_key()
    )
    assert verifier.verify(f"Bearer {token(iss=f'{local}/{TENANT}/v2.0')}") is None
    refused = verifier.verify(f"Bearer {token()}")  # Entra's issuer, not the configured one
    assert refused is not None
    assert refused.code is Code.UNAUTHENTICATED


@pytest.mark.parametrize(
    "auth",
    [
        f"Bearer {token()}",
        f"bearer {token(iss=f'https://sts.windows.net/{TENANT}/')}",  # v1 issuer form
        f"Bearer {token(oid=PRINCIPAL.upper())}",
    ],
)
def test_valid_bearer_tokens(auth: str) -> None:
    assert VERIFIER.verify(auth) is None


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Basic abc", "missing"),
        ("Bearer ", "missing"),
        (f"Bearer {token(exp=int(time.time()) - 3600)}", "expired"),
        (f"Bearer {token(aud='api://someone-else')}", "audience"),
        (f"Bearer {token(iss=f'https://login.microsoftonline.com/{OTHER_TENANT}/v2.0')}", "tenant"),
        (f"Bearer {token(oid='00000000-0000-0000-0000-000000000000')}", "identity"),
        (f"Bearer {token(oid=None)}", "invalid"),
        (f"Bearer {token(key=FOREIGN_KEY)}", "invalid"),  # signed by a foreign key
        ("Bearer not.a.jwt", "invalid"),
        (f"Bearer {jwt.encode({'aud': AUDIENCE, 'oid': PRINCIPAL}, 'x' * 32)}", "invalid"),
    ],
)
def test_refused_bearer_tokens(auth: str | None, message: str) -> None:
    refusal = VERIFIER.verify(auth)
    assert refusal is not None
    assert refusal.code == Code.UNAUTHENTICATED
    assert message in refusal.message


KEYS = ("primary-key", "secondary-key")


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (signature.signature_header("conn1", KEYS), True),
        (signature.sign("conn1", "secondary-key"), True),
        (None, False),
        ("", False),
        (signature.sign("conn2", "primary-key"), False),  # another connection's signature
        (signature.sign("conn1", "wrong-key"), False),  # forged
        ("sha256=" + "0" * 64, False),
    ],
)
def test_signature(header: str | None, ok: bool) -> None:
    headers = {"ce-signature": header} if header is not None else {}
    refusal = check_signature(KEYS, headers, "conn1")
    assert (refusal is None) is ok
    if refusal:
        assert refusal.code == Code.UNAUTHENTICATED


async def test_upstream_auth_picks_the_configured_check() -> None:
    keyed = load_settings(
        {
            "WebPubSubConnectionString": "Endpoint=http://127.0.0.1:1;AccessKey=k;Version=1.0;",
            "OwnerKeySecret": "s" * 32,
            **NO_STORAGE,
        }
    )
    auth = UpstreamAuth(keyed)
    assert await auth.check({"ce-signature": signature.sign("c", "k")}, "c") is None
    # a valid bearer token does not replace the signature when a key is configured
    assert await auth.check({"authorization": f"Bearer {token()}"}, "c") is not None

    entra = load_settings(
        {
            "WebPubSubEndpoint": "https://x.webpubsub.azure.com",
            "OwnerKeySecret": "s" * 32,
            **NO_STORAGE,
            "WebPubSubUpstreamAudience": AUDIENCE,
            "WebPubSubUpstreamTenantId": TENANT,
            "WebPubSubUpstreamPrincipalId": PRINCIPAL,
        }
    )
    auth = UpstreamAuth(entra, key_resolver=lambda _t: KEY.public_key())
    assert await auth.check({"authorization": f"Bearer {token()}"}, "c") is None
    assert await auth.check({"ce-signature": signature.sign("c", "k")}, "c") is not None
