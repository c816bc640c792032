"""Stream ids and owner keys.

An owner key is HMAC-SHA256(secret, "owner:" + streamId), base64url without padding: the
server keeps no table of streams, yet only whoever received the key at creation can resume.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from codestream.contract import CONTRACT

STREAM_ID_PATTERN = CONTRACT.stream_id
STREAMER_PREFIX = CONTRACT.streamer_prefix
WATCHER_PREFIX = CONTRACT.watcher_prefix


def new_stream_id() -> str:
    """16 url-safe characters = 96 random bits (the protocol asks for at least 64)."""
    return secrets.token_urlsafe(12)


def is_stream_id(value: object) -> bool:
    return isinstance(value, str) and STREAM_ID_PATTERN.fullmatch(value) is not None


def owner_key(secret: str, stream_id: str) -> str:
    digest = hmac.new(secret.encode(), f"owner:{stream_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def owner_key_matches(secret: str, stream_id: str, offered: str) -> bool:
    # surrogatepass: JSON may carry lone surrogates ("\\ud800"); such a key simply does not match
    offered_bytes = offered.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(owner_key(secret, stream_id).encode(), offered_bytes)


def streamer_user(stream_id: str) -> str:
    return STREAMER_PREFIX + stream_id


def new_watcher_user() -> str:
    return WATCHER_PREFIX + secrets.token_urlsafe(9)


def send_role(stream_id: str) -> str:
    """The single permission a streamer token carries."""
    return CONTRACT.send_role_prefix + stream_id
