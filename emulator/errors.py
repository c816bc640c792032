"""The one error shape every HTTP answer uses: {"error": {"code", "message"}}.

The code is also sent as `x-ms-error-code`, the header where Azure's REST APIs (and the SDKs'
`error_code`) put it.
"""

from __future__ import annotations

from aiohttp import web

ERROR_CODE_HEADER = "x-ms-error-code"
CONNECTION_NOT_EXISTED = "Error.Connection.NotExisted"


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}},
        status=status,
        headers={ERROR_CODE_HEADER: code},
    )


def not_found_head(code: str) -> web.Response:
    """A HEAD answer has no body; the header says why."""
    return web.Response(status=404, headers={ERROR_CODE_HEADER: code})
