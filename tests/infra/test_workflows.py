"""The GitHub workflows: CI runs `make test`; deployment signs in with federated credentials."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.infra

CI = ".github/workflows/ci.yml"
DEPLOY = ".github/workflows/azure-dev.yml"  # the file name `azd pipeline config` looks for


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return workflow["jobs"][job]["steps"]


def test_ci_runs_make_test(dump: dict[str, Any]) -> None:
    ci = dump["yaml"][CI]
    runs = [step.get("run", "") for step in steps(ci, "test")]
    assert "make test" in runs
    assert ci["permissions"] == {"contents": "read"}
    assert int(ci["jobs"]["test"]["timeout-minutes"]) <= 90


def test_deploy_uses_federated_credentials_as_azd_pipeline_config_sets_them(
    dump: dict[str, Any],
) -> None:
    deploy = dump["yaml"][DEPLOY]
    assert deploy["permissions"] == {"id-token": "write", "contents": "read"}
    job = deploy["jobs"]["deploy"]
    env = job["env"]
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID", "AZURE_ENV_NAME"):
        assert env[name] == f"${{{{ vars.{name} }}}}"
    assert env["AZD_INITIAL_ENVIRONMENT_CONFIG"] == "${{ secrets.AZD_INITIAL_ENVIRONMENT_CONFIG }}"
    runs = " ".join(step.get("run", "") for step in steps(deploy, "deploy"))
    assert "--federated-credential-provider github" in runs
    assert "azd provision --no-prompt" in runs
    assert "azd deploy --all --no-prompt" in runs
    assert "client-secret" not in runs
    uses = [step.get("uses", "") for step in steps(deploy, "deploy")]
    assert any(action.startswith("Azure/setup-azd@") for action in uses)
