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


def test_validation_url_resolves_event_to_validate() -> None:
    handler = parse_hubs(DOC)["codestream"].event_handlers[0]
    assert handler.validation_url("codestream") == "http://127.0.0.1:8080/api/codestream/validate"


MI = {"type": "ManagedIdentity", "managedIdentity": {"resource": "api://handler"}}
ENTRA = ["--entra-authority", "https://127.0.0.1:9443/", "--entra-tenant-id", "t"]


def _with_auth(auth: object) -> dict[str, object]:
    handler = {"urlTemplate": "https://h/api", "systemEvents": ["connect"], "auth": auth}
    return {"hubs": {"h": {"eventHandlers": [handler]}}}


def test_managed_identity_auth_is_read_from_the_arm_shape() -> None:
    handler = parse_hubs(_with_auth(MI))["h"].event_handlers[0]
    assert handler.auth_resource == "api://handler"
    assert parse_hubs(_with_auth({"type": "None"}))["h"].event_handlers[0].auth_resource is None


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "Key"},
        {"type": "ManagedIdentity"},
        "x",
        {"type": "ManagedIdentity", "managedIdentity": {"resource": " "}},
    ],
)
def test_bad_auth_is_a_config_error(auth: object) -> None:
    with pytest.raises(ConfigError):
        parse_hubs(_with_auth(auth))


def test_entra_mode_from_flags() -> None:
    argv = [*ENTRA, "--entra-allowed-principal", "ABC", "--identity-client-id", "wps"]
    argv += ["--disable-local-auth", "--config-json", json.dumps(_with_auth(MI))]
    config = config_from_args(argv, {"EMULATOR_IDENTITY_CLIENT_SECRET": "s3cret"})
    assert config.entra is not None
    assert config.entra.authority == "https://127.0.0.1:9443"
    assert config.entra.metadata_url == (
        "https://127.0.0.1:9443/t/v2.0/.well-known/openid-configuration"
    )
    assert config.entra.allowed_principals == frozenset({"abc"})
    assert config.entra.identity_client_secret == "s3cret"
    assert "s3cret" not in repr(config)
    assert config.disable_local_auth


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["--entra-authority", "http://127.0.0.1:9443", "--entra-tenant-id", "t"], {}),
        (["--entra-authority", "https://127.0.0.1:9443"], {}),
        ([*ENTRA, "--identity-client-id", "wps"], {}),  # no secret
        (["--disable-local-auth"], {}),
        (["--entra-tenant-id", "t"], {}),
        (["--tls-cert", "c.pem"], {}),
        (["--config-json", json.dumps(_with_auth(MI))], {}),  # MI needs an identity
    ],
)
def test_bad_entra_flags_are_refused(argv: list[str], env: dict[str, str]) -> None:
    with pytest.raises(SystemExit):
        config_from_args(argv, env)


def test_tls_makes_the_endpoint_https(tmp_path: object) -> None:
    config = config_from_args(["--tls-cert", "c.pem", "--tls-key", "k.pem", "--port", "9"], {})
    assert config.endpoint == "https://127.0.0.1:9"
