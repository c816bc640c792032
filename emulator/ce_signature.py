"""The `ce-signature` the emulator puts on every CloudEvents request, as the service does.

`sha256=<hex>` per access key: HMAC-SHA256 over the connection id (UTF-8), keyed with the
access key's text (UTF-8), lower-case hex; several keys (primary, secondary) are joined with
commas. This is the emulator's own signer: the event handler's verifier in
`codestream/signature.py` is a separate implementation, and both are tested against one fixed
vector (tests/unit/test_signature.py), so a mistake in either shows.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

PREFIX = "sha256="


def ce_signature(connection_id: str, access_keys: Iterable[str]) -> str:
    """The header value; empty when there is no key (local auth disabled)."""
    message = connection_id.encode()
    return ",".join(
        PREFIX + hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
        for key in access_keys
        if key
    )
