"""The one error shape every HTTP answer uses: {"error": {"code", "message"}}."""

from __future__ import annotations

from aiohttp import web


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
