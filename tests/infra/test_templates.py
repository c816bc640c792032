"""Structural checks of the parsed templates against the code they deploy.

Facts come from the code (codestream/routes.py, codestream/config.py), not from copies here,
so a change on either side that breaks the contract fails a test.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from codestream import config, routes
from codestream.contract import CONTRACT
from harness.bicep import REPO_ROOT, Template, Templates, render

pytestmark = pytest.mark.infra

API = "infra/app/api.bicep"
HUB = "infra/app/webpubsub-hub.bicep"
WPS = "infra/app/webpubsub.bicep"
WEB = "infra/app/web.bicep"
RBAC = "infra/app/rbac.bicep"

# Built-in role definition ids (Azure docs, "Azure built-in roles").
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
WEB_PUBSUB_SERVICE_OWNER = "12cf5a90-567b-43ae-8102-96cf46c7d9b4"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE = "infra/app/storage.bicep"

# Settings the Functions host and azure-identity read (not codestream): identity-based only.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AZURE_CLIENT_ID",
}
# Literal values allowed in app settings (everything else comes from a param or output).
NON_SECRET_LITERALS = {"AzureWebJobsStorage__credential": "managedidentity"}


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers every setting name the code looks up."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self.values.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return key in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def azure_like(name: str) -> str:
    """A well-formed stand-in for what Azure resolves a setting's expression to."""
    if name.endswith(("TenantId", "PrincipalId", "Audience")):
        return "00000000-0000-0000-0000-000000000001"
    if name == config.ENDPOINT:
        return "https://wps-example.webpubsub.azure.com"
    if name == config.OWNER_KEY_SECRET:
        return "k" * 48
    if name == config.HUB:
        return "codestream"
    if name == config.UPSTREAM_AUTHORITY_HOST:
        return "https://login.microsoftonline.com/"  # environment().authentication.loginEndpoint
    if name == config.STORAGE_ACCOUNT_URL:
        return "https://stexample.blob.core.windows.net/"  # primaryEndpoints.blob
    if name == config.STORAGE_CONTAINER:
        return "streams"
    if name == config.SITE_URL:
        return "https://stapp-example.azurestaticapps.net"  # web.outputs.uri
    return "x"


@pytest.fixture(scope="module")
def api(templates: Templates) -> Template:
    return templates[API]


@pytest.fixture(scope="module")
def app_settings(api: Template) -> dict[str, Any]:
    return api.var("appSettings")


@pytest.fixture(scope="module")
def main_to_api(templates: Templates) -> dict[str, str]:
    return templates.module_params(templates.main, "api")


# --- Web PubSub hub and event handler -------------------------------------------------


def test_event_handler_url_is_the_function_route(templates: Templates) -> None:
    main = templates.main
    assert main.var("eventHandlerPath") == routes.EVENT_HANDLER_PATH
    to_hub = templates.module_params(main, "hub")
    assert to_hub["eventHandlerUrl"] == "${api.outputs.uri}${eventHandlerPath}"
    api_module = templates.module_template(main, "api")
    site = api_module.one("Microsoft.Web/sites")
    assert api_module.output("uri") == f"https://${{{site.symbol}.properties.defaultHostName}}"


