"""The emulator counts the data-plane REST calls it answers, per route, for benchmarks that
report what the app asks of the service (e.g. REST calls per watcher join)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from harness.emulator import HUB, start_emulator

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service() -> Iterator[WebPubSubServiceClient]:
    with start_emulator() as emu:
        client = WebPubSubServiceClient.from_connection_string(emu.connection_string, hub=HUB)
        yield client
        client.close()


def stats(service: WebPubSubServiceClient) -> dict[str, object]:
    resp = service.send_request(HttpRequest("GET", f"/_emulator/hubs/{HUB}/stats"))
    assert resp.status_code == 200
    body: dict[str, object] = resp.json()
    return body


def test_every_answered_call_is_counted_once_per_route(service: WebPubSubServiceClient) -> None:
    before = stats(service)
    assert before == {"total": 0, "calls": {}}
    service.send_to_all({"n": 1}, content_type="application/json")
    service.send_to_all({"n": 2}, content_type="application/json")
    assert service.user_exists("nobody") is False
    list(service.list_connections(group="room"))
    after = stats(service)
    assert after == {
        "total": 4,
        "calls": {
            "GET /api/hubs/{hub}/groups/{group}/connections": 1,
            "HEAD /api/hubs/{hub}/users/{userId}": 1,
            "POST /api/hubs/{hub}/:send": 2,
        },
    }
    assert stats(service) == after  # reading the counters is not a data-plane call


def test_refused_calls_are_not_counted(service: WebPubSubServiceClient) -> None:
    before = stats(service)
    resp = service.send_request(HttpRequest("POST", f"/api/hubs/{HUB}/:send"))  # no api-version
    assert resp.status_code == 400
    assert stats(service) == before
