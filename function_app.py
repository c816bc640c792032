"""CodeStream's Function App: the HTTP routes, each a thin call into `codestream`.

`create_app` is the routing table. The module-level `app` is the one the Functions host
indexes; its settings are read here, at import (= at start), so a missing or bad one stops
the app with a message naming it rather than failing the first request.
"""

from __future__ import annotations

import os

import azure.functions as func

from codestream import routes
from codestream.http import HttpResult
from codestream.runtime import Runtime


def _response(result: HttpResult) -> func.HttpResponse:
    headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
    mimetype = result.headers.get("Content-Type", "text/plain").split(";", 1)[0]
    return func.HttpResponse(
        result.body, status_code=result.status, headers=headers, mimetype=mimetype
    )


def create_app(runtime: Runtime) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route=routes.NEGOTIATE, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
    async def negotiate(req: func.HttpRequest) -> func.HttpResponse:
        """Anonymous on purpose: anyone may start or watch a stream; resuming needs the key."""
        return _response(await runtime.negotiate(req.get_body()))

    @app.route(
        route=routes.EVENTS,
        methods=["GET", "POST", "OPTIONS"],
        auth_level=func.AuthLevel.ANONYMOUS,
    )
    async def webpubsub_events(req: func.HttpRequest) -> func.HttpResponse:
        """Anonymous to the Functions host; every event is authenticated by `upstream_auth`."""
        method = req.method.upper()
        return _response(await runtime.handle_event(method, dict(req.headers), req.get_body()))

    @app.route(route=routes.STREAM, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    async def stream_state(req: func.HttpRequest) -> func.HttpResponse:
        """Anonymous: whoever has the link may watch, so may read what was streamed."""
        stream_id = req.route_params.get(routes.STREAM_ID_PARAM, "")
        return _response(await runtime.read_stream(stream_id, dict(req.headers)))

    @app.route(route=routes.KEYFRAMES, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
    async def upload_keyframe(req: func.HttpRequest) -> func.HttpResponse:
        """Anonymous to the Functions host; the owner key (Authorization: Bearer) is checked."""
        stream_id = req.route_params.get(routes.STREAM_ID_PARAM, "")
        return _response(
            await runtime.upload_keyframe(stream_id, dict(req.headers), req.get_body())
        )

    @app.route(route=routes.SEGMENTS, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
    async def upload_segment(req: func.HttpRequest) -> func.HttpResponse:
        """Anonymous to the Functions host; the owner key (Authorization: Bearer) is checked."""
        stream_id = req.route_params.get(routes.STREAM_ID_PARAM, "")
        return _response(await runtime.upload_segment(stream_id, dict(req.headers), req.get_body()))

    @app.route(route=routes.STREAM, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
    async def delete_stream(req: func.HttpRequest) -> func.HttpResponse:
        """Anonymous to the Functions host; the owner key (Authorization: Bearer) is checked."""
        stream_id = req.route_params.get(routes.STREAM_ID_PARAM, "")
        return _response(await runtime.delete_stream(stream_id, dict(req.headers)))

    @app.route(route=routes.RECORDING, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    async def recording_index(req: func.HttpRequest) -> func.HttpResponse:
        """Anonymous: whoever has the link may watch, so may replay."""
        stream_id = req.route_params.get(routes.STREAM_ID_PARAM, "")
        return _response(await runtime.read_recording(stream_id, dict(req.headers)))

    @app.route(route=routes.DOWNLOAD, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    async def recording_download(req: func.HttpRequest) -> func.HttpResponse:
        """Anonymous: everyone may download the recording."""
        stream_id = req.route_params.get(routes.STREAM_ID_PARAM, "")
        return _response(await runtime.download_recording(stream_id, dict(req.headers)))

    @app.route(route=routes.BLOB, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    async def recording_blob(req: func.HttpRequest) -> func.HttpResponse:
        """Anonymous: one immutable keyframe or segment of a recording."""
        stream_id = req.route_params.get(routes.STREAM_ID_PARAM, "")
        name = req.route_params.get(routes.BLOB_NAME_PARAM, "")
        return _response(await runtime.read_blob(stream_id, name, dict(req.headers)))

    @app.route(route=routes.OEMBED, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    async def oembed(req: func.HttpRequest) -> func.HttpResponse:
        """Anonymous and open to any origin: link unfurlers read public metadata."""
        return _response(await runtime.oembed(dict(req.params), req.url))

    @app.route(route=routes.HEALTH, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    async def health(req: func.HttpRequest) -> func.HttpResponse:
        """For probes: answering at all means the settings loaded and the worker runs."""
        return _response(runtime.health())

    return app


runtime = Runtime.from_env(os.environ)
app = create_app(runtime)
