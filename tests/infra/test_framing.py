"""The static site's framing rule, read from the one source of its headers
(static_web/staticwebapp.config.template.json) by Static Web Apps' rules as the dev host
applies them (devhost/static.py: the first matching route wins; its headers replace global
ones of the same name, "" removes one):

- every page keeps `frame-ancestors 'none'` and `X-Frame-Options: DENY`;
- /embed.html alone may be framed by any site: its route replaces the CSP with the same
  policy but `frame-ancestors *`, and removes X-Frame-Options;
- no route before it catches /embed.html, and no other route touches framing.

tests/e2e/test_framing.py shows the same in Chromium, with a page on another origin.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devhost.static import response_headers, route_matches
from harness.bicep import REPO_ROOT

pytestmark = pytest.mark.infra

TEMPLATE = REPO_ROOT / "static_web" / "staticwebapp.config.template.json"
FRAMING = ("content-security-policy", "x-frame-options")
PAGES = ["/", "/index.html", "/watch.html", "/watch.html?s=x", "/assets/watcher.js", "/x.html"]


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return json.loads(TEMPLATE.read_text())


def csp(value: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in value.split(";"):
        tokens = part.split()
        if tokens:
            directives.setdefault(tokens[0].lower(), tokens[1:])
    return directives


def effective(config: dict[str, Any], path: str) -> dict[str, str]:
    headers = response_headers(config["globalHeaders"], config["routes"], path.split("?")[0], "GET")
    return {k.lower(): v for k, v in headers.items()}


def test_every_page_but_the_embed_page_refuses_framing(config: dict[str, Any]) -> None:
    for path in PAGES:
        headers = effective(config, path)
        assert csp(headers["content-security-policy"])["frame-ancestors"] == ["'none'"], path
        assert headers["x-frame-options"] == "DENY", path


def test_the_embed_page_may_be_framed_by_any_site(config: dict[str, Any]) -> None:
    headers = effective(config, "/embed.html")
    assert "x-frame-options" not in headers
    embed, site = (
        csp(headers["content-security-policy"]),
        csp(effective(config, "/")["content-security-policy"]),
    )
    assert embed["frame-ancestors"] == ["*"]
    # the same policy otherwise: framing is the only thing the embed page relaxes
    assert {k: v for k, v in embed.items() if k != "frame-ancestors"} == {
        k: v for k, v in site.items() if k != "frame-ancestors"
    }
    others = {k: v for k, v in headers.items() if k not in FRAMING}
    assert others == {k: v for k, v in effective(config, "/").items() if k not in FRAMING}


def test_one_route_touches_framing_and_nothing_catches_the_embed_page_first(
    config: dict[str, Any],
) -> None:
    touching = [
        route["route"]
        for route in config["routes"]
        if {name.lower() for name in route.get("headers", {})} & set(FRAMING)
    ]
    assert touching == ["/embed.html"]
    first = next(
        route for route in config["routes"] if route_matches(route["route"], "/embed.html")
    )
    assert first["route"] == "/embed.html"
    assert "methods" not in first  # GET and HEAD alike
