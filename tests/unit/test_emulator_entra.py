"""Entra mode's pure claim checks (the signature and times are PyJWT's)."""

from __future__ import annotations

import pytest

from emulator.config import EntraSettings
from emulator.entra import Forbidden, check_claims
from emulator.tokens import TokenError

ISSUER = "https://127.0.0.1:9443/t/v2.0"
SETTINGS = EntraSettings("https://127.0.0.1:9443", "t", allowed_principals=frozenset({"app"}))


def test_accepts_the_configured_issuer_audience_and_principal() -> None:
    claims = {"iss": ISSUER, "aud": "https://webpubsub.azure.com", "oid": "APP"}
    assert check_claims(claims, SETTINGS, issuer=ISSUER) == claims
    listed = {**claims, "aud": ["other", "https://webpubsub.azure.com"]}
    assert check_claims(listed, SETTINGS, issuer=ISSUER) == listed


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"iss": "https://elsewhere/t/v2.0", "aud": "https://webpubsub.azure.com"}, TokenError),
        ({"iss": ISSUER, "aud": "api://other"}, TokenError),
        ({"iss": ISSUER}, TokenError),
        ({"iss": ISSUER, "aud": "https://webpubsub.azure.com", "oid": "someone"}, Forbidden),
        ({"iss": ISSUER, "aud": "https://webpubsub.azure.com"}, Forbidden),
    ],
)
def test_refusals(claims: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        check_claims(claims, SETTINGS, issuer=ISSUER)


def test_any_principal_of_the_tenant_when_none_is_listed() -> None:
    open_settings = EntraSettings("https://127.0.0.1:9443", "t")
    claims = {"iss": ISSUER, "aud": "https://webpubsub.azure.com", "oid": "anyone"}
    assert check_claims(claims, open_settings, issuer=ISSUER) == claims
