"""CodeStream against the original sample's design, same machine, same run: bench/results.md.

One dev host (`python -m devhost`: the real Function App behind the real emulator, serving the
built pages) carries both modes: OURS on hub `codestream` through the Function App
(negotiate, connect/connected/sync/snapshot events), REFERENCE on hub `reference` of the
same emulator with no event handler at all, tokens minted with the sample's roles (its
Express server's only job). Ours is the shipped JS client core under Node (`bench/ours.py`
runs `harness/node/bench-ours.mjs`); the reference is a Python model (`bench/reference.py`).
bench/README.md says what each phase measures and which facts of the sample the reference
mode reproduces.

Phases (each bounded; figures are printed as they come):
1. latency at 8 chars/s and 60 chars/s bursts, 10 SDK watchers (+ function invocations);
2. join storm: 200 watchers in 10 s while a 50 KB document is being edited;
3. bytes per typed character while replaying bench/session.json;
4. fan-out capacity of one stream and memory per connection (fresh emulators);
5. browser latency, keypress in the streamer page to the character in a watcher page.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import math
import secrets
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from bench import BENCH_DIR, machine_info, markdown_table, percentile
from bench.links import JSON, Link, Meter, SdkLink, WireLink
from bench.ours import run_phase
from bench.reference import (
    MODES,
    OURS,
    REFERENCE,
    ReferenceStreamer,
    ReferenceWatcher,
    Streamer,
    Watcher,
    poll,
)
from bench.session import START_DOC, Op, load
from codestream.contract import CONTRACT
from harness.devhost import RunningDevHost, start_devhost
from harness.emulator import start_emulator

REFERENCE_HUB = "reference"
RESULTS = BENCH_DIR / "results.md"
TYPED_TEXT = "for item in items: total += item.price * item.quantity  # running sum\n"
CAPACITY_P99_MS = 250.0
OURS_TIMEOUT_S = 300.0  # one phase of the Node driver, at most


@dataclass
class Sizes:
    """Every knob that makes the run longer; `--quick` shrinks them for the smoke test."""

    watchers: int = 10
    steady_keys: int = 80  # at 8 chars/s: 10 s
    bursts: int = 3
    burst_keys: int = 40  # at 60 chars/s, with a 1 s pause between bursts
    storm_watchers: int = 200
    storm_seconds: float = 10.0
    storm_doc_chars: int = 50 * 1024
    session_speed: float = 1.0  # >1 replays the recorded session faster
    session_ops: int = 0  # 0 = all
    capacity_sizes: tuple[int, ...] = (100, 250, 500, 1000, 1500, 2000, 3000)
    capacity_keys: int = 32
    capacity_budget_s: float = 70.0
    browser_steady_keys: int = 40
    browser_burst_keys: int = 40
    browser_bursts: int = 3


QUICK = Sizes(
    watchers=2,
    steady_keys=6,
    bursts=1,
    burst_keys=6,
    storm_watchers=6,
    storm_seconds=1.0,
    storm_doc_chars=5000,
    session_speed=8.0,
    session_ops=25,
    capacity_sizes=(10,),
    capacity_keys=4,
    capacity_budget_s=10.0,
    browser_steady_keys=3,
    browser_burst_keys=3,
    browser_bursts=1,
)


_STARTED = time.monotonic()


def say(text: str) -> None:
    print(text, flush=True)


def phase(name: str) -> bool:
    say(f"-- {name} (at {time.monotonic() - _STARTED:.0f} s)")
    return True


def ms(values_ns: Sequence[float], p: float) -> float:
    return percentile(sorted(values_ns), p) / 1e6


def ratio(ours: float, reference: float, higher_is_better: bool = False) -> str:
    """How many times better ours is ("5.2x"), or "-" when it cannot be said."""
    if not ours or not reference or math.isinf(ours) or math.isinf(reference):
        return "-"
    r = ours / reference if higher_is_better else reference / ours
    if not math.isfinite(r):
        return "-"
    return f"{r:.2f}x" if r < 1 else f"{r:.1f}x"  # below 1: ours is the worse one


# ----------------------------------------------------------------- connecting both designs


class Connector:
    """Negotiate for each design: ours through the Function App, the reference the sample's way."""

    def __init__(self, host: RunningDevHost, http: aiohttp.ClientSession) -> None:
        self.host = host
        self.http = http
        self.reference = WebPubSubServiceClient.from_connection_string(
            host.connection_string, hub=REFERENCE_HUB
        )

    async def ours(self, body: dict[str, str]) -> dict[str, Any]:
        async with self.http.post(f"{self.host.url}/api/negotiate", json=body) as resp:
            answer = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"negotiate answered {resp.status}: {answer}")
            return answer

    def reference_url(self, stream_id: str, streamer: bool) -> str:
        """The sample's /negotiate: roles only, no user id, no group claim."""
        if streamer:
            roles = [
                f"webpubsub.sendToGroup.{stream_id}",
                f"webpubsub.joinLeaveGroup.{stream_id}-control",
            ]
        else:
            roles = [
                f"webpubsub.sendToGroup.{stream_id}-control",
                f"webpubsub.joinLeaveGroup.{stream_id}",
            ]
        return self.reference.get_client_access_token(roles=roles, minutes_to_expire=60)["url"]


MakeLink = Callable[[str | Callable[[], Awaitable[str]], str], Link]


@dataclass
class Stream:
    mode: str
    streamer: Streamer
    watchers: list[Watcher] = field(default_factory=list)
    stream_id: str = ""
    numbers: Iterator[int] = field(default_factory=itertools.count)


async def open_streamer(conn: Connector, make: MakeLink, doc: str) -> Stream:
    """The reference's streamer (ours runs under Node: bench/ours.py)."""
    sid = secrets.token_hex(3)[:5]  # the sample: 5 random base-36 characters
    streamer = ReferenceStreamer(make(conn.reference_url(sid, True), JSON), sid, doc)
    await streamer.start()
    return Stream(REFERENCE, streamer, stream_id=sid)


async def add_watcher(
    conn: Connector, stream: Stream, make: MakeLink, on_doc: Callable[[Watcher, int], None]
) -> Watcher:
    index = next(stream.numbers)
    url = conn.reference_url(stream.stream_id, False)
    watcher: Watcher = ReferenceWatcher(make(url, JSON), stream.stream_id, index, on_doc)
    stream.watchers.append(watcher)
    await watcher.start()
    return watcher


