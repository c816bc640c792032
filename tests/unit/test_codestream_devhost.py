"""The dev host's pure helpers: route templates, CSP, FunctionApp introspection."""

from __future__ import annotations

import azure.functions as func
import pytest

from devhost.functions import aiohttp_path, http_functions, to_aiohttp_response
from devhost.static import add_connect_src


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