def test_the_route_is_served_where_the_url_points() -> None:
    host = json.loads((REPO_ROOT / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == routes.ROUTE_PREFIX
    assert f"/{routes.ROUTE_PREFIX}/{routes.EVENTS}" == routes.EVENT_HANDLER_PATH
    tree = ast.parse((REPO_ROOT / "function_app.py").read_text())
    registered: dict[str | None, dict[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "app.route":
            kwargs = {k.arg: ast.unparse(k.value) for k in node.keywords}
            registered[kwargs.get("route")] = kwargs
    events = registered["routes.EVENTS"]
    # Web PubSub calls without a function key; the handler authenticates every event itself.
    assert events["auth_level"] == "func.AuthLevel.ANONYMOUS"
    assert {"POST", "OPTIONS"} <= set(ast.literal_eval(events["methods"]))


def test_hub_sends_every_event_to_the_handler_with_managed_identity(templates: Templates) -> None:
    hub_module = templates[HUB]
    hub = hub_module.one("Microsoft.SignalRService/webPubSub/hubs")
    assert hub.api_version == "2024-03-01"
    parent = hub_module.resources[hub.get("parent")]
    assert (parent.type, parent.existing) == ("Microsoft.SignalRService/webPubSub", True)
    assert hub.get("properties.anonymousConnectPolicy").lower() == "deny"
    handlers = hub.get("properties.eventHandlers")
    assert len(handlers) == 1
    (handler,) = handlers
    assert handler["urlTemplate"] == "eventHandlerUrl"
    assert hub_module.is_reference(handler["urlTemplate"])
    assert handler["userEventPattern"] == "*"
    assert sorted(handler["systemEvents"]) == ["connect", "connected", "disconnected"]
    assert handler["auth"]["type"] == "ManagedIdentity"
    assert handler["auth"]["managedIdentity"]["resource"] == "upstreamAudience"


def test_hub_name_and_audience_match_the_app_settings(
    templates: Templates, main_to_api: dict[str, str]
) -> None:
    main = templates.main
    to_hub = templates.module_params(main, "hub")
    assert to_hub["hubName"] == main_to_api["webPubSubHub"] == "hubName"
    assert main.var("hubName") == config.DEFAULT_HUB
    # Web PubSub requests its token for exactly the audience the handler expects.
    assert to_hub["upstreamAudience"] == main_to_api["upstreamAudience"]
    assert main_to_api["upstreamAudience"] == (
        "empty(upstreamAudience) ? identity.outputs.clientId : upstreamAudience"
    )
    assert main.param_default("upstreamAudience") == ""


def test_web_pubsub_service(templates: Templates) -> None:
    module = templates[WPS]
    service = module.one("Microsoft.SignalRService/webPubSub")
    assert service.api_version == "2024-03-01"
    assert service.get("properties.disableLocalAuth") is True
    assert service.get("properties.disableAadAuth") is False
    assert service.get("identity.type") == "SystemAssigned"
    assert service.get("sku.name") == "sku"
    assert module.output("principalId") == f"{service.symbol}.identity.principalId"
    main = templates.main
    assert main.param_default("webPubSubSku") == "Free_F1"
    assert {"Free_F1", "Standard_S1"} <= set(main.decorators("webPubSubSku")["allowed"])
    assert templates.module_params(main, "webPubSub")["sku"] == "webPubSubSku"


# --- Function App settings --------------------------------------------------------------


def test_every_setting_the_code_reads_is_set_and_no_other(app_settings: dict[str, Any]) -> None:
    env = RecordingEnv({name: azure_like(name) for name in app_settings})
    settings = config.load_settings(env)  # the code accepts the Azure-shaped settings
    assert settings.upstream_entra is not None
    assert settings.connection_string is None
    assert settings.storage.connection_string is None  # the managed identity, no key
    assert settings.storage.account_url == "https://stexample.blob.core.windows.net"
    assert settings.site_url == "https://stapp-example.azurestaticapps.net"
    # keys: the emulator and Azurite; Azure has local auth and shared keys off
    local_only = {config.CONNECTION_STRING, config.STORAGE_CONNECTION_STRING}
    assert env.read - local_only <= set(app_settings)
    assert local_only.isdisjoint(app_settings)
    assert set(app_settings) - env.read == PLATFORM_SETTINGS


def test_no_app_setting_is_a_secret_literal(api: Template, app_settings: dict[str, Any]) -> None:
    for name, value in app_settings.items():
        text = render(value)
        if name in NON_SECRET_LITERALS:
            assert text == NON_SECRET_LITERALS[name]
            continue
        names = set(re.findall(r"\$\{(\w+)", text)) or {text.split(".")[0]}
        assert names <= api.symbols(), f"{name} = {text!r} is a literal, not a reference"
    assert render(app_settings[config.OWNER_KEY_SECRET]) == (
        "@Microsoft.KeyVault(SecretUri=${ownerKeySecretUri})"
    )
    secure = [p for p in api.params if "secure" in api.decorators(p)]
    assert secure == []  # no secret passes through the app module at all


def test_an_unresolved_key_vault_reference_stops_the_app(app_settings: dict[str, Any]) -> None:
    # App Service passes a reference it cannot resolve through as its text; the app must
    # refuse to start on it rather than use the text (for OwnerKeySecret: as the HMAC key).
    references = {
        name: render(value)
        for name, value in app_settings.items()
        if render(value).startswith("@Microsoft.KeyVault(")
    }
    assert set(references) == {config.OWNER_KEY_SECRET}
    for name, text in references.items():
        unresolved = text.replace("${ownerKeySecretUri}", "https://kv-x.vault.azure.net/secrets/S")
        env = {setting: azure_like(setting) for setting in app_settings}
        with pytest.raises(config.ConfigError) as refused:
            config.load_settings({**env, name: unresolved})
        assert refused.value.setting == name


def test_app_settings_are_wired_to_the_right_outputs(main_to_api: dict[str, str]) -> None:
    assert main_to_api["webPubSubEndpoint"] == "https://${webPubSub.outputs.hostName}"
    assert main_to_api["upstreamPrincipalId"] == "webPubSub.outputs.principalId"
    assert main_to_api["upstreamTenantId"] == "tenant().tenantId"
    assert main_to_api["ownerKeySecretUri"] == "vault.outputs.ownerKeySecretUri"
    assert main_to_api["identityClientId"] == "identity.outputs.clientId"
    assert main_to_api["identityId"] == "identity.outputs.id"
    # oEmbed builds its embeds on the site the CORS rule allows, the Static Web App
    assert main_to_api["siteUrl"] == main_to_api["allowedOrigin"] == "web.outputs.uri"


def test_settings_reach_the_site(api: Template, app_settings: dict[str, Any]) -> None:
    site = api.one("Microsoft.Web/sites")
    loop = site.get("properties.siteConfig.appSettings")
    assert loop["loop_type"] == {
        "type": "object",
        "detail": {"item_name": "setting", "object_name": "appSettings"},
    }
    assert {k: render(v) for k, v in loop["config"].items()} == {
        "name": "setting.key",
        "value": "setting.value",
    }
    assert render(app_settings["AZURE_CLIENT_ID"]) == "identityClientId"
    assert render(app_settings["AzureWebJobsStorage__clientId"]) == "identityClientId"
    assert not api.of_type("Microsoft.Web/sites/config")  # one place for settings


def test_owner_key_secret_is_generated_once_by_azd(templates: Templates) -> None:
    main = templates.main
    decorators = main.decorators("ownerKeySecret")
    assert "secure" in decorators
    generate = decorators["metadata"]["azd"]
    assert generate["type"] == "generate"
    assert int(generate["config"]["length"]) >= config.MIN_SECRET_LENGTH
    assert decorators["min_length"] == config.MIN_SECRET_LENGTH  # ARM refuses a shorter one
    assert main.param_default("ownerKeySecret") is None
    vault = templates["infra/app/keyvault.bicep"]
    secret = vault.one("Microsoft.KeyVault/vaults/secrets")
    assert secret.get("properties.value") == "ownerKeySecret"
    assert vault.one("Microsoft.KeyVault/vaults").get("properties.enableRbacAuthorization") is True
    assert vault.output("ownerKeySecretUri") == f"{secret.symbol}.properties.secretUri"


def test_no_secure_param_has_a_default_or_reaches_an_output(templates: Templates) -> None:
    for template in templates.by_path.values():
        outputs = " ".join(template.output(name) for name in template.outputs)
        for name in template.params:
            if "secure" in template.decorators(name):
                assert template.param_default(name) is None, f"{template.path}:{name}"
                assert not re.search(rf"\b{name}\b", outputs), f"{template.path}:{name}"


# --- Function App hosting ---------------------------------------------------------------


def test_function_app_is_python_311_on_flex_with_identity_storage(
    api: Template, app_settings: dict[str, Any]
) -> None:
    plan = api.one("Microsoft.Web/serverfarms")
    assert (plan.get("sku.tier"), plan.get("sku.name")) == ("FlexConsumption", "FC1")
    site = api.one("Microsoft.Web/sites")
    flex = site.get("properties.functionAppConfig")
    assert flex["runtime"] == {"name": "python", "version": "3.11"}
    storage = flex["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    assert site.get("identity.type") == "UserAssigned"
    assert list(site.get("identity.userAssignedIdentities")) == ["'${identityId}'"]
    assert site.get("properties.httpsOnly") is True
    assert render(app_settings["AzureWebJobsStorage__credential"]) == "managedidentity"
    assert "AzureWebJobsStorage" not in app_settings  # no connection string
    assert not {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"} & set(app_settings)


def test_storage_and_insights_accept_entra_id_only(templates: Templates) -> None:
    account = templates["infra/app/storage.bicep"].one("Microsoft.Storage/storageAccounts")
    assert account.get("properties.allowSharedKeyAccess") is False
    assert account.get("properties.allowBlobPublicAccess") is False
    insights = templates["infra/app/monitoring.bicep"].one("Microsoft.Insights/components")
    assert insights.get("properties.DisableLocalAuth") is True


def test_cors_allows_only_the_static_site(templates: Templates, api: Template) -> None:
    cors = api.one("Microsoft.Web/sites").get("properties.siteConfig.cors")
    assert cors == {"allowedOrigins": ["allowedOrigin"], "supportCredentials": False}
    assert templates.module_params(templates.main, "api")["allowedOrigin"] == "web.outputs.uri"
    web = templates[WEB]
    site = web.one("Microsoft.Web/staticSites")
    assert site.get("sku") == {"name": "Free", "tier": "Free"}
    assert web.output("uri") == f"https://${{{site.symbol}.properties.defaultHostname}}"


# --- Role assignments -------------------------------------------------------------------


def role_assignments(templates: Templates) -> set[tuple[str, str, str, bool]]:
    """(scope resource type, role id, principal param, conditional) of every assignment."""
    rbac = templates[RBAC]
    roles = rbac.var("roles")
    found = set()
    for resource in rbac.of_type("Microsoft.Authorization/roleAssignments"):
        scope = rbac.resources[resource.get("scope")]
        assert scope.existing
        role = render(resource.get("properties.roleDefinitionId"))
        match = re.fullmatch(
            r"subscriptionResourceId\(Microsoft\.Authorization/roleDefinitions, roles\.(\w+)\)",
            role,
        )
        assert match, role
        role_id = roles[match.group(1)]
        principal = resource.get("properties.principalId")
        expected_name = f"guid({scope.symbol}.id, {principal}, roles.{match.group(1)})"
        assert render(resource.get("name")) == expected_name
        found.add((scope.type, role_id, principal, resource.condition is not None))
        if principal == "apiPrincipalId":
            assert resource.get("properties.principalType") == "ServicePrincipal"
    return found


def test_role_assignments_name_the_right_principals_and_roles(templates: Templates) -> None:
    assert role_assignments(templates) == {
        ("Microsoft.Storage/storageAccounts", STORAGE_BLOB_DATA_OWNER, "apiPrincipalId", False),
        (
            "Microsoft.Storage/storageAccounts/blobServices/containers",
            STORAGE_BLOB_DATA_CONTRIBUTOR,
            "apiPrincipalId",
            False,
        ),
        ("Microsoft.Insights/components", MONITORING_METRICS_PUBLISHER, "apiPrincipalId", False),
        ("Microsoft.KeyVault/vaults", KEY_VAULT_SECRETS_USER, "apiPrincipalId", False),
        (
            "Microsoft.SignalRService/webPubSub",
            WEB_PUBSUB_SERVICE_OWNER,
            "apiPrincipalId",
            False,
        ),
        (
            "Microsoft.SignalRService/webPubSub",
            WEB_PUBSUB_SERVICE_OWNER,
            "developerPrincipalId",
            True,
        ),
    }
    to_rbac = templates.module_params(templates.main, "rbac")
    assert to_rbac["apiPrincipalId"] == "identity.outputs.principalId"
    assert to_rbac["developerPrincipalId"] == "principalId"
    # The identity holding the roles is the one the app runs as.
    identity = templates["infra/app/identity.bicep"]
    uami = identity.one("Microsoft.ManagedIdentity/userAssignedIdentities")
    assert identity.output("principalId") == f"{uami.symbol}.properties.principalId"
    assert identity.output("id") == f"{uami.symbol}.id"
    assert identity.output("clientId") == f"{uami.symbol}.properties.clientId"


def test_role_assignment_scopes_are_the_provisioned_resources(templates: Templates) -> None:
    to_rbac = templates.module_params(templates.main, "rbac")
    assert to_rbac["storageAccountName"] == "storage.outputs.name"
    assert to_rbac["streamsContainerName"] == "storage.outputs.streamsContainerName"
    assert to_rbac["appInsightsName"] == "monitoring.outputs.appInsightsName"
    assert to_rbac["keyVaultName"] == "vault.outputs.name"
    assert to_rbac["webPubSubName"] == "webPubSub.outputs.name"


# --- Stream storage ----------------------------------------------------------------------


def test_the_streams_container_its_role_and_its_retention(
    templates: Templates, app_settings: dict[str, Any], main_to_api: dict[str, str]
) -> None:
    storage, main = templates[STORAGE], templates.main
    contract = CONTRACT.storage
    # the container the code uses by default, private
    container = next(
        c
        for c in storage.of_type("Microsoft.Storage/storageAccounts/blobServices/containers")
        if c.get("name") == "streamsContainerName"
    )
    assert container.get("properties.publicAccess") == "None"
    assert render(main.var("streamsContainerName")) == contract.container
    to_storage = templates.module_params(main, "storage")
    assert to_storage["streamsContainerName"] == "streamsContainerName"
    assert storage.output("streamsContainerName") == f"{container.symbol}.name"
    # the app is told where: the account's blob endpoint and that container, no key
    assert render(app_settings[config.STORAGE_ACCOUNT_URL]) == "streamStorageAccountUrl"
    assert render(app_settings[config.STORAGE_CONTAINER]) == "streamStorageContainer"
    assert main_to_api["streamStorageAccountUrl"] == "storage.outputs.blobEndpoint"
    assert main_to_api["streamStorageContainer"] == "storage.outputs.streamsContainerName"
    account = storage.one("Microsoft.Storage/storageAccounts")
    assert storage.output("blobEndpoint") == f"{account.symbol}.properties.primaryEndpoints.blob"
    # least privilege: the data role on that container only (its scope, in rbac.bicep)
    rbac = templates[RBAC]
    scoped = [
        r
        for r in rbac.of_type("Microsoft.Authorization/roleAssignments")
        if rbac.resources[r.get("scope")].type.endswith("/containers")
    ]
    assert len(scoped) == 1
    scope = rbac.resources[scoped[0].get("scope")]
    assert scope.get("name") == "streamsContainerName"
    assert rbac.resources[scope.get("parent")].get("name") == "default"
    assert render(rbac.var("roles")["storageBlobDataContributor"]) == STORAGE_BLOB_DATA_CONTRIBUTOR
    # retention: every block blob under streams/ goes after streamRetentionDays unchanged
    policy = storage.one("Microsoft.Storage/storageAccounts/managementPolicies")
    assert policy.get("name") == "default"
    assert policy.get("parent") == account.symbol
    rules = policy.get("properties.policy.rules")
    assert len(rules) == 1
    rule = rules[0]
    assert (rule["enabled"], rule["type"]) == (True, "Lifecycle")
    filters = rule["definition"]["filters"]
    assert filters["blobTypes"] == ["blockBlob"]
    assert [render(p) for p in filters["prefixMatch"]] == [f"${{{container.symbol}.name}}/"]
    assert rule["definition"]["actions"] == {
        "baseBlob": {"delete": {"daysAfterModificationGreaterThan": "streamRetentionDays"}}
    }
    assert to_storage["streamRetentionDays"] == "streamRetentionDays"
    assert main.param_default("streamRetentionDays") == contract.retention_days
    assert main.decorators("streamRetentionDays")["min_value"] == 1


# --- Names, tags, parameters, outputs ----------------------------------------------------


def test_tags_and_azd_service_names(templates: Templates, azure_yaml: dict[str, Any]) -> None:
    main = templates.main
    assert render(main.var("tags")) == "{'azd-env-name': environmentName}"
    tagged: dict[str, str] = {}
    for template, resource in templates.all_resources():
        if resource.existing or "location" not in resource.body:
            continue
        tags = render(resource.get("tags"))
        assert tags.startswith(("tags", "union(tags")), f"{template.path}:{resource.symbol}"
        if "azd-service-name" in tags:
            tagged[template.path] = resource.type
    assert tagged == {API: "Microsoft.Web/sites", WEB: "Microsoft.Web/staticSites"}
    assert templates.module_params(main, "api")["serviceName"] == "api"
    assert templates.module_params(main, "web")["serviceName"] == "web"
    assert set(azure_yaml["services"]) == {"api", "web"}


def test_parameters_file_maps_the_azd_variables(templates: Templates) -> None:
    parameters = json.loads((REPO_ROOT / "infra" / "main.parameters.json").read_text())
    values = {name: body["value"] for name, body in parameters["parameters"].items()}
    assert values["environmentName"] == "${AZURE_ENV_NAME}"
    assert values["location"] == "${AZURE_LOCATION}"
    assert values["principalId"] == "${AZURE_PRINCIPAL_ID}"
    main = templates.main
    assert set(values) <= set(main.params)
    # `azd pipeline config` refuses a prompted or generated parameter without an environment
    # variable to carry it to CI (pkg/pipeline/pipeline.go); unset or empty, azd still
    # generates it once and keeps it (armParameterFileValue, ensureParameters).
    assert values["ownerKeySecret"] == "${OWNER_KEY_SECRET}"
    assert main.decorators("ownerKeySecret")["metadata"]["azd"]["type"] == "generate"
    # the documented upstream audience (an Entra application) is one `azd env set` away
    assert values["upstreamAudience"] == "${WEB_PUBSUB_UPSTREAM_AUDIENCE}"
    for name in main.params:
        if main.param_default(name) is None and name not in values:
            assert main.decorators(name)["metadata"]["azd"]["type"] == "generate", name
    assert templates.main.parsed["globals"]["scope"]["value"] == "subscription"


def test_outputs_name_the_site_the_api_and_web_pubsub(templates: Templates) -> None:
    main = templates.main
    assert main.output("SERVICE_WEB_URI") == "web.outputs.uri"
    assert main.output("SERVICE_API_URI") == "api.outputs.uri"
    assert main.output("WEB_PUBSUB_ENDPOINT") == "https://${webPubSub.outputs.hostName}"
    assert main.output("WEB_PUBSUB_HUB") == "hubName"
