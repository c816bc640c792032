"""The audit checks what ships: requirements.txt and its whole runtime closure, nothing else."""

from __future__ import annotations

from tools.audit import runtime_pins


def test_runtime_pins_are_the_shipped_closure() -> None:
    pins = dict(pin.split("==") for pin in runtime_pins())
    for direct in ("azure-functions", "azure-messaging-webpubsubservice", "aiohttp", "pyjwt"):
        assert direct in pins
    assert "cryptography" in pins  # PyJWT[crypto]: extras are followed
    assert "yarl" in pins  # transitive
    for dev_only in ("pytest", "hypothesis", "ruff", "playwright", "pip-audit"):
        assert dev_only not in pins
