"""The browser client's cross-origin call to the API is a CORS-simple request.

On Azure the site (Static Web App) and the API (Function App) have different origins. A
request that is not "simple" makes the browser send an OPTIONS preflight first, which then
depends on how Flex Consumption's platform CORS answers preflights. A simple one needs only
`Access-Control-Allow-Origin` on the answer. Here the client's own negotiate code runs under
Node with a `fetch` that records the request, and the request is checked against the Fetch
standard's rules (fetch.spec.whatwg.org: "CORS-safelisted method", "CORS-safelisted
request-header"; no ReadableStream body). The smoke check (tools/smoke.py, hop "cors") sends
the same request to a deployed API.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from harness.bicep import REPO_ROOT

pytestmark = pytest.mark.infra

NEGOTIATE_JS = REPO_ROOT / "static_web" / "src" / "net" / "negotiate.js"
SAFELISTED_METHODS = {"GET", "HEAD", "POST"}
SAFELISTED_CONTENT_TYPES = {
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
}
SAFELISTED_HEADERS = {"accept", "accept-language", "content-language", "content-type", "range"}

RECORDER = """
const calls = [];
globalThis.fetch = async (url, init = {}) => {
  const headers = {};
  for (const [k, v] of new Headers(init.headers || {})) headers[k] = v;
  const body = init.body;
  calls.push({ url: String(url), method: (init.method || "GET").toUpperCase(), headers,
    bodyType: body === undefined ? "none" : typeof body === "string" ? "string"
      : body && body.constructor ? body.constructor.name : typeof body,
    body: typeof body === "string" ? body : null, mode: init.mode || "cors",
    credentials: init.credentials || "same-origin" });
  return new Response(JSON.stringify({ streamId: "s", role: "streamer", url: "wss://x" }),
    { status: 200, headers: { "content-type": "application/json" } });
};
const { negotiate } = await import(process.argv[1]);
await negotiate({});
await negotiate({ streamId: "abcdefghijkl" });
process.stdout.write(JSON.stringify(calls));
"""


@pytest.fixture(scope="module")
def negotiate_requests() -> list[dict[str, Any]]:
    done = subprocess.run(
        ["node", "--input-type=module", "-e", RECORDER, NEGOTIATE_JS.as_uri()],  # noqa: S607
        cwd=REPO_ROOT / "static_web",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def cors_simple_problems(request: dict[str, Any]) -> list[str]:
    problems = []
    if request["method"] not in SAFELISTED_METHODS:
        problems.append(f"method {request['method']}")
    for name, value in request["headers"].items():
        if name not in SAFELISTED_HEADERS:
            problems.append(f"header {name}")
        elif name == "content-type" and value.split(";")[0].strip() not in SAFELISTED_CONTENT_TYPES:
            problems.append(f"content-type {value}")
    if request["bodyType"] not in ("none", "string", "URLSearchParams", "FormData"):
        problems.append(f"body {request['bodyType']}")
    return problems


def test_negotiate_is_a_cors_simple_request(negotiate_requests: list[dict[str, Any]]) -> None:
    assert len(negotiate_requests) == 2
    for request in negotiate_requests:
        assert request["url"].endswith("/api/negotiate")
        assert cors_simple_problems(request) == []
        assert request["credentials"] == "omit"  # no cookies: CORS needs no credentials mode
    # a string body without a content-type header goes as text/plain;charset=UTF-8, which the
    # server reads as JSON anyway (codestream/messages.py parse_negotiate ignores the type)
    assert [json.loads(r["body"]) for r in negotiate_requests] == [{}, {"streamId": "abcdefghijkl"}]


def test_the_rule_refuses_a_json_content_type() -> None:
    request = {
        "method": "POST",
        "headers": {"content-type": "application/json"},
        "bodyType": "string",
    }
    assert cors_simple_problems(request) == ["content-type application/json"]
    assert cors_simple_problems({**request, "headers": {"x-custom": "1"}}) == ["header x-custom"]
