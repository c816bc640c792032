"""ce-signature: the one HMAC both the emulator and the event handler rely on."""

import hashlib
import hmac

import pytest

from codestream import signature

KEY = "primary-key"
OTHER = "secondary-key"


def test_sign_is_hmac_sha256_of_connection_id_in_lower_hex() -> None:
    expected = hmac.new(KEY.encode(), b"conn-1", hashlib.sha256).hexdigest()
    assert signature.sign("conn-1", KEY) == "sha256=" + expected


def test_header_lists_one_signature_per_key_in_order() -> None:
    header = signature.signature_header("conn-1", [KEY, "", OTHER])
    assert header == f"{signature.sign('conn-1', KEY)},{signature.sign('conn-1', OTHER)}"


@pytest.mark.parametrize(
    ("header", "keys", "ok"),
    [
        (signature.sign("conn-1", KEY), [KEY], True),
        (signature.sign("conn-1", OTHER), [KEY, OTHER], True),  # rotated key still accepted
        (f"sha256=00, {signature.sign('conn-1', KEY)}", [KEY], True),
        (signature.sign("conn-2", KEY), [KEY], False),  # signature of another connection
        (signature.sign("conn-1", "forged"), [KEY], False),
        (signature.sign("conn-1", KEY).upper(), [KEY], False),
        ("", [KEY], False),
        (None, [KEY], False),
        (signature.sign("conn-1", KEY), [], False),
        (signature.sign("conn-1", KEY), [""], False),
    ],
)
def test_verify(header: str | None, keys: list[str], ok: bool) -> None:
    assert signature.verify("conn-1", header, keys) is ok


def test_verify_refuses_an_empty_connection_id() -> None:
    assert signature.verify("", signature.sign("", KEY), [KEY]) is False