async def converge(stream: Stream, wait_s: float = 15.0) -> list[str]:
    """Waits until every watcher holds the streamer's document; lists those that do not."""
    await stream.streamer.idle()
    if await poll(lambda: all(w.doc == stream.streamer.doc for w in stream.watchers), wait_s):
        return []
    return [
        f"watcher {w.index}: {'never synced' if w.doc is None else 'document differs'}"
        f" {w.problems[:2]}"
        for w in stream.watchers
        if w.doc != stream.streamer.doc
    ]


async def close(stream: Stream) -> None:
    await asyncio.gather(*(w.link.close() for w in stream.watchers), return_exceptions=True)
    await stream.streamer.stop()


def invocations(host: RunningDevHost) -> dict[str, int]:
    with urllib.request.urlopen(f"{host.url}/_devhost/invocations", timeout=5) as resp:  # noqa: S310
        return flat_invocations(json.loads(resp.read()))


def flat_invocations(data: dict[str, Any]) -> dict[str, int]:
    """The dev host's counters as {"negotiate": n, ..., "event sync": n}."""
    return {
        **data.get("functions", {}),
        **{f"event {k}": v for k, v in data.get("events", {}).items()},
    }


def invocation_diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


# ----------------------------------------------------------------- 1. latency


class KeyClock:
    """Keystrokes appended at the end of the document, and when each watcher first shows each."""

    def __init__(self) -> None:
        self.base = 0
        self.key_ns: list[int] = []
        self.next_key: dict[int, int] = {}
        self.latencies_ns: list[int] = []
        self.active = False

    def start(self, doc_len: int) -> None:
        self.base, self.key_ns, self.next_key, self.latencies_ns = doc_len, [], {}, []
        self.active = True

    def on_doc(self, watcher: Watcher, now_ns: int) -> None:
        if not self.active or watcher.doc is None:
            return
        shown = len(watcher.doc) - self.base
        k = self.next_key.get(watcher.index, 0)
        while k < len(self.key_ns) and k < shown:
            self.latencies_ns.append(now_ns - self.key_ns[k])
            k += 1
        self.next_key[watcher.index] = k


