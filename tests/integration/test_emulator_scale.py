"""1,000 concurrent connections on one emulator process: all connect, all receive, in order."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from harness.emulator import HUB, start_emulator

pytestmark = pytest.mark.integration
CONNECTIONS = 1000
MESSAGES = 20


async def test_thousand_connections_receive_every_group_message() -> None:
    with start_emulator() as emu:
        service = WebPubSubServiceClient.from_connection_string(emu.connection_string, hub=HUB)
        # limit=0: each WebSocket holds its pooled connection for good
        connector = aiohttp.TCPConnector(limit=0)
        async with service, aiohttp.ClientSession(connector=connector) as http:
            token = await service.get_client_access_token(groups=["crowd"], minutes_to_expire=5)
            url = token["url"]
            protocols = ("json.webpubsub.azure.v1",)
            connects = (http.ws_connect(url, protocols=protocols) for _ in range(CONNECTIONS))
            sockets = await asyncio.wait_for(asyncio.gather(*connects), 60)
            for ws in sockets:  # each says `connected` first
                assert json.loads((await ws.receive(timeout=30)).data)["event"] == "connected"

            async def collect(ws: aiohttp.ClientWebSocketResponse) -> list[int]:
                seen = []
                while len(seen) < MESSAGES:
                    seen.append(json.loads((await ws.receive(timeout=30)).data)["data"]["n"])
                return seen

            started = time.monotonic()
            collectors = [asyncio.create_task(collect(ws)) for ws in sockets]
            for n in range(MESSAGES):
                await service.send_to_group("crowd", {"n": n})
            results = await asyncio.wait_for(asyncio.gather(*collectors), 60)
            elapsed = time.monotonic() - started
            assert all(r == list(range(MESSAGES)) for r in results)
            deliveries = CONNECTIONS * MESSAGES
            print(f"\n{deliveries} deliveries to {CONNECTIONS} connections in {elapsed:.2f}s")
            await asyncio.gather(*(ws.close() for ws in sockets))
