"""Fan-out: how fast the emulator delivers one stream's messages to N watchers.

The CodeStream hot path: a streamer's `sendToGroup` reaches every watcher of the stream
through Web PubSub. Here the emulator runs as its own process; N watchers (real WebSockets,
tokens from the service SDK whose `webpubsub.group` claim puts them in the group) and one
publisher (token role `webpubsub.sendToGroup.<group>`) share one asyncio process on loopback.
For each subprotocol (a fresh emulator each) and each N, growing 100 -> 500 -> 1000:

- latency: paced messages, one every PACE_S (the most a typing streamer sends); each carries
  its send time, each delivery's latency is receive time minus that (one process, one clock);
- throughput: a burst of messages sent as fast as the socket takes them; delivered
  messages per second = deliveries / (last delivery - first send);
- memory: the emulator's resident set (VmRSS) growth since it had no watchers, per watcher.

Watchers on the reliable subprotocol acknowledge like @azure/web-pubsub-client does: the
highest sequence id once a second, and at once when 300 or more are unacknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from bench import markdown_table, percentile, text_table, write_results
from harness.emulator import start_emulator  # the emulator as a real process

JSON = "json.webpubsub.azure.v1"
RELIABLE = "json.reliable.webpubsub.azure.v1"
SUBPROTOCOLS = (JSON, RELIABLE)
HUB = "bench"
GROUP = "stream"
SIZES = (100, 500, 1000)
PACED_MESSAGES = 60
PACE_S = 0.05  # a streamer typing non-stop: the protocol batches changes for up to 50 ms
BURST_DELIVERIES = 60_000  # per size: the burst has BURST_DELIVERIES / N messages
CONNECT_CONCURRENCY = 50
PHASE_TIMEOUT_S = 20.0
BUDGET_S = 150.0  # the whole run; sizes left when it is spent are skipped, and say so
ACK_INTERVAL_S = 1.0
QUICK_ACK_AFTER = 300


@dataclass
class Phase:
    """Deliveries of one phase, counted as they arrive."""

    expected: int
    latencies_ns: list[int] = field(default_factory=list)
    last_ns: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, sent_ns: int, now_ns: int) -> None:
        self.latencies_ns.append(now_ns - sent_ns)
        self.last_ns = now_ns
        if len(self.latencies_ns) >= self.expected:
            self.done.set()


@dataclass
class Row:
    subprotocol: str
    watchers: int
    connect_per_s: float
    paced_p50_ms: float
    paced_p99_ms: float
    burst_messages: int
    delivered_per_s: float
    burst_p50_ms: float
    burst_p99_ms: float
    lost: int
    rss_mib: float
    kib_per_watcher: float


@dataclass
class Watcher:
    ws: aiohttp.ClientWebSocketResponse
    received_seq: int = 0
    acked_seq: int = 0

    async def ack(self) -> None:
        if self.received_seq > self.acked_seq:
            self.acked_seq = self.received_seq
            await self.ws.send_str(
                json.dumps({"type": "sequenceAck", "sequenceId": self.received_seq})
            )


class Watchers:
    """N group members; every data message they receive goes to the current phase."""

    def __init__(self, session: aiohttp.ClientSession, url: str, subprotocol: str) -> None:
        self.session = session
        self.url = url
        self.subprotocol = subprotocol
        self.members: list[Watcher] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.phase: Phase | None = None
        self.unexpected: list[str] = []
        if subprotocol == RELIABLE:
            self.tasks.append(asyncio.create_task(self._ack_every_interval()))

    async def grow_to(self, n: int) -> float:
        """Connects watchers until there are n; returns connections per second."""
        missing = n - len(self.members)
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        started = time.perf_counter()
        await asyncio.gather(*(self._connect(gate) for _ in range(missing)))
        return missing / (time.perf_counter() - started)

    async def _connect(self, gate: asyncio.Semaphore) -> None:
        async with gate:
            ws = await self.session.ws_connect(self.url, protocols=(self.subprotocol,))
            if ws.protocol != self.subprotocol:
                raise RuntimeError(f"asked for {self.subprotocol}, got {ws.protocol}")
            first = await asyncio.wait_for(ws.receive_json(), PHASE_TIMEOUT_S)
            if first.get("event") != "connected":
                raise RuntimeError(f"expected the connected message first, got {first}")
        watcher = Watcher(ws)
        self.members.append(watcher)
        self.tasks.append(asyncio.create_task(self._read(watcher)))

    async def _read(self, watcher: Watcher) -> None:
        async for msg in watcher.ws:
            now = time.monotonic_ns()
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame.get("type") != "message":
                self.unexpected.append(msg.data[:200])
                continue
            if self.phase is not None:
                self.phase.record(frame["data"]["t"], now)
            seq = frame.get("sequenceId")
            if seq is not None:
                watcher.received_seq = max(watcher.received_seq, seq)
                if watcher.received_seq - watcher.acked_seq >= QUICK_ACK_AFTER:
                    await watcher.ack()

    async def _ack_every_interval(self) -> None:
        while True:
            await asyncio.sleep(ACK_INTERVAL_S)
            await asyncio.gather(*(w.ack() for w in self.members), return_exceptions=True)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*(w.ws.close() for w in self.members), return_exceptions=True)


def _message(seq: int) -> str:
    """A typical small delta, stamped with its send time."""
    data = {
        "type": "delta",
        "epoch": "bench",
        "v": seq,
        "changes": [[seq, seq, "x"]],
        "t": time.monotonic_ns(),
    }
    return json.dumps(
        {"type": "sendToGroup", "group": GROUP, "dataType": "json", "data": data, "noEcho": True}
    )


async def _run_phase(
    publisher: aiohttp.ClientWebSocketResponse,
    watchers: Watchers,
    messages: int,
    pace_s: float,
    deadline: float,
) -> tuple[Phase, int]:
    """Sends `messages`; returns the phase and when the first one was sent."""
    phase = Phase(expected=messages * len(watchers.members))
    watchers.phase = phase
    first_sent = time.monotonic_ns()
    for seq in range(messages):
        await publisher.send_str(_message(seq))
        if pace_s:
            await asyncio.sleep(pace_s)  # the pacing is what is measured, not a wait
    wait_s = max(0.0, min(PHASE_TIMEOUT_S, deadline - time.monotonic()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(phase.done.wait(), wait_s)
    watchers.phase = None
    return phase, first_sent


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _ms(values_ns: list[int], p: float) -> float:
    return percentile(values_ns, p) / 1e6


async def measure(
    connection_string: str,
    emulator_pid: int,
    subprotocol: str,
    sizes: Sequence[int],
    deadline: float,
    *,
    paced_messages: int = PACED_MESSAGES,
    burst_deliveries: int = BURST_DELIVERIES,
) -> list[Row]:
    """One row per size, until `deadline` (time.monotonic()) has passed."""
    service = WebPubSubServiceClient.from_connection_string(connection_string, hub=HUB)
    watcher_url = service.get_client_access_token(groups=[GROUP], minutes_to_expire=30)["url"]
    publisher_url = service.get_client_access_token(
        user_id="bench-publisher", roles=[f"webpubsub.sendToGroup.{GROUP}"], minutes_to_expire=30
    )["url"]
    rows: list[Row] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        publisher = await session.ws_connect(publisher_url, protocols=(JSON,))
        await asyncio.wait_for(publisher.receive_json(), PHASE_TIMEOUT_S)  # connected
        watchers = Watchers(session, watcher_url, subprotocol)
        baseline = rss_bytes(emulator_pid)
        try:
            for n in sizes:
                if time.monotonic() > deadline:
                    print(f"  {subprotocol}: {n} watchers skipped: over budget", file=sys.stderr)
                    break
                connect_rate = await watchers.grow_to(n)
                rss = rss_bytes(emulator_pid)
                paced, _ = await _run_phase(publisher, watchers, paced_messages, PACE_S, deadline)
                burst_messages = max(10, burst_deliveries // n)
                burst, first_sent = await _run_phase(
                    publisher, watchers, burst_messages, 0, deadline
                )
                paced_sorted = sorted(paced.latencies_ns)
                burst_sorted = sorted(burst.latencies_ns)
                elapsed_s = max(burst.last_ns - first_sent, 1) / 1e9
                rows.append(
                    Row(
                        subprotocol=subprotocol,
                        watchers=n,
                        connect_per_s=connect_rate,
                        paced_p50_ms=_ms(paced_sorted, 50),
                        paced_p99_ms=_ms(paced_sorted, 99),
                        burst_messages=burst_messages,
                        delivered_per_s=len(burst_sorted) / elapsed_s,
                        burst_p50_ms=_ms(burst_sorted, 50),
                        burst_p99_ms=_ms(burst_sorted, 99),
                        lost=(paced.expected - len(paced_sorted))
                        + (burst.expected - len(burst_sorted)),
                        rss_mib=rss / 2**20,
                        kib_per_watcher=(rss - baseline) / n / 1024,
                    )
                )
                print(f"  {subprotocol}: {n} watchers done", file=sys.stderr, flush=True)
        finally:
            await watchers.close()
            await publisher.close()
    if watchers.unexpected:
        print(f"unexpected frames: {watchers.unexpected[:3]}", file=sys.stderr)
    return rows


HEADERS = (
    "subprotocol",
    "watchers",
    "connects/s",
    "paced p50 ms",
    "paced p99 ms",
    "burst msgs",
    "delivered/s",
    "burst p50 ms",
    "burst p99 ms",
    "lost",
    "emulator RSS MiB",
    "KiB/watcher",
)


def _cells(row: Row) -> list[str]:
    return [
        row.subprotocol,
        str(row.watchers),
        f"{row.connect_per_s:.0f}",
        f"{row.paced_p50_ms:.1f}",
        f"{row.paced_p99_ms:.1f}",
        str(row.burst_messages),
        f"{row.delivered_per_s:,.0f}",
        f"{row.burst_p50_ms:.0f}",
        f"{row.burst_p99_ms:.0f}",
        str(row.lost),
        f"{row.rss_mib:.1f}",
        f"{row.kib_per_watcher:.1f}",
    ]


def _notes(sizes: Sequence[int]) -> str:
    return (
        f"One group; N = {', '.join(map(str, sizes))} watchers added to the same emulator "
        f"process (a fresh one per subprotocol); the publisher uses `{JSON}`; publisher and "
        f"watchers run in one asyncio process (aiohttp), all on loopback, so client and "
        f"emulator share the CPU.\n\n"
        f"- paced: {PACED_MESSAGES} messages, one every {PACE_S * 1000:.0f} ms (the most a "
        f"streamer sends: changes are batched for up to 50 ms); "
        f"latency = receive time - send time stamped in the message.\n"
        f"- burst: {BURST_DELIVERIES:,} / N messages (at least 10) sent back to back; "
        f"delivered/s = deliveries / (last delivery - first send); its latencies include "
        f"queueing behind the rest of the burst.\n"
        f"- lost: deliveries missing {PHASE_TIMEOUT_S:.0f} s after a phase's last send "
        f"(must be 0).\n"
        f"- KiB/watcher: emulator VmRSS growth since it had only the publisher, / N.\n"
        f"- reliable watchers send `sequenceAck` every {ACK_INTERVAL_S:.0f} s and after "
        f"{QUICK_ACK_AFTER} unacknowledged messages, as @azure/web-pubsub-client does.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, SIZES)),
        help="comma-separated watcher counts (default: %(default)s)",
    )
    parser.add_argument(
        "--subprotocol",
        choices=SUBPROTOCOLS,
        action="append",
        help="watchers' subprotocol; repeatable (default: both)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave bench/results-fanout.md"
    )
    parser.add_argument("--paced-messages", type=int, default=PACED_MESSAGES)
    parser.add_argument("--burst-deliveries", type=int, default=BURST_DELIVERIES)
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))

    started = time.perf_counter()
    deadline = time.monotonic() + BUDGET_S
    rows: list[Row] = []
    subprotocols = args.subprotocol or SUBPROTOCOLS
    for subprotocol in subprotocols:
        with start_emulator({"hubs": {HUB: {"eventHandlers": []}}}) as emulator:
            pid = emulator.process.process.pid
            run = measure(
                emulator.connection_string,
                pid,
                subprotocol,
                sizes,
                deadline,
                paced_messages=args.paced_messages,
                burst_deliveries=args.burst_deliveries,
            )
            rows += asyncio.run(run)
    cells = [_cells(row) for row in rows]
    print(text_table(HEADERS, cells))
    print(f"({time.perf_counter() - started:.0f} s)")
    if not args.no_write:
        body = markdown_table(HEADERS, cells) + "\n\n" + _notes(sizes)
        path = write_results("fanout", "Fan-out benchmark (emulator)", body)
        print(f"wrote {path}")
    complete = len(rows) == len(sizes) * len(subprotocols)
    return 0 if complete and not any(row.lost for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
