"""aiohttp wiring: `build_app(config)` is the whole emulator as one Application."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from .client_endpoint import RUNTIME, client_endpoint
from .config import EmulatorConfig
from .entra import IdentityTokens, RestTokenVerifier
from .errors import error_response
from .rest import Handler, add_routes, rest_auth
from .runtime import Runtime
from .upstream import Upstream

log = logging.getLogger(__name__)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure answers {"error": {...}}; nothing leaks a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.replace(" ", "")
        return error_response(exc.status, code, exc.text or exc.reason)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "InternalServerError", "unexpected emulator error")


async def health(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    return web.json_response({"status": "ok", "connections": runtime.registry.connection_count()})


async def _start(app: web.Application) -> None:
    runtime = app[RUNTIME]
    entra = runtime.config.entra
    identity = IdentityTokens(entra) if entra and entra.identity_client_id else None
    runtime.upstream = Upstream(runtime.config.limits.upstream_timeout, identity)
    await runtime.upstream.start()
    if entra is not None:
        runtime.rest_verifier = RestTokenVerifier(entra)
        await runtime.rest_verifier.start()


async def _close_sessions(app: web.Application) -> None:
    runtime = app[RUNTIME]
    await asyncio.gather(
        *(session.shutdown() for session in list(runtime.sessions)), return_exceptions=True
    )


async def _stop(app: web.Application) -> None:
    runtime = app[RUNTIME]
    for task in list(runtime.tasks):
        task.cancel()
    if runtime.upstream is not None:
        await runtime.upstream.stop()
        if isinstance(runtime.upstream.identity, IdentityTokens):
            await runtime.upstream.identity.close()
    if runtime.rest_verifier is not None:
        await runtime.rest_verifier.stop()


def build_app(config: EmulatorConfig | None = None) -> web.Application:
    config = config or EmulatorConfig()
    # REST bodies are checked against the 1 MiB message limit by the routes themselves
    app = web.Application(
        middlewares=[json_errors, rest_auth],
        client_max_size=config.limits.max_message_bytes * 2,
    )
    app[RUNTIME] = Runtime(config)
    app.router.add_get("/api/health", health)
    app.router.add_get("/client/hubs/{hub}", client_endpoint)
    add_routes(app)
    app.on_startup.append(_start)
    app.on_shutdown.append(_close_sessions)
    app.on_cleanup.append(_stop)
    return app