async def type_keys(
    streamer: Streamer,
    clock: KeyClock,
    keys: int,
    per_s: float,
    bursts: int = 1,
    pause_s: float = 1.0,
) -> float:
    """Types `bursts` runs of `keys` characters at `per_s`; returns the seconds spent typing."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    n = 0
    for b in range(bursts):
        t0 = loop.time()
        for i in range(keys):
            await asyncio.sleep(max(0.0, t0 + i / per_s - loop.time()))
            at = len(streamer.doc)
            ch = TYPED_TEXT[n % len(TYPED_TEXT)]
            clock.key_ns.append(time.monotonic_ns())
            streamer.edit(Op(0, "type", at, 0, ch, (at + 1, at + 1)))
            n += 1
        if b + 1 < bursts:
            await asyncio.sleep(pause_s)
    return loop.time() - started


@dataclass
class LatencyResult:
    steady: list[int]
    burst: list[int]
    messages_steady: int
    messages_burst: int
    streaming_s: float
    invocations: dict[str, int]
    problems: list[str]


BURST_PAUSE_S = 1.0


def workloads(sizes: Sizes) -> list[tuple[int, float, int]]:
    """(keys, chars per second, bursts): steady typing, then bursts BURST_PAUSE_S apart."""
    return [(sizes.steady_keys, 8.0, 1), (sizes.burst_keys, 60.0, sizes.bursts)]


async def latency_phase(
    conn: Connector, host: RunningDevHost, mode: str, sizes: Sizes
) -> LatencyResult:
    if mode == OURS:
        return await latency_ours(host, sizes)
    clock = KeyClock()

    def make(url: Any, sub: str) -> Link:
        return SdkLink(url, sub)

    stream = await open_streamer(conn, make, START_DOC)
    problems: list[str] = []
    try:
        for _ in range(sizes.watchers):
            await add_watcher(conn, stream, make, clock.on_doc)
        problems += await converge(stream)
        before = await asyncio.to_thread(invocations, host)
        results = []
        streaming_s = 0.0
        for keys, per_s, bursts in workloads(sizes):
            clock.start(len(stream.streamer.doc))
            sent_before = stream.streamer.sent_messages
            streaming_s += await type_keys(
                stream.streamer, clock, keys, per_s, bursts, BURST_PAUSE_S
            )
            problems += await converge(stream)
            clock.active = False
            expected = keys * bursts * len(stream.watchers)
            if len(clock.latencies_ns) != expected:
                problems.append(f"{len(clock.latencies_ns)} of {expected} keystrokes seen")
            results.append((list(clock.latencies_ns), stream.streamer.sent_messages - sent_before))
        await asyncio.sleep(0.5)  # let any event caused by the typing reach the dev host
        used = invocation_diff(await asyncio.to_thread(invocations, host), before)
    finally:
        await close(stream)
    return LatencyResult(
        results[0][0], results[1][0], results[0][1], results[1][1], streaming_s, used, problems
    )


async def latency_ours(host: RunningDevHost, sizes: Sizes) -> LatencyResult:
    """The same phase with the shipped JS client (one Node process, so one clock)."""
    params = {
        "base": host.url,
        "doc": START_DOC,
        "watchers": sizes.watchers,
        "typed_text": TYPED_TEXT,
        "workloads": [
            {"keys": keys, "per_s": per_s, "bursts": bursts, "pause_s": BURST_PAUSE_S}
            for keys, per_s, bursts in workloads(sizes)
        ],
    }
    r = await run_phase("latency", params, OURS_TIMEOUT_S)
    used = invocation_diff(
        flat_invocations(r["invocations_after"]), flat_invocations(r["invocations_before"])
    )
    steady, burst = r["runs"]
    return LatencyResult(
        steady["latencies_ns"],
        burst["latencies_ns"],
        steady["messages"],
        burst["messages"],
        r["streaming_s"],
        used,
        r["problems"],
    )


# ----------------------------------------------------------------- 2. join storm


def big_doc(chars: int) -> str:
    doc = START_DOC
    n = 0
    while len(doc) < chars:
        n += 1
        doc += (
            f"\n\ndef helper_{n}(items: list[Item]) -> int:\n"
            f"    return sum(i.quantity for i in items if i.price_cents > {n})\n"
        )
    return doc[:chars]


@dataclass
class StormResult:
    joined: int
    delivered_bytes: int
    streamer_upload: int
    to_full_ns: list[float]
    wall_s: float
    invocations: dict[str, int]
    problems: list[str]
    document_sends: str  # how many whole documents went out, and what became of them
    rest_calls: int | None = None  # data-plane REST calls the emulator answered (ours)


STORM_TYPING_PER_S = 8.0
STORM_SYNC_WAIT_S = 30.0  # for every watcher to hold a document
STORM_CONVERGE_S = 10.0  # then for every watcher to hold the streamer's latest


async def storm_phase(
    conn: Connector, host: RunningDevHost, mode: str, sizes: Sizes
) -> StormResult:
    if mode == OURS:
        return await storm_ours(host, sizes)
    connector = aiohttp.TCPConnector(limit=0)
    problems: list[str] = []
    async with aiohttp.ClientSession(connector=connector) as session:

        def make(url: Any, sub: str) -> Link:
            return WireLink(session, url, sub)

        stream = await open_streamer(conn, make, big_doc(sizes.storm_doc_chars))
        streamer_link = stream.streamer.link
        assert isinstance(streamer_link, WireLink)
        before_meter = Meter(**vars(streamer_link.meter))
        before_calls = await asyncio.to_thread(invocations, host)
        typing = asyncio.Event()

        async def type_in_the_middle() -> None:
            at = len(stream.streamer.doc) // 2
            n = 0
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            while not typing.is_set():
                ch = TYPED_TEXT[n % len(TYPED_TEXT)]
                stream.streamer.edit(Op(0, "type", at, 0, ch, (at + 1, at + 1)))
                at += 1
                n += 1
                next_at = t0 + n / STORM_TYPING_PER_S
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(typing.wait(), max(0.0, next_at - loop.time()))

        typist = asyncio.create_task(type_in_the_middle())
        started = time.monotonic()
        interval = sizes.storm_seconds / sizes.storm_watchers

        async def join(i: int) -> None:
            await asyncio.sleep(i * interval)
            try:
                await add_watcher(conn, stream, make, lambda w, t: None)
            except Exception as exc:  # counted, not fatal: the figure says how many joined
                problems.append(f"join {i}: {type(exc).__name__}: {exc}")

        await asyncio.gather(*(join(i) for i in range(sizes.storm_watchers)))
        synced = lambda: all(w.synced_ns is not None for w in stream.watchers)  # noqa: E731
        await poll(synced, STORM_SYNC_WAIT_S, 0.05)
        typing.set()
        await typist
        behind = await converge(stream, STORM_CONVERGE_S)
        if behind:  # one line, not one per watcher
            never = sum(1 for w in stream.watchers if w.doc is None)
            problems.append(
                f"{len(behind)} of {len(stream.watchers)} watchers did not hold the streamer's "
                f"document at the end ({never} never got one); first: {behind[0]}"
            )
        wall = time.monotonic() - started
        await asyncio.sleep(0.5)
        used = invocation_diff(await asyncio.to_thread(invocations, host), before_calls)
        delivered = sum(w.link.meter.received for w in stream.watchers)  # type: ignore[attr-defined]
        delivered += streamer_link.meter.received - before_meter.received
        upload = streamer_link.meter.sent - before_meter.sent
        # a watcher that never got the whole document counts as infinitely late
        to_full = [
            w.synced_ns - w.connect_started_ns if w.synced_ns else math.inf for w in stream.watchers
        ]
        assert isinstance(stream.streamer, ReferenceStreamer)
        sends = f"{stream.streamer.fulls} `full` messages, each to the whole group"
        say(f"    {mode}: {sends}")
        joined = len(stream.watchers)
        await close(stream)
    return StormResult(joined, delivered, upload, to_full, wall, used, problems, sends)


def rest_calls(host: RunningDevHost) -> int:
    """The emulator's count of data-plane REST calls so far (`GET /_emulator/hubs/{hub}/stats`)."""
    client = WebPubSubServiceClient.from_connection_string(host.connection_string, hub=host.hub)
    try:
        resp = client.send_request(HttpRequest("GET", f"/_emulator/hubs/{host.hub}/stats"))
        total = resp.json()["total"]
        assert isinstance(total, int)
        return total
    finally:
        client.close()


async def storm_ours(host: RunningDevHost, sizes: Sizes) -> StormResult:
    rest_before = await asyncio.to_thread(rest_calls, host)
    params = {
        "base": host.url,
        "doc": big_doc(sizes.storm_doc_chars),
        "watchers": sizes.storm_watchers,
        "seconds": sizes.storm_seconds,
        "per_s": STORM_TYPING_PER_S,
        "typed_text": TYPED_TEXT,
        "sync_wait_s": STORM_SYNC_WAIT_S,
        "converge_s": STORM_CONVERGE_S,
    }
    r = await run_phase("storm", params, OURS_TIMEOUT_S)
    rest = await asyncio.to_thread(rest_calls, host) - rest_before
    snapshot_ns = r["snapshot_ns"]
    codes = r["errors"]
    sends = (
        f"{r['syncs']} `sync` events (retries included), "
        f"{r['stored_joins']} joins from the stored state, "
        f"{r['catchups']} targeted catchups and {r['group_catchups']} group catchups "
        f"({r['catchup_bytes']:,} bytes in all), "
        + (
            f"{r['snapshots']} snapshots sent (each acknowledged after "
            f"p50 {ms(snapshot_ns, 50):,.0f} ms / p99 {ms(snapshot_ns, 99):,.0f} ms), "
            if snapshot_ns
            else "0 snapshots sent, "
        )
        + "refused by the Function App: "
        + (", ".join(f"{n} {code}" for code, n in codes.items()) or "none")
    )
    say(f"    ours: {sends}")
    used = invocation_diff(
        flat_invocations(r["invocations_after"]), flat_invocations(r["invocations_before"])
    )
    # a watcher that never got the whole document counts as infinitely late
    to_full = [math.inf if t is None else t for t in r["to_full_ns"]]
    return StormResult(
        r["joined"],
        r["delivered_bytes"],
        r["streamer_upload"],
        to_full,
        r["wall_s"],
        used,
        r["problems"],
        sends,
        rest,
    )


# ----------------------------------------------------------------- 3. bytes per character


