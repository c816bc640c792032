"""Verifying the `ce-signature` of Web PubSub's CloudEvents: HMAC-SHA256 of the connection id.

The event handler's side only; the emulator signs with its own implementation
(`emulator/ce_signature.py`), and both are tested against one fixed vector. The header lists
one `sha256=<hex>` per access key (primary, secondary), so a key can be rotated without
dropping events.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

PREFIX = "sha256="


def _utf8(text: str) -> bytes:
    """Header values whose bytes were not UTF-8 arrive with lone surrogates (aiohttp decodes
    with surrogateescape); they must fail to match, not fail to encode."""
    return text.encode("utf-8", "surrogatepass")


def sign(connection_id: str, access_key: str) -> str:
    digest = hmac.new(_utf8(access_key), _utf8(connection_id), hashlib.sha256).hexdigest()
    return PREFIX + digest


def signature_header(connection_id: str, access_keys: Iterable[str]) -> str:
    return ",".join(sign(connection_id, key) for key in access_keys if key)


def verify(connection_id: str, header_value: str | None, access_keys: Iterable[str]) -> bool:
    """True when any listed signature matches any key; compared in constant time."""
    if not header_value or not connection_id:
        return False
    offered = [part.strip() for part in header_value.split(",") if part.strip()]
    expected = [sign(connection_id, key) for key in access_keys if key]
    matched = False
    for candidate in offered:
        for good in expected:
            # no early exit: every pair is compared
            matched |= hmac.compare_digest(_utf8(candidate), good.encode())
    return matched
