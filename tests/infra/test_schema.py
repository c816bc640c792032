"""Every resource body in infra/ against its type's schema at the api-version it names.

The schemas come from Azure's management SDKs pinned in infra/requirements-check.txt (their
msrest models: `_attribute_map`, `_validation`, enum types), found through each SDK's own PUT
operation for the resource type (tools/arm_schemas.py). The walk is generic: a resource added
to any template is checked with no change here, and one whose type or api-version no pinned
SDK has fails until an SDK that has it is pinned.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from harness.arm_schema import SchemaCheck, wanted_schemas
from harness.bicep import REPO_ROOT, Templates, run_arm_schemas, run_dump

pytestmark = pytest.mark.infra


def test_every_resource_type_has_a_schema_from_a_pinned_sdk(
    templates: Templates, schemas: dict[str, Any]
) -> None:
    wanted = wanted_schemas(templates)
    assert len(wanted) >= 15
    assert schemas["missing"] == {}
    assert set(schemas["schemas"]) == set(wanted)
    pins = (REPO_ROOT / "infra" / "requirements-check.txt").read_text()
    for item, found in schemas["schemas"].items():
        distribution, version = found["source"].split(":")[0].split()
        assert re.search(rf"^{re.escape(distribution)}=={re.escape(version)}\b", pins, re.M), item
        # the models module of the exact api-version (multi-api packages: vYYYY_MM_DD)
        api_module = "v" + item.split("@")[1].replace("-", "_")
        single_api = {"azure-mgmt-webpubsub", "azure-mgmt-loganalytics"}
        assert api_module in found["root"] or distribution in single_api, found


def test_every_resource_body_matches_its_schema(
    templates: Templates, schemas: dict[str, Any]
) -> None:
    findings = [str(f) for f in SchemaCheck(schemas).check(templates)]
    assert findings == []
    checked = [r for _t, r in templates.all_resources() if not r.existing]
    assert len(checked) >= 20


# Each plant: (file, text to replace, replacement, the finding it must produce).
PLANTS = {
    "misspelt property": (
        "infra/app/api.bicep",
        "minTlsVersion: '1.2'",
        "minTlsVersion: '1.2'\n      ftpsStat: 'Disabled'",
        "properties.siteConfig.ftpsStat is not a property of this resource type at this "
        "api-version (did you mean ftpsState?)",
    ),
    "property in the wrong case": (
        "infra/app/api.bicep",
        "httpsOnly: true",
        "HttpsOnly: true",
        "properties.HttpsOnly is not in the schema; its property is spelt 'httpsOnly'",
    ),
    "wrong type": (
        "infra/app/storage.bicep",
        "allowSharedKeyAccess: false",
        "allowSharedKeyAccess: 'false'",
        "properties.allowSharedKeyAccess must be bool, got str 'false'",
    ),
    "value outside the enum": (
        "infra/app/storage.bicep",
        "minimumTlsVersion: 'TLS1_2'",
        "minimumTlsVersion: 'TLS1_3_PREVIEW'",
        "properties.minimumTlsVersion = 'TLS1_3_PREVIEW' is not one of "
        "['TLS1_0', 'TLS1_1', 'TLS1_2', 'TLS1_3']",
    ),
    "read-only property": (
        "infra/app/webpubsub.bicep",
        "disableLocalAuth: true",
        "disableLocalAuth: true\n    hostName: 'wps.example'",
        "properties.hostName is read-only in the schema",
    ),
    "enum value through a parameter's @allowed": (
        "infra/app/webpubsub-hub.bicep",
        "type: 'ManagedIdentity'",
        "type: authType",
        "properties.eventHandlers[0].auth.type (parameter authType) @allowed = 'Entra' is not "
        "one of ['None', 'ManagedIdentity']",
    ),
    "missing required property": (
        "infra/app/webpubsub-hub.bicep",
        "        urlTemplate: eventHandlerUrl\n",
        "",
        "properties.eventHandlers[0].urlTemplate is required by the schema",
    ),
}


AUTH_TYPE_PARAM = "@allowed([\n  'ManagedIdentity'\n  'Entra'\n])\nparam authType string\n"


@pytest.fixture(scope="module")
def planted_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Each plant in its own copy of its template; one parse and one schema read for all."""
    folder = tmp_path_factory.mktemp("planted")
    paths: dict[str, Path] = {}
    for index, (plant, (relative, old, new, _)) in enumerate(sorted(PLANTS.items())):
        source = (REPO_ROOT / relative).read_text()
        assert old in source, f"{plant}: the template changed; update the plant"
        planted = source.replace(old, new, 1)
        if "parameter's @allowed" in plant:
            planted = AUTH_TYPE_PARAM + planted
        paths[plant] = folder / f"{index}-{Path(relative).name}"
        paths[plant].write_text(planted)
    dump = run_dump(*paths.values())
    assert dump["errors"] == {}
    planted = Templates(dump["bicep"])
    findings = SchemaCheck(run_arm_schemas(wanted_schemas(planted))).check(planted)
    return {
        plant: [f.problem for f in findings if f.where.startswith(f"{path}:")]
        for plant, path in paths.items()
    }


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_the_gate_finds_a_planted_defect(
    planted_findings: dict[str, list[str]], plant: str
) -> None:
    assert planted_findings[plant] == [PLANTS[plant][3]]


LIFECYCLE_POLICY = """
param accountName string
resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-streams'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                'streams/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: 30
                }
              }
            }
          }
        }
      ]
    }
  }
}
"""


def test_a_resource_type_no_template_has_yet_is_checked_too(tmp_path: Path) -> None:
    # a storage lifecycle policy (the next issue adds one): no gate code knows this type
    good, bad = tmp_path / "good.bicep", tmp_path / "bad.bicep"
    good.write_text(LIFECYCLE_POLICY)
    bad.write_text(
        LIFECYCLE_POLICY.replace("prefixMatch:", "prefixMatches:").replace(
            "GreaterThan: 30", "GreaterThan: '30'"
        )
    )
    dump = run_dump(good, bad)
    planted = Templates(dump["bicep"])
    schema = run_arm_schemas(wanted_schemas(planted))
    assert schema["missing"] == {}
    findings = {
        path.name: [f.problem for f in SchemaCheck(schema).check(planted) if str(path) in f.where]
        for path in (good, bad)
    }
    assert findings["good.bicep"] == []
    at = "properties.policy.rules[0].definition"
    assert findings["bad.bicep"] == [
        f"{at}.filters.prefixMatches is not a property of this resource type at this "
        "api-version (did you mean prefixMatch?)",
        f"{at}.actions.baseBlob.delete.daysAfterModificationGreaterThan must be float, "
        "got str '30'",
    ]
