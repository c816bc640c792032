"""The join cache: fresh for its TTL, one load for concurrent misses, reloads get the previous
entry, failures are not cached, bounded in bytes. And the read endpoint's header rules."""

from __future__ import annotations

import asyncio

import pytest

from codestream.joincache import JoinCache, JoinEntry
from codestream.streams import accepts_gzip, bearer_token, etag_matches


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_fresh_for_the_ttl_then_reloaded_with_the_previous_entry() -> None:
    clock = Clock()
    cache = JoinCache(1.0, clock=clock)
    seen: list[JoinEntry | None] = []

    async def load(previous: JoinEntry | None) -> JoinEntry:
        seen.append(previous)
        return JoinEntry(f'"{len(seen)}"', b"x")

    first = await cache.get("s", load)
    clock.now += 0.99
    assert await cache.get("s", load) is first
    clock.now += 0.02
    second = await cache.get("s", load)
    assert seen == [None, first]
    assert second.etag == '"2"'
    cache.expire("s")
    await cache.get("s", load)
    assert seen[-1] is second


async def test_concurrent_misses_share_one_load() -> None:
    cache = JoinCache(1.0)
    release = asyncio.Event()
    loads = 0

    async def load(previous: JoinEntry | None) -> JoinEntry:
        nonlocal loads
        loads += 1
        await release.wait()
        return JoinEntry('"e"', b"doc")

    waiting = [asyncio.create_task(cache.get("s", load)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    entries = await asyncio.gather(*waiting)
    assert loads == 1
    assert all(e is entries[0] for e in entries)


async def test_a_failed_load_reaches_every_waiter_and_is_not_kept() -> None:
    cache = JoinCache(1.0)
    release = asyncio.Event()
    calls = 0

    async def failing(previous: JoinEntry | None) -> JoinEntry:
        nonlocal calls
        calls += 1
        await release.wait()
        raise OSError("storage down")

    waiting = [asyncio.create_task(cache.get("s", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert [type(r) for r in results] == [OSError] * 3
    assert calls == 1

    async def works(previous: JoinEntry | None) -> JoinEntry:
        return JoinEntry('"ok"', b"")

    assert (await cache.get("s", works)).etag == '"ok"'


async def test_bounded_in_bytes_least_recently_used_first() -> None:
    cache = JoinCache(60.0, max_bytes=100)

    def sized(n: int) -> JoinEntry:
        return JoinEntry('"e"', b"x" * n)

    async def load_of(n: int) -> JoinEntry:
        return sized(n)

    await cache.get("a", lambda _p: load_of(40))
    await cache.get("b", lambda _p: load_of(40))
    await cache.get("a", lambda _p: load_of(999))  # a hit: "a" is now the most recent
    await cache.get("c", lambda _p: load_of(40))  # evicts "b"
    assert cache.bytes == 80
    reloaded: list[str] = []

    async def mark(key: str) -> JoinEntry:
        reloaded.append(key)
        return sized(1)

    await cache.get("a", lambda _p: mark("a"))
    await cache.get("b", lambda _p: mark("b"))
    assert reloaded == ["b"]
    await cache.get("huge", lambda _p: load_of(500))  # served, never kept
    assert cache.bytes <= 100


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("identity", False),
        ("", False),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("gzip;q=x", False),
        ("x-gzip", True),
    ],
)
def test_accept_encoding(header: str, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ('"0x1"', True),
        ('W/"0x1"', True),
        ('"0x2", W/"0x1"', True),
        ("*", True),
        ('"0x2"', False),
        ("", False),
        ("0x1", False),
    ],
)
def test_if_none_match_by_weak_comparison(header: str, match: bool) -> None:
    assert etag_matches(header, '"0x1"') is match


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("", None),
        ("abc", None),
    ],
)
def test_bearer_token(value: str, token: str | None) -> None:
    assert bearer_token({"authorization": value}) == token
