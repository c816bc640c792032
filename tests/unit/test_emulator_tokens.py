from __future__ import annotations

import time

import jwt
import pytest
from azure.core.credentials import AzureKeyCredential
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from emulator.tokens import (
    TokenError,
    issue_client_token,
    issue_reconnection_token,
    verify_client_token,
    verify_reconnection_token,
    verify_rest_token,
)

KEY = "k" * 44
ENDPOINT = "http://127.0.0.1:8081"


def test_sdk_client_token_is_accepted_with_its_claims() -> None:
    service = WebPubSubServiceClient(ENDPOINT, "CodeStream", AzureKeyCredential(KEY))
    token = service.get_client_access_token(
        user_id="u1", roles=["webpubsub.sendToGroup.s1"], groups=["s1", "s2"]
    )["token"]
    claims = verify_client_token(token, KEY, "codestream")  # hub names: case-insensitive
    assert claims.user_id == "u1"
    assert claims.roles == ("webpubsub.sendToGroup.s1",)
    assert claims.groups == ("s1", "s2")


def test_issued_token_round_trips() -> None:
    token = issue_client_token(KEY, ENDPOINT, "hub", user_id="x", roles=["r"], groups=["g"])
    claims = verify_client_token(token, KEY, "hub")
    assert (claims.user_id, claims.roles, claims.groups) == ("x", ("r",), ("g",))


@pytest.mark.parametrize(
    ("payload", "key", "message"),
    [
        ({"aud": f"{ENDPOINT}/client/hubs/hub"}, KEY, "invalid"),  # no exp
        ({"aud": f"{ENDPOINT}/client/hubs/hub", "exp": 1}, KEY, "expired"),
        ({"aud": f"{ENDPOINT}/client/hubs/other", "exp": 2**40}, KEY, "audience"),
        ({"aud": f"{ENDPOINT}/client/hubs/hub", "exp": 2**40}, "z" * 44, "signature"),
    ],
)
def test_bad_client_tokens_are_refused(payload: dict, key: str, message: str) -> None:
    token = jwt.encode(payload, key, algorithm="HS256")
    with pytest.raises(TokenError, match=message):
        verify_client_token(token, KEY, "hub")


def test_alg_none_is_refused() -> None:
    token = jwt.encode(
        {"aud": f"{ENDPOINT}/client/hubs/hub", "exp": 2**40}, key=None, algorithm="none"
    )
    with pytest.raises(TokenError):
        verify_client_token(token, KEY, "hub")


def test_rest_token_audience_is_the_request_url() -> None:
    url = f"{ENDPOINT}/api/hubs/hub/groups/a%20b/:send?api-version=2024-12-01"
    token = jwt.encode({"aud": url, "exp": int(time.time()) + 60}, KEY, algorithm="HS256")
    verify_rest_token(token, KEY, "/api/hubs/hub/groups/a b/:send")
    with pytest.raises(TokenError, match="audience"):
        verify_rest_token(token, KEY, "/api/hubs/hub/:send")


def test_reconnection_token_is_bound_to_connection_and_hub() -> None:
    token = issue_reconnection_token(KEY, "hub", "c1")
    verify_reconnection_token(token, KEY, "HUB", "c1")
    with pytest.raises(TokenError):
        verify_reconnection_token(token, KEY, "hub", "c2")
    with pytest.raises(TokenError):
        verify_reconnection_token(token, KEY, "other", "c1")
    with pytest.raises(TokenError):
        verify_reconnection_token(token, "z" * 44, "hub", "c1")


@pytest.mark.parametrize("aud", [1795631908, 1.5, True, {"a": 1}, None])
def test_audience_of_another_type_is_refused(aud: object) -> None:
    token = jwt.encode({"aud": aud, "exp": 2**40}, KEY, algorithm="HS256")
    with pytest.raises(TokenError, match="audience"):
        verify_client_token(token, KEY, "hub")
