"""contract.json's storage numbers only work together; a document where they do not is
refused at load, naming the pair (so a limit cannot be changed on one side of a rule)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from codestream.contract import CONTRACT, ContractError, load_contract


def changed(section: str, name: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(CONTRACT.raw)
    raw[section][name] = value
    return raw


def test_the_shipped_contract_loads_with_its_storage_numbers() -> None:
    contract = load_contract(copy.deepcopy(CONTRACT.raw))
    assert (contract.keyframe_bytes, contract.segment_bytes, contract.catchup_bytes) == (
        4 * 1024 * 1024,
        320 * 1024,
        64 * 1024,
    )
    assert contract.storage.container == "streams"
    assert contract.events["catchup"].max_bytes == contract.catchup_bytes
    assert set(contract.events) == {"sync", "snapshot", "control", "catchup", "watchers"}


@pytest.mark.parametrize(
    ("section", "name", "value", "says"),
    [
        ("limits", "segmentBytes", 300 * 1024, "limits.segmentBytes"),  # < 256 KiB + 64 KiB
        ("storage", "tailMaxBytes", 4 * 1024 * 1024, "storage.tailMaxBytes"),
        ("limits", "catchupBytes", 1000, "events.catchup.maxBytes"),
        ("storage", "keepaliveBytes", 70_000, "storage.keepaliveBytes"),
        ("storage", "uploadPerSecond", 0, "storage.uploadBurst"),
        ("storage", "container", "Streams", "storage.container"),
        ("storage", "joinCacheMs", -1, "storage.joinCacheMs"),
        ("limits", "ticketChars", "64", "limits.ticketChars"),
    ],
)
def test_numbers_that_disagree_are_refused(section: str, name: str, value: Any, says: str) -> None:
    with pytest.raises(ContractError, match=says.replace(".", r"\.")):
        load_contract(changed(section, name, value))


def test_a_missing_event_rule_is_refused() -> None:
    raw = copy.deepcopy(CONTRACT.raw)
    del raw["events"]["watchers"]
    with pytest.raises(ContractError, match=r"events\.watchers"):
        load_contract(raw)
