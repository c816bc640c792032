"""Framework-free HTTP answers, so handlers are testable without azure-functions.

`function_app.py` turns an `HttpResult` into `azure.functions.HttpResponse`; nothing else in
`codestream` knows about the Functions runtime.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from codestream.errors import Refusal

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def json_result(status: int, payload: Any, headers: dict[str, str] | None = None) -> HttpResult:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return HttpResult(status, body, {"Content-Type": JSON_TYPE, **(headers or {})})


def error_result(refusal: Refusal, headers: dict[str, str] | None = None) -> HttpResult:
    return json_result(refusal.status, refusal.error_body(), headers)


def parse_json(body: bytes) -> Any:
    """Decode a JSON body; raises ValueError (incl. UnicodeDecodeError) on bad input.

    JSON nested too deeply for the decoder (a few KiB of `[`) is bad input too: without this,
    its RecursionError would escape every parser and become a 500."""
    try:
        return json.loads(body.decode("utf-8"))
    except RecursionError:
        raise ValueError("JSON is nested too deeply") from None
