"""Function invocations: what streaming costs in Azure Functions executions.

The dev host serves function_app.py and counts every invocation per function and per
CloudEvents event name (`/_devhost/invocations`). This benchmark starts it (with its
built-in emulator) as `make run` does, then with Microsoft's Python Web PubSub client:

1. a streamer connects;
2. N watchers join one at a time, each running the protocol's late join (`sync` -> the
   streamer's `snapshot`), until it holds the document;
3. the streamer sends deltas straight to the stream group for S seconds (a fast typist,
   one every PACE_S) while every watcher counts what it receives;
4. the watchers leave, then the streamer.

Invocations are read between phases, so each is attributed to joins, deltas or leaves.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench import markdown_table, text_table, write_results
from harness.devhost import Peer, RunningDevHost, start_devhost

PACE_S = 0.05
DELIVERY_TIMEOUT_S = 30.0


def diff(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]) -> dict[str, int]:
    """Per function and per event, e.g. {"negotiate": 10, "webpubsub_events": 40, "ev:sync": 10}."""
    out: dict[str, int] = {}
    for kind, prefix in (("functions", ""), ("events", "event ")):
        keys = set(after.get(kind, {})) | set(before.get(kind, {}))
        for key in sorted(keys):
            n = after.get(kind, {}).get(key, 0) - before.get(kind, {}).get(key, 0)
            if n:
                out[prefix + key] = n
    return out


async def answer_sync_requests(streamer: Peer, doc: str, stop: asyncio.Event) -> None:
    """The streamer page's job: every sync-request gets a snapshot for that connection."""
    answered = 0
    while not stop.is_set():
        requests = streamer.received(type="sync-request")
        for request in requests[answered:]:
            await streamer.send_event(
                "snapshot",
                {
                    "streamId": streamer.stream_id,
                    "to": request["connectionId"],
                    "ticket": request["ticket"],  # proves `to` is a watcher of the stream
                    "epoch": "bench",
                    "v": 0,
                    "doc": doc,
                    "chunk": [0, 1],
                },
            )
        answered = len(requests)
        await asyncio.sleep(0.01)


async def count_watchers(streamer: Peer, expected: int) -> None:
    """The streamer page's count: it asks (`watchers`), the answer comes in the event's reply.
    Asked again (at the 1/s the server allows) until leaves have been seen."""
    deadline = asyncio.get_running_loop().time() + DELIVERY_TIMEOUT_S
    while True:
        asked = len(streamer.received(type="watchers"))
        await streamer.send_event("watchers", {"streamId": streamer.stream_id})
        reply = await streamer.wait_for(type="watchers", nth=asked + 1, wait=DELIVERY_TIMEOUT_S)
        if reply["count"] == expected:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{reply['count']} watchers counted, {expected} expected")
        await asyncio.sleep(1.0)