@dataclass
class SessionResult:
    typed: int
    ops: int
    upload: Meter
    download: Meter
    messages: int
    change_bytes: int
    problems: list[str]


async def session_phase(conn: Connector, mode: str, sizes: Sizes) -> SessionResult:
    doc, ops = load()
    if sizes.session_ops:
        ops = ops[: sizes.session_ops]
    typed = sum(1 for op in ops if op.kind == "type")
    if mode == OURS:
        params = {
            "base": conn.host.url,
            "doc": doc,
            "ops": [op.to_json() for op in ops],
            "speed": sizes.session_speed,
        }
        r = await run_phase("session", params, OURS_TIMEOUT_S)
        return SessionResult(
            typed,
            len(ops),
            Meter(**r["upload"]),
            Meter(**r["download"]),
            r["messages"],
            r["change_bytes"],
            r["problems"],
        )
    async with aiohttp.ClientSession() as session:

        def make(url: Any, sub: str) -> Link:
            return WireLink(session, url, sub)

        stream = await open_streamer(conn, make, doc)
        await add_watcher(conn, stream, make, lambda w, t: None)
        problems = await converge(stream)
        s_link, w_link = stream.streamer.link, stream.watchers[0].link
        assert isinstance(s_link, WireLink)
        assert isinstance(w_link, WireLink)
        s0, w0 = Meter(**vars(s_link.meter)), Meter(**vars(w_link.meter))
        sent0 = stream.streamer.sent_messages
        changes0 = stream.streamer.change_bytes
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for op in ops:
            await asyncio.sleep(max(0.0, t0 + op.t_ms / 1000 / sizes.session_speed - loop.time()))
            stream.streamer.edit(op)
        problems += await converge(stream)
        await asyncio.sleep(1.2)  # the reliable watcher's last sequenceAck belongs to the session
        upload = Meter(
            s_link.meter.sent - s0.sent,
            s_link.meter.received - s0.received,
            s_link.meter.sent_frames - s0.sent_frames,
            s_link.meter.received_frames - s0.received_frames,
        )
        download = Meter(
            w_link.meter.sent - w0.sent,
            w_link.meter.received - w0.received,
            w_link.meter.sent_frames - w0.sent_frames,
            w_link.meter.received_frames - w0.received_frames,
        )
        messages = stream.streamer.sent_messages - sent0
        change_bytes = stream.streamer.change_bytes - changes0
        await close(stream)
    return SessionResult(typed, len(ops), upload, download, messages, change_bytes, problems)


# ----------------------------------------------------------------- 4. capacity


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class CapacityRow:
    watchers: int
    p50_ms: float
    p99_ms: float
    lost: int
    kib_per_connection: float
    attempt: int = 1


async def capacity_phase(mode: str, sizes: Sizes) -> list[CapacityRow]:
    """Delivery latency (streamer's send -> watcher's receive) of steady 8 chars/s typing to
    N watchers of one stream on a fresh emulator, N growing until p99 >= 250 ms."""
    rows: list[CapacityRow] = []
    hub = "capacity"
    with start_emulator({"hubs": {hub: {"eventHandlers": []}}}) as emulator:
        pid = emulator.process.process.pid
        service = WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub=hub)
        if mode == OURS:
            sid = secrets.token_urlsafe(12)
            # the tokens the Function App would issue: the streamer's user, the watchers' group
            params = {
                "stream_id": sid,
                "streamer_url": service.get_client_access_token(
                    user_id=f"{CONTRACT.streamer_prefix}{sid}",
                    roles=[f"{CONTRACT.send_role_prefix}{sid}"],
                    minutes_to_expire=60,
                )["url"],
                "watcher_url": service.get_client_access_token(groups=[sid], minutes_to_expire=60)[
                    "url"
                ],
                "doc": START_DOC,
                "sizes": list(sizes.capacity_sizes),
                "keys": sizes.capacity_keys,
                "per_s": 8.0,
                "typed_text": TYPED_TEXT,
                "p99_limit_ms": CAPACITY_P99_MS,
                "budget_s": sizes.capacity_budget_s,
                "emulator_pid": pid,
            }
            r = await run_phase("capacity", params, OURS_TIMEOUT_S)
            return [CapacityRow(**row) for row in r["rows"]]
        sid = secrets.token_hex(3)[:5]
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            url = service.get_client_access_token(
                roles=[
                    f"webpubsub.sendToGroup.{sid}",
                    f"webpubsub.joinLeaveGroup.{sid}-control",
                ],
                minutes_to_expire=60,
            )["url"]
            streamer: Streamer = ReferenceStreamer(WireLink(session, url, JSON), sid, START_DOC)
            watcher_url = service.get_client_access_token(
                roles=[
                    f"webpubsub.sendToGroup.{sid}-control",
                    f"webpubsub.joinLeaveGroup.{sid}",
                ],
                minutes_to_expire=60,
            )["url"]
            key = "version"
            await streamer.start()
            sent_at: dict[int, int] = streamer.sent_at  # type: ignore[attr-defined]
            latencies: list[int] = []

            def on_message(kind: str, data: Any, now_ns: int) -> None:
                if isinstance(data, dict) and data.get(key) in sent_at:
                    latencies.append(now_ns - sent_at[data[key]])

            links: list[WireLink] = []
            gate = asyncio.Semaphore(50)

            async def connect() -> None:
                async with gate:
                    link = WireLink(session, watcher_url, JSON, on_message)
                    await link.open()
                    await link.join_group(sid)
                    links.append(link)

            baseline_rss = rss_bytes(pid)
            deadline = time.monotonic() + sizes.capacity_budget_s
            clock = KeyClock()
            try:
                for n in sizes.capacity_sizes:
                    if time.monotonic() > deadline:
                        say(f"    {mode}: {n} watchers skipped: over the phase budget")
                        break
                    await asyncio.gather(*(connect() for _ in range(n - len(links))))
                    kib = (rss_bytes(pid) - baseline_rss) / n / 1024
                    # a size over the limit is measured once more: other work on this shared
                    # machine causes stalls of its own; both designs get the same second chance
                    for attempt in (1, 2):
                        await streamer.idle()
                        sent_at.clear()
                        latencies.clear()
                        await type_keys(streamer, clock, sizes.capacity_keys, 8.0)
                        await streamer.idle()
                        expected = len(sent_at) * n
                        await poll(lambda n=expected: len(latencies) >= n, 20, 0.05)
                        row = CapacityRow(
                            n,
                            ms(latencies, 50),
                            ms(latencies, 99),
                            expected - len(latencies),
                            kib,
                            attempt,
                        )
                        rows.append(row)
                        say(
                            f"    {mode}: {n} watchers (try {attempt}): delivery p50 "
                            f"{row.p50_ms:.1f} ms, p99 {row.p99_ms:.1f} ms, lost {row.lost}, "
                            f"{row.kib_per_connection:.1f} KiB/conn"
                        )
                        if row.p99_ms < CAPACITY_P99_MS and not row.lost:
                            break
                    if row.p99_ms >= CAPACITY_P99_MS or row.lost:
                        break
            finally:
                await asyncio.gather(*(link.close() for link in links), return_exceptions=True)
                await streamer.stop()
    return rows


