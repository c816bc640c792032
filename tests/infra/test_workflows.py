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
    # the generated owner-key secret reaches CI as the secret `azd pipeline config` creates
    # for the parameter's mapping (main.parameters.json: ${OWNER_KEY_SECRET}); a run without
    # it stops before azd could generate (and so rotate) a new one
    assert env["OWNER_KEY_SECRET"] == "${{ secrets.OWNER_KEY_SECRET }}"
    guard = next(
        s["run"] for s in steps(deploy, "deploy") if "OWNER_KEY_SECRET" in s.get("run", "")
    )
    assert '[ -z "$OWNER_KEY_SECRET" ]' in guard
    assert "exit 1" in guard
    order = [s.get("run", "") for s in steps(deploy, "deploy")]
    assert order.index(guard) < next(i for i, r in enumerate(order) if "azd provision" in r)
    runs = " ".join(step.get("run", "") for step in steps(deploy, "deploy"))
    assert "--federated-credential-provider github" in runs
    assert "azd provision --no-prompt" in runs
    assert "azd deploy --all --no-prompt" in runs
    assert "client-secret" not in runs
    uses = [step.get("uses", "") for step in steps(deploy, "deploy")]
    assert any(action.startswith("Azure/setup-azd@") for action in uses)
