"""ce-signature: the handler's verifier and the emulator's signer, against one fixed vector."""

import hashlib
import hmac
from pathlib import Path

import pytest

import emulator.upstream
from codestream import signature
from emulator.ce_signature import ce_signature

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


# One fixed vector, computed outside Python (`printf %s "$ID" | openssl dgst -sha256 -hmac "$KEY"`):
# the emulator's signer and the handler's verifier are separate code and must both match it.
VECTOR_CONNECTION_ID = "Qz9vX2lkLWNvbm5lY3Rpb24"
VECTOR_PRIMARY = "emulator-test-primary-key"
VECTOR_SECONDARY = "emulator-test-secondary-key"
VECTOR_HEADER = (
    "sha256=10a9cedbc27742709d352a220de4f24e466b54f5294877dd5b9712204baadd82,"
    "sha256=af3e1654fc4f88d2792a6f1f1155fda53fd25aeae8d98131f68e04cf9ffeff24"
)


def test_emulator_signs_the_fixed_vector() -> None:
    keys = [VECTOR_PRIMARY, VECTOR_SECONDARY]
    assert ce_signature(VECTOR_CONNECTION_ID, keys) == VECTOR_HEADER
    assert ce_signature(VECTOR_CONNECTION_ID, []) == ""


@pytest.mark.parametrize("key", [VECTOR_PRIMARY, VECTOR_SECONDARY])
def test_handler_verifies_the_fixed_vector_with_either_key(key: str) -> None:
    assert signature.verify(VECTOR_CONNECTION_ID, VECTOR_HEADER, [key]) is True
    assert signature.verify(VECTOR_CONNECTION_ID + "x", VECTOR_HEADER, [key]) is False
    assert signature.verify(VECTOR_CONNECTION_ID, VECTOR_HEADER, [key + "x"]) is False


def test_the_emulator_imports_nothing_from_codestream() -> None:
    for module in Path(emulator.upstream.__file__).parent.glob("*.py"):
        text = module.read_text()
        assert "import codestream" not in text, module
        assert "from codestream" not in text, module
