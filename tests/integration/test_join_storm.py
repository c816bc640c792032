"""Join storms through the real dev host (issue 13): watchers running the shipped JS cores join
from storage while the streamer types, and each converges to the streamer's document; the
streamer answers the storm with a bounded number of messages (group catchups, not one event
per join); and the REST calls the Function App makes per join (counted by the emulator) do not
grow with the audience."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from bench.ours import run_phase
from harness.devhost import RunningDevHost, start_devhost

pytestmark = pytest.mark.integration

GROUP_WINDOW_MS = 200  # TIMING.catchupGroupMs in static_web/src/core/streamer-state.js
SECONDS = 1.5


@pytest.fixture(scope="module")
def host() -> Iterator[RunningDevHost]:
    with start_devhost() as h:
        yield h


def rest_calls(host: RunningDevHost) -> int:
    client = WebPubSubServiceClient.from_connection_string(host.connection_string, hub=host.hub)
    try:
        resp = client.send_request(HttpRequest("GET", f"/_emulator/hubs/{host.hub}/stats"))
        assert resp.status_code == 200
        total = resp.json()["total"]
        assert isinstance(total, int)
        return total
    finally:
        client.close()


def storm(host: RunningDevHost, watchers: int) -> tuple[dict[str, Any], int]:
    """One storm of `watchers` joins in SECONDS; its result and the REST calls it cost."""
    before = rest_calls(host)
    params = {
        "base": host.url,
        "doc": "line of the document under test\n" * 600,  # about 19 KB
        "watchers": watchers,
        "seconds": SECONDS,
        "per_s": 8.0,
        "typed_text": "typed during the storm ",
        "sync_wait_s": 20.0,
        "converge_s": 10.0,
    }
    result = asyncio.run(run_phase("storm", params, 120.0))
    return result, rest_calls(host) - before


def test_a_storm_converges_with_bounded_streamer_messages_and_flat_rest_calls_per_join(
    host: RunningDevHost,
) -> None:
    small, small_calls = storm(host, 10)
    big, big_calls = storm(host, 30)
    for r, n in ((small, 10), (big, 30)):
        assert r["problems"] == [], r["problems"]
        assert r["joined"] == n
        assert r["stored_joins"] == n, "every watcher joined from storage"
        assert all(t is not None for t in r["to_full_ns"]), "every watcher holds the document"
    # the streamer's answers: one targeted catchup opens a window, one group catchup answers
    # everyone who asked within it; so at most two per window of the storm, whatever its size
    windows = math.ceil(SECONDS * 1000 / GROUP_WINDOW_MS) + 2
    answers = big["catchups"] + big["group_catchups"] + big["snapshots"]
    assert big["group_catchups"] >= 1, big
    assert answers <= 2 * windows < 30, big
    assert big["snapshots"] == 0, "no watcher needed the whole document"
    # REST calls per join: the sync is forwarded (user_exists + send_to_user), group catchups
    # cost none; a few targeted catchups per storm do not depend on its size
    per_join_small, per_join_big = small_calls / 10, big_calls / 30
    assert per_join_big <= per_join_small + 0.2, (small_calls, big_calls)
    assert per_join_big <= 3.0, big_calls
