"""The dev host's pure helpers: route templates, CSP, FunctionApp introspection, how Azurite
is run."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from codestream.config import load_settings
from devhost.azurite import AzuriteSetup
from devhost.functions import aiohttp_path, http_functions, to_aiohttp_response
from devhost.static import add_connect_src, response_headers, route_matches, with_connect_src


@pytest.mark.parametrize(
    ("prefix", "route", "path"),
    [
        ("api", "negotiate", "/api/negotiate"),
        ("api", "webpubsub/events", "/api/webpubsub/events"),
        ("", "health", "/health"),
        ("/api/", "/items/{id:int}", "/api/items/{id}"),
        ("api", "items/{id?}", "/api/items/{id}"),
        ("api", "files/{*rest}", "/api/files/{rest:.*}"),
    ],
)
def test_route_templates(prefix: str, route: str, path: str) -> None:
    assert aiohttp_path(prefix, route) == path


@pytest.mark.parametrize(
    ("csp", "expected"),
    [
        (
            "default-src 'none'; connect-src 'self' wss://*.webpubsub.azure.com",
            "default-src 'none'; connect-src 'self' wss://*.webpubsub.azure.com ws://127.0.0.1:9",
        ),
        ("default-src 'none'", "default-src 'none'; connect-src 'self' ws://127.0.0.1:9"),
        ("connect-src 'self' ws://127.0.0.1:9", "connect-src 'self' ws://127.0.0.1:9"),
    ],
)
def test_csp_gets_the_emulator_origin(csp: str, expected: str) -> None:
    assert add_connect_src(csp, "ws://127.0.0.1:9") == expected


def test_functions_are_read_from_the_function_app() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="a/{x}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
    async def first(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("a")

    @app.route(route="b", trigger_arg_name="request")
    def second(request: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("b")

    found = {f.name: f for f in http_functions(app, "api")}
    assert set(found) == {"first", "second"}
    assert (found["first"].path, found["first"].methods) == ("/api/a/{x}", ("GET", "POST"))
    assert found["first"].auth_level == "anonymous"
    assert (found["second"].methods, found["second"].auth_level) == ((), "function")
    assert found["second"].trigger_arg == "request"


def test_response_conversion_keeps_status_headers_and_type() -> None:
    resp = to_aiohttp_response(
        func.HttpResponse(b"{}", status_code=201, headers={"X-A": "1"}, mimetype="application/json")
    )
    assert resp.status == 201
    assert resp.headers["X-A"] == "1"
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.body == b"{}"


def test_azurite_runs_blob_only_on_loopback_without_telemetry_with_its_key_in_the_env(
    tmp_path: Path,
) -> None:
    setup = AzuriteSetup("127.0.0.1", 10123, tmp_path)
    other = AzuriteSetup("127.0.0.1", 10123, tmp_path)
    assert setup.account_key != other.account_key  # a fresh key each run
    assert len(base64.b64decode(setup.account_key)) == 64
    argv = setup.command()
    assert argv[1].endswith("azurite/dist/src/blob/main.js")
    assert argv[2:] == [
        "--blobHost", "127.0.0.1", "--blobPort", "10123", "--location", str(tmp_path),
        "--silent", "--disableTelemetry",
    ]  # fmt: skip
    assert setup.account_key not in " ".join(argv)  # not visible in `ps`
    assert setup.environment()["AZURITE_ACCOUNTS"] == f"codestream:{setup.account_key}"
    assert setup.connection_string == (
        "DefaultEndpointsProtocol=http;AccountName=codestream;"
        f"AccountKey={setup.account_key};BlobEndpoint=http://127.0.0.1:10123/codestream;"
    )
    assert setup.account_key not in repr(setup)
    # the app takes the connection string as a setting
    storage = load_settings(
        {
            "WebPubSubConnectionString": "Endpoint=http://127.0.0.1:9;AccessKey=k;Version=1.0;",
            "OwnerKeySecret": "s" * 32,
            "StreamStorageConnectionString": setup.connection_string,
        }
    ).storage
    assert storage.connection_string == setup.connection_string


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/embed.html", "/embed.html", True),
        ("/embed.html", "/embed.html/", False),
        ("/embed.html", "/embed", False),
        ("/embed.html", "/x/embed.html", False),
        ("/profile/index.html", "/profile/index.html", True),
        ("/profile/index.html", "/profile/", True),
        ("/profile/index.html", "/profile", True),
        ("/assets/*", "/assets/watcher.js", True),
        ("/assets/*", "/assets", False),
        ("/assets*", "/assets", True),
        ("/assets*", "/assetsx/y", True),
        ("/articles/*.html", "/articles/a/b.html", True),
        ("/articles/*.html", "/articles/a.htm", False),
        ("/images/*.{png,jpg}", "/images/a.jpg", True),
        ("/images/*.{png,jpg}", "/images/a.svg", False),
        ("/*", "/anything", True),
        ("", "/", False),
    ],
)
def test_static_web_apps_route_patterns(pattern: str, path: str, matches: bool) -> None:
    assert route_matches(pattern, path) is matches


GLOBAL = {"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY", "A": "1"}


@pytest.mark.parametrize(
    ("routes", "path", "method", "expected"),
    [
        ([], "/x", "GET", GLOBAL),
        (  # a route header replaces the global one in any case; "" removes one
            [
                {
                    "route": "/e.html",
                    "headers": {"content-security-policy": "x", "X-Frame-Options": ""},
                }
            ],
            "/e.html",
            "GET",
            {"content-security-policy": "x", "A": "1"},
        ),
        (  # the first matching route is the only one applied
            [
                {"route": "/*", "headers": {"B": "2"}},
                {"route": "/e.html", "headers": {"X-Frame-Options": ""}},
            ],
            "/e.html",
            "GET",
            {**GLOBAL, "B": "2"},
        ),
        (  # a route for other methods does not match, the next one does
            [
                {"route": "/e.html", "methods": ["POST"], "headers": {"B": "2"}},
                {"route": "/e.html", "headers": {"C": "3"}},
            ],
            "/e.html",
            "GET",
            {**GLOBAL, "C": "3"},
        ),
    ],
)
def test_route_headers_as_static_web_apps_applies_them(
    routes: list[dict[str, Any]], path: str, method: str, expected: dict[str, str]
) -> None:
    assert response_headers(GLOBAL, routes, path, method) == expected


def test_every_csp_gets_the_emulator_origin() -> None:
    headers = with_connect_src(
        {"Content-Security-Policy": "connect-src 'self'", "X": "y"}, "ws://e"
    )
    assert headers == {"Content-Security-Policy": "connect-src 'self' ws://e", "X": "y"}
