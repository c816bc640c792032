"""function_app.py: the routes Azure will index, and the start-up failure on bad settings."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

import pytest

from codestream import routes
from codestream.config import STORAGE_SETTINGS as STORAGE
from codestream.config import ConfigError
from codestream.runtime import Runtime
from harness.azurite import NO_STORAGE

GOOD_ENV = {
    "WebPubSubConnectionString": "Endpoint=http://127.0.0.1:8081;AccessKey=k;Version=1.0;",
    "OwnerKeySecret": "s" * 32,
    **NO_STORAGE,
}


def fresh_import(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> ModuleType:
    for name in ("WebPubSubConnectionString", "WebPubSubEndpoint", "OwnerKeySecret", *STORAGE):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, "function_app", raising=False)
    return importlib.import_module("function_app")


def route_table(app: object) -> dict[tuple[str, str], tuple[list[str], str]]:
    """(route, function name) -> (methods, auth level): one route may have two functions."""
    found = {}
    for function in app.get_functions():  # type: ignore[attr-defined]
        trigger = function.get_trigger()
        methods = sorted(str(getattr(m, "value", m)) for m in trigger.methods)
        level = str(getattr(trigger.auth_level, "value", "")).lower()
        found[(trigger.route, function.get_function_name())] = (methods, level)
    return found


def test_routes_methods_and_auth_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    module = fresh_import(monkeypatch, GOOD_ENV)
    assert route_table(module.app) == {
        (routes.NEGOTIATE, "negotiate"): (["POST"], "anonymous"),
        (routes.EVENTS, "webpubsub_events"): (["GET", "OPTIONS", "POST"], "anonymous"),
        (routes.HEALTH, "health"): (["GET"], "anonymous"),
        (routes.STREAM, "stream_state"): (["GET"], "anonymous"),
        (routes.STREAM, "delete_stream"): (["DELETE"], "anonymous"),
        (routes.KEYFRAMES, "upload_keyframe"): (["POST"], "anonymous"),
        (routes.SEGMENTS, "upload_segment"): (["POST"], "anonymous"),
        (routes.RECORDING, "recording_index"): (["GET"], "anonymous"),
        (routes.DOWNLOAD, "recording_download"): (["GET"], "anonymous"),
        (routes.BLOB, "recording_blob"): (["GET"], "anonymous"),
        (routes.OEMBED, "oembed"): (["GET"], "anonymous"),
    }
    assert (routes.STREAM, routes.KEYFRAMES, routes.SEGMENTS) == (
        "streams/{streamId}",
        "streams/{streamId}/keyframes",
        "streams/{streamId}/segments",
    )
    assert (routes.RECORDING, routes.DOWNLOAD, routes.BLOB, routes.OEMBED) == (
        "streams/{streamId}/recording",
        "streams/{streamId}/recording.jsonl",
        "streams/{streamId}/blobs/{*name}",
        "oembed",
    )
    assert routes.EVENT_HANDLER_PATH == "/api/webpubsub/events"


def test_import_fails_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="OwnerKeySecret"):
        fresh_import(monkeypatch, {**GOOD_ENV, "OwnerKeySecret": "short"})


def test_import_fails_without_stream_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in GOOD_ENV.items() if k not in STORAGE}
    with pytest.raises(ConfigError, match="StreamStorageConnectionString"):
        fresh_import(monkeypatch, env)


def test_the_factory_builds_independent_apps_from_any_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = fresh_import(monkeypatch, GOOD_ENV)
    other = Runtime.from_env({**GOOD_ENV, "WebPubSubHub": "another"})
    app = module.create_app(other)
    assert route_table(app) == route_table(module.app)
    assert (other.settings.hub, module.runtime.settings.hub) == ("another", "codestream")
