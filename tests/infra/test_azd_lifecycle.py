"""The web service packaged the way `azd deploy` packages it (harness/azd.py says what azd
runs and where that is in azd's source), on a copy of the repository with the environment
values a provisioned environment has. Then: does the package call the provisioned API, does
its CSP allow it, and does the SWA CLI's config lookup find exactly the built config?
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.azd import (
    JS_HOOKS_NOT_RUN_IN_DEPLOY,
    SWA_CONFIG,
    AzdStepFailed,
    Packaged,
    copy_repository,
    package_js_service,
    swa_config_files,
)

pytestmark = pytest.mark.infra

API = "https://func-abc123xyz.azurewebsites.net"
WEB = "https://nice-sea-0abc123.azurestaticapps.net"
# What `azd provision` leaves in .azure/<env>/.env: AZURE_ENV_NAME plus the Bicep outputs.
AZD_ENV = {
    "AZURE_ENV_NAME": "ci",
    "AZURE_LOCATION": "westeurope",
    "SERVICE_API_URI": API,
    "SERVICE_WEB_URI": WEB,
    "SERVICE_API_NAME": "func-abc123xyz",
    "SERVICE_WEB_NAME": "stapp-abc123xyz",
}


@pytest.fixture(scope="module")
def web_service(azure_yaml: dict[str, Any]) -> dict[str, Any]:
    return azure_yaml["services"]["web"]


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory, web_service: dict[str, Any]) -> Packaged:
    root = copy_repository(tmp_path_factory.mktemp("azd-deploy"))
    return package_js_service(root, web_service, AZD_ENV)


def csp_directives(config: Mapping[str, Any]) -> dict[str, list[str]]:
    csp = config["globalHeaders"]["Content-Security-Policy"]
    parts = [d.split() for d in csp.split(";") if d.strip()]
    return {p[0]: p[1:] for p in parts}


def test_the_package_is_built_by_azds_own_steps(packaged: Packaged) -> None:
    assert "npm run build" in packaged.steps
    assert any(step.endswith("hook") for step in packaged.steps), packaged.steps
    assert (packaged.output_dir / "watch.html").is_file()
    assert (packaged.output_dir / "index.html").is_file()


def test_the_client_calls_the_provisioned_api(packaged: Packaged) -> None:
    config = json.loads((packaged.service_dir / "app.config.json").read_text())
    assert config == {"apiBase": API}
    bundles = [p.read_text() for p in (packaged.output_dir / "assets").rglob("*.js")]
    assert any(f'"{API}"' in text for text in bundles), "the bundle does not name the API origin"
    assert any("/api/negotiate" in text for text in bundles)


def test_the_csp_allows_the_api_and_web_pubsub(packaged: Packaged) -> None:
    config = json.loads((packaged.output_dir / SWA_CONFIG).read_text())
    connect = csp_directives(config)["connect-src"]
    assert connect[:2] == ["'self'", API]
    assert "wss://*.webpubsub.azure.com" in connect


def test_the_swa_cli_finds_exactly_the_built_config(packaged: Packaged) -> None:
    # The SWA CLI keeps the last match of a recursive search of the app location: with more
    # than one file, which one deploys depends on directory order. There must be one.
    assert swa_config_files(packaged.service_dir) == [packaged.output_dir / SWA_CONFIG]


def test_no_web_hook_is_one_that_azd_deploy_skips(web_service: dict[str, Any]) -> None:
    hooks = set(web_service.get("hooks", {}))
    assert hooks, "the web service needs the hook that writes app.config.json"
    assert not hooks & set(JS_HOOKS_NOT_RUN_IN_DEPLOY), (
        f"{sorted(hooks & set(JS_HOOKS_NOT_RUN_IN_DEPLOY))} never run in `azd deploy` for a "
        "js service: azd builds it inside its package step"
    )


@pytest.fixture
def fresh_copy(tmp_path: Path) -> Path:
    return copy_repository(tmp_path)


def test_a_deploy_without_the_api_url_stops_before_the_build(
    fresh_copy: Path, web_service: dict[str, Any]
) -> None:
    env = {k: v for k, v in AZD_ENV.items() if k != "SERVICE_API_URI"}
    with pytest.raises(AzdStepFailed) as failed:
        package_js_service(fresh_copy, web_service, env)
    assert failed.value.step == "prepackage hook"
    assert "SERVICE_API_URI is not set" in failed.value.output
    assert not (fresh_copy / "static_web" / "dist").exists()


def test_an_azure_build_without_an_api_origin_fails_loudly(
    fresh_copy: Path, web_service: dict[str, Any]
) -> None:
    # as if no hook had written app.config.json (the `prebuild` defect)
    without_hooks = {k: v for k, v in web_service.items() if k != "hooks"}
    with pytest.raises(AzdStepFailed) as failed:
        package_js_service(fresh_copy, without_hooks, AZD_ENV)
    assert failed.value.step == "npm run build"
    assert "building for Azure (azd environment ci) without an API origin" in failed.value.output
    assert not (fresh_copy / "static_web" / "dist").exists()


def test_a_stale_client_config_fails_the_azure_build(
    fresh_copy: Path, web_service: dict[str, Any]
) -> None:
    stale = {"apiBase": "https://func-old-environment.azurewebsites.net"}
    (fresh_copy / "static_web" / "app.config.json").write_text(json.dumps(stale))
    without_hooks = {k: v for k, v in web_service.items() if k != "hooks"}
    with pytest.raises(AzdStepFailed) as failed:
        package_js_service(fresh_copy, without_hooks, AZD_ENV)
    assert re.search(
        r"names https://func-old-environment\S+, but .*SERVICE_API_URI", failed.value.output
    )


def test_a_local_build_still_uses_its_own_origin(
    fresh_copy: Path, web_service: dict[str, Any]
) -> None:
    without_hooks = {k: v for k, v in web_service.items() if k != "hooks"}
    packaged = package_js_service(fresh_copy, without_hooks, {})
    config = json.loads((packaged.output_dir / SWA_CONFIG).read_text())
    assert csp_directives(config)["connect-src"][0] == "'self'"
    assert all(not s.startswith("https://func") for s in csp_directives(config)["connect-src"])
