"""Token buckets: pure, clock passed in."""

from __future__ import annotations

from codestream.ratelimit import Bucket, Limit, take

LIMIT = Limit(capacity=3, per_second=1.0)


def test_burst_then_refusal_then_refill() -> None:
    bucket = None
    results = []
    for _ in range(4):
        ok, bucket = take(bucket, LIMIT, now=100.0)
        results.append(ok)
    assert results == [True, True, True, False]
    ok, bucket = take(bucket, LIMIT, now=100.5)
    assert not ok
    ok, bucket = take(bucket, LIMIT, now=101.0)
    assert ok


def test_refill_is_capped_at_capacity() -> None:
    ok, bucket = take(Bucket(0, 0.0), LIMIT, now=1000.0)
    assert ok
    assert bucket.tokens == 2.0


def test_clock_going_backwards_mints_nothing() -> None:
    ok, bucket = take(Bucket(0.5, 50.0), LIMIT, now=10.0)
    assert not ok
    assert bucket.tokens == 0.5
