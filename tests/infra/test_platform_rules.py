"""Rules of the hosting platforms that the resource schemas cannot express.

The schema of `Microsoft.Web/sites` is one for every plan, so a property that Flex Consumption
rejects passes the schema gate (test_schema.py) and fails only in ARM (error 51021). Each row
below names its source; infra/README.md ("Platform rules the schema cannot express") has the
same table for readers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.bicep import REPO_ROOT, Resource, Template, Templates, render

pytestmark = pytest.mark.infra

FLEX_DEPRECATIONS = (
    "Microsoft Learn, Azure Functions app settings reference, 'Flex Consumption plan "
    "deprecations' (learn.microsoft.com/azure/azure-functions/functions-app-settings"
    "#flex-consumption-plan-deprecations)"
)
ARM_51021 = (
    "ARM error 51021 'The following site configuration property (Site.SiteConfig.X) for Flex "
    "Consumption sites is invalid', as reported in Azure/terraform-azurerm-avm-res-web-site "
    "#283 and #345"
)
PORTAL = (
    "the Functions portal hides HTTP version / HTTP 2.0 for Flex apps "
    "(Azure/azure-functions-ux #7444, #7660); issue 10 of this project reports ARM refusing it"
)

# siteConfig properties (matched case-insensitively, under properties or properties.siteConfig).
FLEX_REJECTED_SITE_PROPERTIES: dict[str, str] = {
    "alwaysOn": FLEX_DEPRECATIONS,
    "containerSize": FLEX_DEPRECATIONS + " (renamed instanceMemoryMB)",
    "ftpsState": FLEX_DEPRECATIONS + "; " + ARM_51021,
    "http20Enabled": PORTAL,
    "isReserved": FLEX_DEPRECATIONS,
    "isXenon": FLEX_DEPRECATIONS,
    "javaVersion": FLEX_DEPRECATIONS,
    "linuxFxVersion": FLEX_DEPRECATIONS + "; " + ARM_51021,
    "netFrameworkVersion": FLEX_DEPRECATIONS + "; " + ARM_51021,
    "powerShellVersion": FLEX_DEPRECATIONS,
    "functionAppScaleLimit": FLEX_DEPRECATIONS + " (renamed maximumInstanceCount)",
    "preWarmedInstanceCount": FLEX_DEPRECATIONS + " (renamed alwaysReadyInstances)",
    "use32BitWorkerProcess": FLEX_DEPRECATIONS,
    "vnetBackupRestoreEnabled": FLEX_DEPRECATIONS,
    "vnetContentShareEnabled": FLEX_DEPRECATIONS,
    "vnetImagePullEnabled": FLEX_DEPRECATIONS,
    "vnetRouteAllEnabled": FLEX_DEPRECATIONS,
    "windowsFxVersion": FLEX_DEPRECATIONS,
}
FLEX_REJECTED_APP_SETTINGS: dict[str, str] = {
    name: FLEX_DEPRECATIONS
    for name in (
        "ENABLE_ORYX_BUILD",
        "FUNCTIONS_EXTENSION_VERSION",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_WORKER_RUNTIME_VERSION",
        "FUNCTIONS_MAX_HTTP_CONCURRENCY",
        "FUNCTIONS_WORKER_PROCESS_COUNT",
        "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTOVERVNET",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_DNS_SERVER",
        "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
        "WEBSITE_NODE_DEFAULT_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
        "WEBSITE_VNET_ROUTE_ALL",
    )
}

# Flex Consumption regions: the @allowed list of Microsoft's Flex quickstart template
# (Azure-Samples/functions-quickstart-python-http-azd, infra/main.bicep) without its canary
# region eastus2euap; `az functionapp list-flexconsumption-locations` prints today's list.
FLEX_REGIONS = {
    "australiaeast", "australiasoutheast", "brazilsouth", "canadacentral", "centralindia",
    "centralus", "eastasia", "eastus", "eastus2", "francecentral", "germanywestcentral",
    "italynorth", "japaneast", "koreacentral", "northcentralus", "northeurope", "norwayeast",
    "southafricanorth", "southcentralus", "southeastasia", "southindia", "spaincentral",
    "swedencentral", "uaenorth", "uksouth", "ukwest", "westcentralus", "westeurope", "westus",
    "westus2", "westus3",
}  # fmt: skip

# Web PubSub units: azure-mgmt-webpubsub 2.0.0 (api 2024-03-01) ResourceSku.capacity, "If
# present, following values are allowed: Free_F1: 1; Standard_S1: 1,2,...,10,20,30,...,100;
# Premium_P1: the same"; Microsoft Learn, Web PubSub "Scale up" lists the same unit counts.
WEB_PUBSUB_UNITS = [*range(1, 11), *range(20, 101, 10)]


def flex_sites(templates: Templates) -> list[tuple[Template, Resource]]:
    """Function apps on Flex Consumption: the sites that carry functionAppConfig."""
    return [
        (t, r)
        for t, r in templates.all_resources()
        if r.type == "Microsoft.Web/sites" and "functionAppConfig" in r.body.get("properties", {})
    ]


def app_setting_names(template: Template, settings: Any) -> set[str]:
    """Names of a siteConfig.appSettings value: a literal list or a loop over an object var."""
    if isinstance(settings, list):
        return {render(item["name"]) for item in settings}
    detail = settings["loop_type"]["detail"]
    source = template.var(detail["object_name"])
    assert isinstance(source, dict), "appSettings loops over an object variable"
    return {key.strip("'") for key in source}


def rejected_site_properties(site: Resource) -> list[str]:
    properties = site.body.get("properties", {})
    found = []
    for where, body in (("properties", properties), ("siteConfig", properties.get("siteConfig"))):
        for key in body or {}:
            for rejected in FLEX_REJECTED_SITE_PROPERTIES:
                if key.strip("'").lower() == rejected.lower():
                    found.append(f"{where}.{key}: {FLEX_REJECTED_SITE_PROPERTIES[rejected]}")
    return found


def test_the_function_app_is_a_flex_site(templates: Templates) -> None:
    sites = flex_sites(templates)
    assert [(t.path, r.symbol) for t, r in sites] == [("infra/app/api.bicep", "site")]


def test_flex_sites_set_no_property_flex_rejects(templates: Templates) -> None:
    for template, site in flex_sites(templates):
        assert rejected_site_properties(site) == [], template.path


def test_flex_sites_set_no_app_setting_flex_rejects(templates: Templates) -> None:
    for template, site in flex_sites(templates):
        names = app_setting_names(template, site.get("properties.siteConfig.appSettings"))
        assert len(names) >= 10
        upper = {n.upper() for n in names}
        assert sorted(upper & set(FLEX_REJECTED_APP_SETTINGS)) == []


def test_every_rule_names_its_source() -> None:
    for table in (FLEX_REJECTED_SITE_PROPERTIES, FLEX_REJECTED_APP_SETTINGS):
        for name, source in table.items():
            assert "learn.microsoft.com" in source or "#" in source, name
    readme = (REPO_ROOT / "infra" / "README.md").read_text()
    for name in [*FLEX_REJECTED_SITE_PROPERTIES, *FLEX_REJECTED_APP_SETTINGS]:
        assert f"`{name}`" in readme, f"infra/README.md's Flex table lacks {name}"


def test_location_is_limited_to_flex_consumption_regions(templates: Templates) -> None:
    main = templates.main
    allowed = main.decorators("location").get("allowed")
    assert allowed, "location needs an @allowed list of Flex Consumption regions"
    assert set(allowed) <= FLEX_REGIONS
    assert len(allowed) >= 20
    # every regional resource of the Function App's side follows `location`
    to_api = templates.module_params(main, "api")
    assert to_api["location"] == "location"


def test_web_pubsub_units_are_the_allowed_unit_counts(templates: Templates) -> None:
    main = templates.main
    assert main.decorators("webPubSubCapacity").get("allowed") == WEB_PUBSUB_UNITS
    assert main.param_default("webPubSubCapacity") in WEB_PUBSUB_UNITS
    module = templates["infra/app/webpubsub.bicep"]
    assert module.decorators("capacity").get("allowed") == WEB_PUBSUB_UNITS
    service = module.one("Microsoft.SignalRService/webPubSub")
    assert render(service.get("sku.capacity")) == "sku == Free_F1 ? 1 : capacity"


def test_the_parameter_file_can_choose_the_sku_and_units() -> None:
    parameters = json.loads((REPO_ROOT / "infra" / "main.parameters.json").read_text())
    values = {name: body["value"] for name, body in parameters["parameters"].items()}
    assert values["webPubSubSku"] == "${WEB_PUBSUB_SKU=Free_F1}"
    assert values["webPubSubCapacity"] == "${WEB_PUBSUB_CAPACITY=1}"