def capacity_of(rows: list[CapacityRow]) -> CapacityRow | None:
    ok = [r for r in rows if r.p99_ms < CAPACITY_P99_MS and not r.lost]
    return ok[-1] if ok else None


# ----------------------------------------------------------------- 5. browser


# installed once per page; `window.__bench` is replaced (emptied) before each run
_MARK_KEYS = """() => {
  const cs = window.codestream;
  window.__bench = {keys: []};
  cs.view.contentDOM.addEventListener("keydown", () => {
    window.__bench.keys.push(performance.timeOrigin + performance.now());
  }, true);
}"""
_WATCH_DOC = """() => {
  const cs = window.codestream;
  window.__bench = {seen: []};
  const note = () => window.__bench.seen.push(
    [performance.timeOrigin + performance.now(), cs.view.state.doc.length]);
  new MutationObserver(note).observe(
    cs.view.contentDOM, {subtree: true, childList: true, characterData: true});
}"""


def typing_rate(key_times: Sequence[float]) -> float:
    """Keys per second actually achieved: the median gap between consecutive keydowns."""
    gaps = sorted(b - a for a, b in itertools.pairwise(key_times) if b - a < 500)
    return 1000 / percentile(gaps, 50) if gaps else math.nan


def browser_phase(base_url: str, sizes: Sizes) -> dict[str, tuple[list[float], float]]:
    """Keypress (keydown in the streamer page) to the character in the watcher page's editor
    (the first DOM mutation after which its document is long enough), in milliseconds."""
    from playwright.sync_api import sync_playwright

    from harness.browser import CHROMIUM, CHROMIUM_ARGS
    from harness.pages import StreamerPage, WatcherPage

    out: dict[str, tuple[list[float], float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            streamer = StreamerPage(browser.new_context().new_page()).open(base_url)
            watcher = WatcherPage(browser.new_context().new_page()).open(streamer.share_link)
            watcher.wait_doc(streamer.doc())
            streamer.page.evaluate(_MARK_KEYS)
            watcher.page.evaluate(_WATCH_DOC)
            streamer.focus_editor()
            streamer.page.keyboard.press("Control+End")
            for name, keys, per_s, bursts in (
                ("steady", sizes.browser_steady_keys, 8.0, 1),
                ("burst", sizes.browser_burst_keys, 60.0, sizes.browser_bursts),
            ):
                streamer.wait_sent()
                watcher.wait_doc(streamer.doc())
                base = len(streamer.doc())
                streamer.page.evaluate("() => { window.__bench = {keys: []}; }")
                watcher.page.evaluate("() => { window.__bench = {seen: []}; }")
                text = (TYPED_TEXT.replace("\n", " ") * 10)[:keys]
                for b in range(bursts):
                    streamer.page.keyboard.type(text, delay=1000 / per_s)
                    if b + 1 < bursts:
                        streamer.page.wait_for_timeout(1000)
                streamer.wait_sent()
                watcher.wait_doc(streamer.doc())
                key_times = streamer.page.evaluate("() => window.__bench.keys")
                seen = watcher.page.evaluate("() => window.__bench.seen")
                lat = []
                j = 0
                for k, t_key in enumerate(key_times):
                    while j < len(seen) and seen[j][1] < base + k + 1:
                        j += 1
                    if j < len(seen):
                        lat.append(seen[j][0] - t_key)
                out[name] = (lat, typing_rate(key_times))
        finally:
            browser.close()
    return out


# ----------------------------------------------------------------- report


def fmt(x: float, digits: int = 1) -> str:
    if math.isinf(x):
        return "never"
    return "-" if x != x else f"{x:,.{digits}f}"


def kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB" if n < 1024 * 1024 else f"{n / 2**20:,.1f} MiB"


@dataclass
class Report:
    sections: dict[str, str] = field(default_factory=dict)  # title -> markdown
    summary: list[list[str]] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def section(
        self, title: str, intro: str, headers: Sequence[str], rows: list[list[str]]
    ) -> None:
        self.sections[title] = f"## {title}\n\n{intro.strip()}\n\n{markdown_table(headers, rows)}\n"
        say(f"\n{title}")
        for row in rows:
            say("  " + " | ".join(row))

    def target(
        self, name: str, achieved: str, needed: float, value: float, why_missed: str
    ) -> None:
        ok = value >= needed
        line = f"- {name}: {achieved} (target >= {needed:g}x): {'met' if ok else 'MISSED'}"
        if not ok:
            line += f" - {why_missed}"
        self.verdicts.append(line)
        say(line)

    def headline(self, item: str, what: str, ours: str, reference: str, better: str) -> None:
        """One row of the summary table the README quotes."""
        self.summary.append([item, what, ours, reference, better])


async def run_async(
    host: RunningDevHost, sizes: Sizes, report: Report, phases: set[str]
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        conn = Connector(host, http)
        if "latency" in phases and phase("latency"):
            res = {mode: await latency_phase(conn, host, mode, sizes) for mode in MODES}
            rows = []
            for label, attr in (("8 chars/s (steady)", "steady"), ("60 chars/s (bursts)", "burst")):
                for p in (50, 95, 99):
                    o, r = ms(getattr(res[OURS], attr), p), ms(getattr(res[REFERENCE], attr), p)
                    rows.append([label, f"p{p}", fmt(o), fmt(r), ratio(o, r)])
                    figures[f"latency_{attr}_p{p}"] = (o, r)
                    if p != 95:
                        what = f"keystroke to watcher, {label}, p{p} (ms)"
                        report.headline("1", what, fmt(o), fmt(r), ratio(o, r))
            for mode in MODES:
                report.problems += [f"latency {mode}: {p}" for p in res[mode].problems]
            for label, attr in (("8 chars/s", "messages_steady"), ("60 chars/s", "messages_burst")):
                o, r = getattr(res[OURS], attr), getattr(res[REFERENCE], attr)
                rows.append([f"messages sent, {label}", "", str(o), str(r), "-"])
            report.section(
                "1. Keystroke-to-watcher latency (protocol level)",
                f"""
Time from a keystroke in the streamer's editor (a string: no browser here) to the moment a
watcher has applied it, in ms, over {sizes.watchers} watchers, streamer and watchers in one
process (one clock). Ours: the shipped client cores (`static_web/src/core`: StreamerState,
WatcherState) under Node with Microsoft's `@azure/web-pubsub-client`, reliable JSON
subprotocol, leading edge + 40 ms batching, one acknowledged delta in flight. Reference: the
sample's protocol modelled in Python with Microsoft's async Python client
(`azure.messaging.webpubsubclient.aio`), JSON subprotocol, flush every 200 ms.
{sizes.steady_keys} keys at 8 chars/s; {sizes.bursts} bursts of {sizes.burst_keys} keys at
60 chars/s, 1 s apart.""",
                ["workload", "percentile", "ours ms", "reference ms", "ours lower by"],
                rows,
            )
            o_lat = figures["latency_steady_p50"]
            report.target(
                "latency p50 at 8 chars/s",
                ratio(*o_lat),
                5,
                o_lat[1] / o_lat[0] if o_lat[0] else 0,
                "see the latency section",
            )
            per_min = {m: sum(res[m].invocations.values()) / res[m].streaming_s * 60 for m in MODES}
            figures["invocations_per_minute"] = per_min
            report.headline(
                "5",
                f"function invocations per minute of streaming, {sizes.watchers} watchers",
                fmt(per_min[OURS], 0),
                fmt(per_min[REFERENCE], 0),
                "-",
            )
            calls = ", ".join(f"{k}: {v}" for k, v in res[OURS].invocations.items()) or "none"
            report.section(
                "5. Function invocations per minute of streaming (10 watchers)",
                f"""
Counted by the dev host (`/_devhost/invocations`) while phase 1 typed for
{res[OURS].streaming_s:.1f} s with {sizes.watchers} watchers joined, scaled to one minute.
Ours during streaming: {calls}. Deltas go from the streamer straight to the stream group
inside Web PubSub and invoke nothing; what ours invokes is storing the history (one
`upload_segment` per segment, at most one per 3 s of editing, and a keyframe now and then)
and the coalesced watcher count. The reference has no event handler (its Express server only
negotiates) and keeps no history, so it invokes nothing; it pays at every join (phase 2).""",
                ["", "ours", "reference", "ratio"],
                [
                    [
                        "invocations / minute of streaming",
                        fmt(per_min[OURS]),
                        fmt(per_min[REFERENCE]),
                        "-",
                    ]
                ],
            )
        if "storm" in phases and phase("storm"):
            res2 = {}
            for mode in MODES:
                res2[mode] = await storm_phase(conn, host, mode, sizes)
                r = res2[mode]
                say(
                    f"  storm {mode}: {r.joined} joined in {r.wall_s:.1f} s, "
                    f"delivered {kib(r.delivered_bytes)},"
                    f" upload {kib(r.streamer_upload)}, to full p50 {ms(r.to_full_ns, 50):.0f} ms"
                )
                report.problems += [f"storm {mode}: {p}" for p in r.problems]
            o, rf = res2[OURS], res2[REFERENCE]
            joins = max(1, o.joined)
            per_join = {k: f"{v / joins:.2f}" for k, v in o.invocations.items()}
            rows = [
                [
                    "watchers joined / synced",
                    f"{o.joined} / {sum(map(math.isfinite, o.to_full_ns))}",
                    f"{rf.joined} / {sum(map(math.isfinite, rf.to_full_ns))}",
                    "-",
                ],
                [
                    "bytes delivered to all clients",
                    kib(o.delivered_bytes),
                    kib(rf.delivered_bytes),
                    ratio(o.delivered_bytes, rf.delivered_bytes),
                ],
                [
                    "streamer upload",
                    kib(o.streamer_upload),
                    kib(rf.streamer_upload),
                    ratio(o.streamer_upload, rf.streamer_upload),
                ],
                [
                    "connect to full document p50 ms",
                    fmt(ms(o.to_full_ns, 50), 0),
                    fmt(ms(rf.to_full_ns, 50), 0),
                    ratio(ms(o.to_full_ns, 50), ms(rf.to_full_ns, 50)),
                ],
                [
                    "connect to full document p99 ms",
                    fmt(ms(o.to_full_ns, 99), 0),
                    fmt(ms(rf.to_full_ns, 99), 0),
                    ratio(ms(o.to_full_ns, 99), ms(rf.to_full_ns, 99)),
                ],
                ["phase wall time s", fmt(o.wall_s), fmt(rf.wall_s), "-"],
                [
                    "Web PubSub REST calls per join (emulator stats)",
                    fmt((o.rest_calls or 0) / max(o.joined, 1), 2),
                    "-",
                    "-",
                ],
                ["whole documents sent by the streamer", o.document_sends, rf.document_sends, "-"],
            ]
            report.section(
                "2. Join storm",
                f"""
{sizes.storm_watchers} watchers join one stream within {sizes.storm_seconds:g} s (one every
{sizes.storm_seconds / sizes.storm_watchers * 1000:.0f} ms) while the streamer types 8 chars/s
into the middle of a {sizes.storm_doc_chars // 1024} KB document. Bytes are WebSocket frames
(payload + frame header), counted for ours at the socket of each `@azure/web-pubsub-client`
running the shipped cores (tokens from our negotiate), for the reference by raw aiohttp
clients (tokens minted with the service SDK the sample's way); ours' counts include the
SDK's own keep-alive pings and sequence acks. "delivered" = everything all clients received from
the first join until every watcher held the streamer's document. Connect to full document:
from opening the WebSocket (after negotiate) to holding the whole document. Ours also costs
Function App invocations per join: {", ".join(f"{k} {v}" for k, v in per_join.items())}; the
reference costs none (plus one Express negotiate call per join in the original).""",
                ["", "ours", "reference", "ours better by"],
                rows,
            )
            for row in rows[1:5]:
                report.headline("2", f"join storm: {row[0]}", *row[1:])
            functions = sum(
                o.invocations.get(name, 0)
                for name in ("negotiate", "webpubsub_events", "stream_state")  # stored join state
            )
            report.headline(
                "5",
                "function invocations per watcher join",
                f"{functions / joins:.1f}",
                "0 (+1 Express call)",
                "-",
            )
            figures["storm_bytes"] = (o.delivered_bytes, rf.delivered_bytes)
            report.target(
                "join-storm bytes delivered",
                ratio(o.delivered_bytes, rf.delivered_bytes),
                50,
                rf.delivered_bytes / max(1, o.delivered_bytes),
                "see the join storm section",
            )
        if "session" in phases and phase("session"):
            res3 = dict(
                zip(
                    MODES,
                    await asyncio.gather(*(session_phase(conn, m, sizes) for m in MODES)),
                    strict=True,
                )
            )
            for mode in MODES:
                report.problems += [f"session {mode}: {p}" for p in res3[mode].problems]
            o3, r3 = res3[OURS], res3[REFERENCE]
            typed = o3.typed

            def per(n: int) -> str:
                return fmt(n / typed, 1)

            def both(f: Callable[[SessionResult], int]) -> list[str]:
                return [per(f(o3)), per(f(r3)), ratio(f(o3), f(r3))]

            total_o = o3.upload.sent + o3.upload.received + o3.download.sent + o3.download.received
            total_r = r3.upload.sent + r3.upload.received + r3.download.sent + r3.download.received
            rows = [
                ["streamer -> service", *both(lambda s: s.upload.sent)],
                ["service -> streamer (acks)", *both(lambda s: s.upload.received)],
                ["service -> each watcher", *both(lambda s: s.download.received)],
                ["watcher -> service (sequence acks)", *both(lambda s: s.download.sent)],
                [
                    "total, streamer + one watcher",
                    per(total_o),
                    per(total_r),
                    ratio(total_o, total_r),
                ],
                [
                    "of which: change descriptions (JSON of `changes`)",
                    *both(lambda s: s.change_bytes),
                ],
                ["messages sent by the streamer", str(o3.messages), str(r3.messages), "-"],
            ]
            recorded = json.loads((BENCH_DIR / "session.json").read_text())
            replay_s = recorded["duration_ms"] / 1000 / sizes.session_speed
            for row in (rows[0], rows[4], rows[5]):
                report.headline("3", f"bytes per typed character: {row[0]}", *row[1:])
            o_msgs, r_msgs = max(1, o3.messages), max(1, r3.messages)
            why = f"""
Why the totals differ far less than the change descriptions: at this human pace the keys
come further apart than our 40 ms window, so ours sends nearly every edit as its own message
({o3.messages} messages for {o3.ops} operations), while the reference's 200 ms flush packs
{r3.ops / r_msgs:.1f} edits into each of its {r3.messages} messages. Every message pays the
Web PubSub envelope (up: `sendToGroup`, `group`, `dataType`, and for ours `noEcho`, an ack
id and the ack that comes back; down: `message`, `from`, `fromUserId`, `group`,
`dataType`, and for ours `sequenceId` and the periodic `sequenceAck`) plus, for ours,
`epoch`, `v` and `sel`: per message ours costs {o3.upload.sent / o_msgs:.0f} B up,
{o3.upload.received / o_msgs:.0f} B of ack and {o3.download.received / o_msgs:.0f} B down,
of which the change itself is {o3.change_bytes / o_msgs:.0f} B; the reference
{r3.upload.sent / r_msgs:.0f} B up and {r3.download.received / r_msgs:.0f} B down with
{r3.change_bytes / r_msgs:.0f} B of Monaco events. Our change format is the smaller one by
far, but the envelope dominates. Reaching 4x on the total would take several keystrokes per
message, which is what the leading edge gives up to keep latency low (section 1)."""
            report.section(
                "3. Bytes on the wire per typed character",
                f"""
`bench/session.json` ({o3.ops} editor operations: {typed} typed characters, backspaces,
cursor moves, a paste, its undo and redo; {replay_s:.0f} s)
replayed at its recorded timing by both designs at once, one watcher each. Bytes of WebSocket
frames (payload + header) per typed character, counted at the socket of the shipped JS client
(ours, under Node) and of raw aiohttp clients (reference).
{why}""",
                ["direction", "ours B/char", "reference B/char", "ours fewer by"],
                rows,
            )
            figures["bytes_per_char"] = (total_o / typed, total_r / typed)
            report.target(
                "bytes per typed character (total)",
                ratio(total_o, total_r),
                4,
                total_r / max(1, total_o),
                "at typing pace ours sends about one message per keystroke, and the per-message "
                "Web PubSub envelope, not the edit format "
                f"({ratio(o3.change_bytes, r3.change_bytes)} smaller), dominates (section 3)",
            )
    return figures


def capacity_section(report: Report, sizes: Sizes) -> None:
    res = {mode: asyncio.run(capacity_phase(mode, sizes)) for mode in MODES}
    rows = []
    for mode in MODES:
        for r in res[mode]:
            rows.append(
                [
                    mode,
                    str(r.watchers),
                    str(r.attempt),
                    fmt(r.p50_ms),
                    fmt(r.p99_ms),
                    str(r.lost),
                    fmt(r.kib_per_connection),
                ]
            )
    caps = {m: capacity_of(res[m]) for m in MODES}
    tested = {m: max((r.watchers for r in res[m]), default=0) for m in MODES}

    def cap_text(m: str) -> str:
        c = caps[m]
        if c is None:
            return "none of the sizes tried"
        more = " (the largest size tried)" if c.watchers == tested[m] else ""
        return f"{c.watchers} watchers{more}, {c.kib_per_connection:.1f} KiB per connection"

    def at_most(m: str) -> str:
        c = caps[m]
        return "< " + str(min(sizes.capacity_sizes)) if c is None else str(c.watchers)

    report.headline(
        "4",
        f"watchers of one stream with delivery p99 < {CAPACITY_P99_MS:.0f} ms",
        at_most(OURS),
        at_most(REFERENCE),
        ratio(caps[OURS].watchers, caps[REFERENCE].watchers, higher_is_better=True)
        if caps[OURS] and caps[REFERENCE]
        else "-",
    )
    largest = {m: res[m][-1] if res[m] else None for m in MODES}
    if largest[OURS] and largest[REFERENCE]:
        o_kib, r_kib = largest[OURS].kib_per_connection, largest[REFERENCE].kib_per_connection
        report.headline(
            "4",
            "emulator memory per connection, largest N tried (KiB)",
            fmt(o_kib),
            fmt(r_kib),
            ratio(o_kib, r_kib),
        )
    report.section(
        "4. Fan-out capacity of one stream (emulator)",
        f"""
A fresh emulator per design; N watchers (tokens minted with the service SDK with each
design's claims) of one stream: for ours, `@azure/web-pubsub-client` instances in one Node
process, joined by their token on the reliable subprotocol (the SDK acknowledges sequence
ids), fed by the shipped StreamerState; for the reference, raw aiohttp clients that join with
`joinGroup` on the JSON subprotocol. N growing
through {", ".join(map(str, sizes.capacity_sizes))} until p99 >= {CAPACITY_P99_MS:.0f} ms
twice in a row at one size (the second try guards against stalls caused by other work on this
shared machine; both designs get it), something is lost, or the phase's
{sizes.capacity_budget_s:.0f} s budget is spent. Workload:
{sizes.capacity_keys} keys at 8 chars/s; delivery = the streamer handing the message to its
client to a watcher receiving it (the reference's 200 ms buffering is not counted here).
Memory = the emulator's VmRSS growth over N. Clients and emulator share the 2 cores.

Capacity (p99 < {CAPACITY_P99_MS:.0f} ms): ours {cap_text(OURS)};
reference {cap_text(REFERENCE)}.""",
        [
            "design",
            "watchers",
            "try",
            "delivery p50 ms",
            "p99 ms",
            "lost",
            "emulator KiB/connection",
        ],
        rows,
    )


def browser_section(report: Report, base_url: str, sizes: Sizes) -> None:
    lat = browser_phase(base_url, sizes)
    rows = []
    for name, label in (("steady", "8 chars/s"), ("burst", "60 chars/s bursts")):
        values, rate = lat.get(name, ([], math.nan))
        values = sorted(values)
        rows.append(
            [
                label,
                fmt(rate, 0),
                str(len(values)),
                *(fmt(percentile(values, p)) for p in (50, 95, 99)),
            ]
        )
        for p in (50, 99):
            what = f"browser keypress to watcher's editor, {label}, p{p} (ms)"
            report.headline(
                "1b", what, fmt(percentile(values, p)), "n/a (no browser baseline)", "-"
            )
    report.section(
        "1b. Keystroke-to-watcher latency in the browser (ours)",
        f"""
Headless Chromium (/usr/bin/chromium) via Playwright, the built pages served by the dev host:
one streamer page, one watcher page (separate contexts). Keydown in the streamer's editor to
the first DOM mutation of the watcher's editor after which its document holds that character,
both stamped with `performance.timeOrigin + performance.now()`. {sizes.browser_steady_keys}
keys at 8 chars/s, {sizes.browser_bursts} bursts of {sizes.browser_burst_keys} at 60 chars/s
(`keyboard.type` delays; Playwright's per-key round trip makes the achieved rate lower,
so it is measured from the keydown times and shown). No browser baseline: the original page
loads Monaco, Bootstrap and jQuery from CDNs, which this offline machine cannot reach; the
reference is measured at protocol level only (section 1).""",
        ["workload", "achieved chars/s", "keys", "p50 ms", "p95 ms", "p99 ms"],
        rows,
    )


def write(report: Report, started: float, path: Path) -> Path:
    info = machine_info()
    machine = "\n".join(f"- {k}: {v}" for k, v in info.items())
    problems = "\n".join(f"- {p}" for p in report.problems) or "- none"
    rows = sorted(report.summary, key=lambda r: r[0])  # stable: run order within an item
    summary = markdown_table(SUMMARY_HEADERS, rows) if rows else "-"
    text = f"""# CodeStream vs the original sample's design: benchmark results

Written by `make bench` (`python -m bench`; this file by `bench/compare.py`) in
{time.monotonic() - started:.0f} s. Ours = CodeStream through the real dev host, Function App
and emulator; reference = the original Azure Web PubSub CodeStream sample's design on the
same emulator (bench/README.md says what it reproduces). Ratios are "how many times better
ours is" (reference / ours for costs).

## Summary

{summary}

## Targets

{chr(10).join(report.verdicts)}

{chr(10).join(report.sections[t] for t in sorted(report.sections))}
## Problems seen during the run

{problems}

## Measured on

{machine}

Also written by `make bench`: `bench/results-fanout.md` (emulator fan-out throughput per
subprotocol), `bench/results-invocations.md` (function invocations per join, delta, leave)
and `bench/results-replay.md` (a one-hour recording: size as served, seek latency in
Chromium, first paint of the replay page). Join storms at 100-1,000 watchers
(`python -m bench.compare --phases storm --storm-watchers N`) are in
`bench/results-storm.md`.
"""
    path.write_text(text)
    return path


PHASES = ("latency", "storm", "session", "capacity", "browser")
SUMMARY_HEADERS = ("#", "figure", "ours", "reference", "ours better by")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma list of %(default)s")
    parser.add_argument(
        "--output", type=Path, default=None, help="write here, not bench/results.md"
    )
    parser.add_argument(
        "--storm-watchers", type=int, default=None, help="join storm size (default: 200)"
    )
    args = parser.parse_args(argv)
    logging.getLogger("azure.messaging.webpubsubclient").setLevel(logging.CRITICAL)
    sizes = QUICK if args.quick else Sizes()
    if args.storm_watchers is not None:
        sizes = replace(sizes, storm_watchers=args.storm_watchers)
    phases = set(args.phases.split(","))
    started = time.monotonic()
    report = Report()
    with start_devhost() as host:
        asyncio.run(run_async(host, sizes, report, phases))
        if "capacity" in phases and phase("capacity"):
            capacity_section(report, sizes)
        if "browser" in phases and phase("browser"):
            browser_section(report, host.url, sizes)
    path = write(report, started, args.output or RESULTS)
    say(f"\nwrote {path} ({time.monotonic() - started:.0f} s)")
    # problems (a watcher that never converged...) are findings, written in the report; the
    # smoke test fails on them, a full run still completes and records them
    for p in report.problems:
        say(f"problem: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
