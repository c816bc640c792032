"""Token buckets that live in Web PubSub's connection state, not in the function's memory.

Any instance may handle the next event of a connection, so the bucket travels with the
connection (`ce-connectionState`) and this module is pure: it takes the time as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    capacity: float  # burst size
    per_second: float  # long-run rate


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float  # unix time of `tokens`

    @classmethod
    def full(cls, limit: Limit, now: float) -> Bucket:
        return cls(limit.capacity, now)


def take(bucket: Bucket | None, limit: Limit, now: float) -> tuple[bool, Bucket]:
    """Spend one token if there is one; returns (allowed, bucket to store)."""
    if bucket is None:
        bucket = Bucket.full(limit, now)
    elapsed = max(0.0, now - bucket.at)  # a clock step back never mints tokens
    # rounded so that float noise in unix times (1.7e9 + 0.05) cannot eat a whole token
    tokens = round(min(limit.capacity, bucket.tokens + elapsed * limit.per_second), 3)
    if tokens >= 1.0:
        return True, Bucket(round(tokens - 1.0, 3), now)
    return False, Bucket(round(tokens, 3), now)
