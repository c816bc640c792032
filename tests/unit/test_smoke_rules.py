"""The smoke check's pure rules: CSP source matching, CORS verdicts, who refused a handshake."""

from __future__ import annotations

import pytest

from tools.smoke import (
    FOREIGN_ORIGIN,
    HOPS,
    Handshake,
    cors_verdict,
    csp_allows,
    origin_of,
    parse_csp,
)
from tools.smoke import refusal as refusal_of

SITE = "https://nice-sea-0abc123.azurestaticapps.net"
API = "https://func-abc.azurewebsites.net"
CONNECT = ["'self'", API, "wss://*.webpubsub.azure.com"]


@pytest.mark.parametrize(
    ("url", "page", "allowed"),
    [
        (API + "/api/negotiate", SITE, True),
        ("https://func-other.azurewebsites.net/api/negotiate", SITE, False),
        ("wss://wps-abc.webpubsub.azure.com/client/hubs/codestream", SITE, True),
        ("ws://wps-abc.webpubsub.azure.com/client/hubs/codestream", SITE, False),
        ("wss://webpubsub.azure.com/client", SITE, False),  # *. needs a subdomain
        ("wss://evil.example/webpubsub.azure.com", SITE, False),
        (SITE + "/api/negotiate", SITE, True),  # 'self'
        ("wss://nice-sea-0abc123.azurestaticapps.net/x", SITE, True),  # 'self' admits wss
        ("https://func-abc.azurewebsites.net:8443/api", SITE, False),  # another port
    ],
)
def test_csp_connect_src_matching(url: str, page: str, allowed: bool) -> None:
    assert csp_allows(CONNECT, url, page) is allowed


def test_csp_local_dev_host() -> None:
    connect = ["'self'", "wss://*.webpubsub.azure.com", "ws://127.0.0.1:8081"]
    page = "http://localhost:8080"
    assert csp_allows(connect, "ws://127.0.0.1:8081/client/hubs/codestream", page)
    assert not csp_allows(connect, "ws://127.0.0.1:9999/client/hubs/codestream", page)
    assert csp_allows(connect, "http://localhost:8080/api/negotiate", page)
    assert csp_allows(connect, "ws://localhost:8080/x", page)  # 'self' over ws
    assert not csp_allows(["'none'"], "http://localhost:8080/api/negotiate", page)
    assert csp_allows(["https:"], API, page)
    assert not csp_allows(["https:"], "ws://x.example", page)


def test_parse_csp_keeps_the_first_of_a_directive() -> None:
    parsed = parse_csp("default-src 'none'; connect-src 'self' a.example; connect-src *;")
    assert parsed == {"default-src": ["'none'"], "connect-src": ["'self'", "a.example"]}


def test_origin_of() -> None:
    assert origin_of("HTTPS://Func-Abc.azurewebsites.net:443/api/x?y") == API
    assert origin_of("http://localhost:8080/") == "http://localhost:8080"
    with pytest.raises(ValueError, match="not an absolute URL"):
        origin_of("/api/negotiate")


def test_cors_verdicts() -> None:
    assert cors_verdict(SITE, SITE, None) == ""
    assert cors_verdict("*", SITE, None) == ""
    assert cors_verdict(None, SITE, None) == (
        f"the API answered the site's origin {SITE} with no Access-Control-Allow-Origin"
    )
    assert cors_verdict("https://other.example", SITE, None).endswith("'https://other.example'")
    assert cors_verdict(SITE, SITE, FOREIGN_ORIGIN) == (
        f"the API lets any origin read it (Access-Control-Allow-Origin: {FOREIGN_ORIGIN})"
    )
    assert "any origin" in cors_verdict("*", SITE, "*")


def test_which_side_refused_a_handshake() -> None:
    endpoint = "wss://wps-abc.webpubsub.azure.com"
    unreachable = refusal_of(Handshake(0, "Connect call failed"), endpoint, API)
    assert unreachable.reason == f"cannot reach Web PubSub at {endpoint}: Connect call failed"
    handler = refusal_of(Handshake(401, "connect event handler answered 401"), endpoint, API)
    assert handler.reason.startswith("the event handler (the API) refused Web PubSub's")
    assert "WebPubSubUpstreamAudience" in handler.remedy
    bare = refusal_of(Handshake(401, ""), endpoint, API)  # the service says nothing more
    assert bare.reason.startswith("the event handler (the API) refused")
    service = refusal_of(Handshake(401, "Unauthorized: invalid token signature"), endpoint, API)
    assert service.reason.startswith("Web PubSub refused the client token the API issued")
    assert service.remedy.startswith("Web PubSub's side refused")
    failing = refusal_of(Handshake(500, "connect event handler answered 500"), endpoint, API)
    assert failing.reason.startswith("Web PubSub could not get an answer from the event handler")


def test_hops_are_a_list_each_needing_only_earlier_hops() -> None:
    names = [hop.name for hop in HOPS]
    assert names == [
        "site", "health", "cors", "negotiate", "store", "load", "recording", "streamer",
        "watcher", "delta", "presence", "delete",
    ]  # fmt: skip
    for index, hop in enumerate(HOPS):
        assert set(hop.needs) <= set(names[:index]), hop.name
