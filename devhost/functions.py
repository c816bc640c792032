"""Serve a FunctionApp's HTTP functions from aiohttp, through azure-functions' own types.

Routes, methods and auth levels are read from the FunctionApp object (`get_functions()`), so
function_app.py stays the one place that declares them. Every call is counted per function
and per CloudEvents event name, for the invocation benchmark.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions.decorators.http import HttpTrigger

log = logging.getLogger("devhost.functions")
_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]*)?\??\}")


@dataclass
class Invocations:
    functions: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, dict[str, int]]:
        return {"functions": dict(self.functions), "events": dict(self.events)}


@dataclass(frozen=True)
class HttpFunction:
    name: str
    path: str  # aiohttp path
    methods: tuple[str, ...]  # empty: all methods
    auth_level: str
    trigger_arg: str
    handler: Any


def aiohttp_path(prefix: str, route: str) -> str:
    """Functions route template -> aiohttp path ({id:int} -> {id}, {*rest} -> {rest:.*})."""

    def convert(m: re.Match[str]) -> str:
        return f"{{{m.group(2)}:.*}}" if m.group(1) else f"{{{m.group(2)}}}"

    parts = [p.strip("/") for p in (prefix, route) if p and p.strip("/")]
    return "/" + _PARAM.sub(convert, "/".join(parts))


def http_functions(app: func.FunctionApp, route_prefix: str) -> list[HttpFunction]:
    found = []
    for function in app.get_functions():
        trigger = function.get_trigger()
        if not isinstance(trigger, HttpTrigger):
            continue
        name = function.get_function_name() or "function"
        methods = tuple(str(getattr(m, "value", m)).upper() for m in (trigger.methods or ()))
        level = getattr(trigger.auth_level, "value", trigger.auth_level) or "function"
        found.append(
            HttpFunction(
                name=name,
                path=aiohttp_path(route_prefix, trigger.route or name),
                methods=methods,
                auth_level=str(level).lower(),
                trigger_arg=trigger.name,
                handler=function.get_user_function(),
            )
        )
    return found


async def to_functions_request(request: web.Request) -> func.HttpRequest:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=dict(request.query),
        route_params=dict(request.match_info),
        body=await request.read(),
    )


def to_aiohttp_response(response: Any) -> web.Response:
    if isinstance(response, str):
        response = func.HttpResponse(response)
    if not isinstance(response, func.HttpResponse):
        raise TypeError(f"function returned {type(response).__name__}, not HttpResponse")
    headers = {k: v for k, v in response.headers.items()}
    if not any(k.lower() == "content-type" for k in headers) and response.get_body():
        mimetype = response.mimetype
        text = mimetype.startswith("text/") or mimetype == "application/json"
        headers["Content-Type"] = f"{mimetype}; charset={response.charset}" if text else mimetype
    return web.Response(status=response.status_code, body=response.get_body(), headers=headers)


def make_handler(fn: HttpFunction, counts: Invocations) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        counts.functions[fn.name] += 1
        event_name = request.headers.get("ce-eventName")
        if event_name:
            counts.events[event_name] += 1
        try:
            req = await to_functions_request(request)
        except ConnectionResetError:  # the client left before sending the body it announced
            log.info("%s: the client closed before its request body was complete", fn.name)
            return web.Response(status=400)
        try:
            if inspect.iscoroutinefunction(fn.handler):
                result = await fn.handler(**{fn.trigger_arg: req})
            else:  # the Functions worker runs sync functions on a thread pool too
                result = await asyncio.to_thread(fn.handler, **{fn.trigger_arg: req})
            return to_aiohttp_response(result)
        except Exception:
            # the Functions host answers 500 without details; the log has the traceback
            log.exception("function %s failed", fn.name)
            body = {"error": {"code": "internal_error", "message": "the function failed"}}
            return web.json_response(body, status=500)

    return handle


def add_function_routes(
    web_app: web.Application, functions: list[HttpFunction], counts: Invocations
) -> None:
    allowed: dict[str, list[str]] = {}  # path -> methods, over every function on that path
    for fn in functions:
        if fn.auth_level != "anonymous":
            # like Core Tools: keys are not checked locally
            log.warning("%s has auth level %s; not enforced locally", fn.name, fn.auth_level)
        handler = make_handler(fn, counts)
        for method in fn.methods or ("*",):
            web_app.router.add_route(method, fn.path, handler)
        if fn.methods:
            allowed.setdefault(fn.path, []).extend(fn.methods)
    # other methods: 405, not the static site's 404; registered after every function, so that
    # two functions on one route (GET and DELETE, say) both stay reachable
    for path, methods in allowed.items():
        web_app.router.add_route("*", path, method_not_allowed(tuple(methods)))


def method_not_allowed(methods: tuple[str, ...]) -> Any:
    async def refuse(request: web.Request) -> web.Response:
        message = f"{request.method} is not allowed here; use {', '.join(methods)}"
        body = {"error": {"code": "method_not_allowed", "message": message}}
        return web.json_response(body, status=405, headers={"Allow": ", ".join(methods)})

    return refuse


def add_invocation_counter(web_app: web.Application, counts: Invocations) -> None:
    """Dev-only: GET /_devhost/invocations -> counts so far (never part of the deployment)."""

    async def invocations(_request: web.Request) -> web.Response:
        return web.Response(
            text=json.dumps(counts.as_json()),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    web_app.router.add_get("/_devhost/invocations", invocations)
