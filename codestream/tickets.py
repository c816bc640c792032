"""Tickets: proof, without asking the service, that a connection is a watcher of a stream.

The handler puts a ticket into every `sync-request` it passes to the streamer; the streamer
echoes it in its `snapshot` or `catchup` for that watcher, and the handler checks it instead of
listing the stream's group (which cost a paged REST call per join, O(N^2) over a join storm).
Only a watcher connection of the stream sends `sync` for it (its role and stream come from its
token's claims, at `connect`), so a valid ticket names such a connection.

ticket = base64url(HMAC-SHA256(key, "ticket:" + streamId + ":" + connectionId)), no padding,
where key = HMAC-SHA256(OwnerKeySecret, "codestream ticket key"): derived for this purpose
only, so a ticket can never be an owner key, nor an owner key a ticket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_PURPOSE = b"codestream ticket key"


def _utf8(text: str) -> bytes:
    # JSON may carry lone surrogates ("\ud800"); such a value simply does not match
    return text.encode("utf-8", "surrogatepass")


class Tickets:
    def __init__(self, owner_key_secret: str) -> None:
        self._key = hmac.new(_utf8(owner_key_secret), _PURPOSE, hashlib.sha256).digest()

    def issue(self, stream_id: str, connection_id: str) -> str:
        message = _utf8(f"ticket:{stream_id}:{connection_id}")
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verify(self, stream_id: str, connection_id: str, offered: str) -> bool:
        """Compared in constant time."""
        return hmac.compare_digest(self.issue(stream_id, connection_id).encode(), _utf8(offered))
