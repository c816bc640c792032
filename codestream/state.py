"""What the handler remembers about a connection, kept in Web PubSub's connection state.

Set at `connect` (role and stream, from the token's claims) and updated by user events (rate
buckets, `ended`). Encoded as base64(JSON), as the CloudEvents reference suggests, so the
header value stays plain ASCII.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field, replace
from enum import StrEnum

from codestream.contract import CONTRACT
from codestream.http import parse_json
from codestream.ids import is_stream_id
from codestream.ratelimit import Bucket

MAX_STATE_CHARS = CONTRACT.connection_state_chars


class Role(StrEnum):
    STREAMER = "streamer"
    WATCHER = "watcher"


@dataclass(frozen=True)
class ConnState:
    role: Role
    stream_id: str
    buckets: dict[str, Bucket] = field(default_factory=dict)
    ended: bool = False

    def with_bucket(self, name: str, bucket: Bucket) -> ConnState:
        return replace(self, buckets={**self.buckets, name: bucket})

    def encode(self) -> str:
        raw: dict[str, object] = {
            "r": str(self.role),
            "s": self.stream_id,
            "b": {k: [b.tokens, b.at] for k, b in sorted(self.buckets.items())},
        }
        if self.ended:
            raw["e"] = 1
        text = json.dumps(raw, separators=(",", ":"))
        return base64.b64encode(text.encode()).decode()


def decode_state(value: str | None) -> ConnState | None:
    """None when absent or unreadable: the caller refuses such a connection's events."""
    if not value or len(value) > MAX_STATE_CHARS:
        return None
    try:
        raw = parse_json(base64.b64decode(value, validate=True))
        role = Role(raw["r"])
        stream_id = raw["s"]
        buckets = {
            str(k): Bucket(float(v[0]), float(v[1])) for k, v in dict(raw.get("b", {})).items()
        }
        ended = bool(raw.get("e", 0))
    except (binascii.Error, ValueError, KeyError, TypeError, IndexError):
        return None
    if not is_stream_id(stream_id):
        return None
    return ConnState(role, stream_id, buckets, ended)
