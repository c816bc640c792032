from __future__ import annotations

import json

import pytest

from emulator.config import DEFAULT_ACCESS_KEY, ConfigError, config_from_args, parse_hubs

DOC = {
    "hubs": {
        "CodeStream": {
            "eventHandlers": [
                {
                    "urlTemplate": "http://127.0.0.1:8080/api/{hub}/{event}",
                    "userEventPattern": "sync,snap*",
                    "systemEvents": ["connect", "disconnected"],
                }
            ]
        }
    }
}


def test_handlers_match_events_as_the_service_does() -> None:
    hub = parse_hubs(DOC)["codestream"]
    assert hub.handler_for("connect", system=True) is not None
    assert hub.handler_for("connected", system=True) is None
    assert hub.handler_for("sync", system=False) is not None
    assert hub.handler_for("snapshot", system=False) is not None
    assert hub.handler_for("control", system=False) is None
    handler = hub.event_handlers[0]
    assert handler.url("codestream", "sync") == "http://127.0.0.1:8080/api/codestream/sync"


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"hubs": {"h": {"eventHandlers": [{}]}}},
        {"hubs": {"h": {"eventHandlers": [{"urlTemplate": "ftp://x"}]}}},
        {"hubs": {"h": {"eventHandlers": [{"urlTemplate": "http://x", "systemEvents": ["x"]}]}}},
    ],
)
def test_bad_config_names_the_problem(doc: object) -> None:
    with pytest.raises(ConfigError):
        parse_hubs(doc)


def test_cli_defaults_and_connection_string() -> None:
    config = config_from_args([])
    assert config.connection_string == (
        f"Endpoint=http://127.0.0.1:8081;AccessKey={DEFAULT_ACCESS_KEY};Version=1.0;"
    )
    inline = config_from_args(["--port", "9000", "--config-json", json.dumps(DOC)])
    assert inline.port == 9000
    assert inline.hub("CODESTREAM").event_handlers


def test_cli_rejects_bad_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        config_from_args(["--config-json", "{nope"])
    assert "bad config" in capsys.readouterr().err