async def run(host: RunningDevHost, watchers_n: int, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    snapshots = [await asyncio.to_thread(host.invocations)]
    streamer = await Peer(host).open()
    await count_watchers(streamer, 0)  # as the page does once connected
    sid = streamer.stream_id or ""
    stop = asyncio.Event()
    responder = asyncio.create_task(answer_sync_requests(streamer, "x = 1\n" * 100, stop))
    snapshots.append(await asyncio.to_thread(host.invocations))

    watchers = []
    for _ in range(watchers_n):
        watcher = await Peer(host, {"streamId": sid}).open()
        await watcher.send_event("sync", {"streamId": sid, "have": None})
        await watcher.wait_for(type="snapshot")
        watchers.append(watcher)
    await count_watchers(streamer, watchers_n)  # joins are counted once, not once per join
    snapshots.append(await asyncio.to_thread(host.invocations))

    deltas = 0
    started = loop.time()
    while loop.time() - started < seconds:
        deltas += 1
        delta = {"type": "delta", "epoch": "bench", "v": deltas, "changes": [[0, 0, "a"]]}
        await streamer.send_to_group(sid, delta)
        await asyncio.sleep(PACE_S)
    for watcher in watchers:
        await watcher.wait_for(type="delta", v=deltas, wait=DELIVERY_TIMEOUT_S)
    # let any event the deltas might have caused reach the dev host before counting
    await asyncio.sleep(1.0)
    snapshots.append(await asyncio.to_thread(host.invocations))
    delivered = sum(len(w.received(type="delta")) for w in watchers)

    stop.set()
    await responder
    for watcher in watchers:
        await watcher.close()
    await count_watchers(streamer, 0)
    snapshots.append(await asyncio.to_thread(host.invocations))
    await streamer.close()
    return {
        "streamer_join": diff(snapshots[1], snapshots[0]),
        "watcher_joins": diff(snapshots[2], snapshots[1]),
        "streaming": diff(snapshots[3], snapshots[2]),
        "watcher_leaves": diff(snapshots[4], snapshots[3]),
        "deltas": deltas,
        "delivered": delivered,
        "seconds": seconds,
        "watchers": watchers_n,
    }


def per(count: int, n: int) -> str:
    return f"{count / n:.2f}" if n else "-"


def report(r: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = ["phase", "what", "invocations", "per unit"]
    rows = []
    units = {
        "streamer_join": ("1 streamer connect", 1),
        "watcher_joins": (f"{r['watchers']} watcher joins (with late-join sync)", r["watchers"]),
        "streaming": (f"{r['deltas']} deltas in {r['seconds']:g} s", r["deltas"]),
        "watcher_leaves": (f"{r['watchers']} watcher leaves", r["watchers"]),
    }
    for phase, (label, n) in units.items():
        counts = r[phase]
        if not counts:
            rows.append([label, "(none)", "0", "0.00"])
        for what, count in counts.items():
            rows.append([label, what, str(count), per(count, n)])
    return headers, rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.invocations", description=__doc__)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    # the SDK warns on every deliberate close; nothing to see
    logging.getLogger("azure.messaging.webpubsubclient").setLevel(logging.ERROR)

    t0 = time.monotonic()
    with start_devhost() as host:
        result = asyncio.run(asyncio.wait_for(run(host, args.watchers, args.seconds), 600))
    headers, rows = report(result)
    print(text_table(headers, rows))
    expected = result["deltas"] * result["watchers"]
    streaming_calls = sum(result["streaming"].values())
    joins = result["watcher_joins"]
    system_per_join = (joins.get("event connect", 0) + joins.get("event connected", 0)) / max(
        1, result["watchers"]
    )
    verdict = [
        f"deltas sent {result['deltas']}, delivered {result['delivered']} of {expected}",
        f"invocations per delta: {streaming_calls / max(1, result['deltas']):.3f} (must be 0)",
        f"system-event invocations per watcher join (connect + connected): {system_per_join:.2f}",
        f"wall time {time.monotonic() - t0:.0f} s",
    ]
    print("\n".join(verdict))
    ok = streaming_calls == 0 and result["delivered"] == expected
    if not args.no_write:
        body = f"""
Counted by the dev host per function and per CloudEvents event name while one streamer and
{result["watchers"]} watchers (Microsoft's async Python Web PubSub client, reliable JSON
subprotocol) ran the protocol against the built-in emulator. `python -m bench.invocations`.

{markdown_table(headers, rows)}

- {verdict[0]}
- {verdict[1]}
- {verdict[2]}

`webpubsub_events` counts every call of the event handler function, including the one
abuse-protection `OPTIONS` the service sends before its first event (no event name).

What a watcher join costs, by design: `negotiate` (1 HTTP invocation, the access token),
`connect` (role and stream from the token into the connection state) and `connected`
(nothing for a watcher) - the two system events - then the late-join document transfer: the
watcher's `sync` and the streamer's `snapshot` (one per chunk; here 1). Watcher counts cost
the streamer's `watchers` events, asked at most every few seconds while watchers join, never
one per join. Deltas go straight from the streamer to the stream group inside Web PubSub and
invoke nothing. (The browser page also reads the stored join state, `GET /api/streams/{id}`,
and is answered with a `catchup`; `make bench` measures that path.)
"""
        path = write_results("invocations", "Function invocations per delta and per join", body)
        print(f"wrote {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
