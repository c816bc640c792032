"""CodeStream's Function App: three HTTP routes over the `codestream` package.

Settings are read once, here, at import (= at start): a missing or bad one stops the app with
a message naming it, rather than failing the first request.
"""

from __future__ import annotations

import os

import azure.functions as func

from codestream import routes
from codestream.config import load_settings
from codestream.events import EventHandler
from codestream.http import HttpResult, json_result
from codestream.negotiate import negotiate as negotiate_stream
from codestream.service import ServiceHolder
from codestream.upstream_auth import UpstreamAuth

settings = load_settings(os.environ)
services = ServiceHolder(settings)
event_handler = EventHandler(settings, UpstreamAuth(settings), services.get)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _response(result: HttpResult) -> func.HttpResponse:
    headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
    mimetype = result.headers.get("Content-Type", "text/plain").split(";", 1)[0]
    return func.HttpResponse(
        result.body, status_code=result.status, headers=headers, mimetype=mimetype
    )


@app.route(route=routes.NEGOTIATE, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def negotiate(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous on purpose: anyone may start or watch a stream; resuming needs the owner key."""
    result = await negotiate_stream(req.get_body(), settings.owner_key_secret, services.get())
    return _response(result)


@app.route(
    route=routes.EVENTS,
    methods=["GET", "POST", "OPTIONS"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
async def webpubsub_events(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous to the Functions host; every event is authenticated by `upstream_auth`."""
    result = await event_handler.handle(req.method.upper(), dict(req.headers), req.get_body())
    return _response(result)


@app.route(route=routes.HEALTH, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health(req: func.HttpRequest) -> func.HttpResponse:
    """For probes: answering at all means the settings loaded and the worker runs."""
    return _response(json_result(200, {"status": "ok"}, {"Cache-Control": "no-store"}))
