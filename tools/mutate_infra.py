"""Re-introduce each deploy defect of issues 10 and 13 on its own and show that tests/infra
fails.

`python -m tools.mutate_infra` (or `make infra-mutations`): for every mutation below, a fresh
copy of the repository (harness.azd.copy_repository, with .venv-infra and node_modules
linked, `git init`ed so gitignore checks work) gets that one change, then
`pytest tests/infra` runs in the copy. A mutation that leaves tests/infra green is reported
as NOT CAUGHT and makes the tool exit 1. The unchanged copy runs first and must pass.
`--only NAME` runs a subset; `--jobs N` runs N copies at once (default 2).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.azd import copy_repository
from harness.bicep import REPO_ROOT

PYTEST_TIMEOUT_S = 900
FAILED_LINE = re.compile(r"^(?:FAILED|ERROR) (tests/infra/\S+?)(?: - |$)", re.MULTILINE)


def replace(relative: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / relative
        text = path.read_text()
        if old not in text:
            raise ValueError(f"{relative}: the text to mutate is gone; update the mutation")
        path.write_text(text.replace(old, new, 1))

    return apply


def regex(relative: str, pattern: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / relative
        text, count = re.subn(pattern, new, path.read_text(), count=1, flags=re.S)
        if count != 1:
            raise ValueError(f"{relative}: {pattern!r} matches nothing; update the mutation")
        path.write_text(text)

    return apply


def drop_parameter(name: str) -> Callable[[Path], None]:
    """Remove one parameter's entry from main.parameters.json (the file stays valid JSON)."""

    def apply(root: Path) -> None:
        path = root / "infra" / "main.parameters.json"
        document = json.loads(path.read_text())
        if name not in document["parameters"]:
            raise ValueError(f"main.parameters.json has no {name}; update the mutation")
        del document["parameters"][name]
        path.write_text(json.dumps(document, indent=2) + "\n")

    return apply


def copy_file(source: str, destination: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / destination).write_bytes((root / source).read_bytes())

    return apply


@dataclass(frozen=True)
class Mutation:
    name: str
    defect: str
    apply: Callable[[Path], None]


SITE_CONFIG = "      minTlsVersion: '1.2'\n"
SWA_TEMPLATE = "static_web/staticwebapp.config.template.json"
MUTATIONS = [
    Mutation(
        "1-ftpsState",
        "1. siteConfig.ftpsState on the Flex site",
        replace("infra/app/api.bicep", SITE_CONFIG, SITE_CONFIG + "      ftpsState: 'Disabled'\n"),
    ),
    Mutation(
        "1-http20Enabled",
        "1. siteConfig.http20Enabled on the Flex site",
        replace("infra/app/api.bicep", SITE_CONFIG, SITE_CONFIG + "      http20Enabled: true\n"),
    ),
    Mutation(
        "2-prebuild",
        "2. the client config written in the web service's prebuild hook",
        replace("azure.yaml", "      prepackage:\n", "      prebuild:\n"),
    ),
    Mutation(
        "3-two-swa-configs",
        "3. a second staticwebapp.config.json (the source) under static_web/",
        copy_file(
            "static_web/staticwebapp.config.template.json", "static_web/staticwebapp.config.json"
        ),
    ),
    Mutation(
        "4-owner-key-mapping",
        "4. ownerKeySecret without an environment mapping in main.parameters.json",
        drop_parameter("ownerKeySecret"),
    ),
    Mutation(
        "5-key-vault-reference",
        "5. an unresolved @Microsoft.KeyVault(...) reference accepted as a setting",
        replace("codestream/config.py", "    _refuse_unresolved_key_vault_references(env)\n", ""),
    ),
    Mutation(
        "6-capacity",
        "6. webPubSubCapacity as a 1-100 range instead of the allowed unit counts",
        regex(
            "infra/main.bicep",
            r"@allowed\(\[\n(  \d+\n)+\]\)\nparam webPubSubCapacity",
            "@minValue(1)\n@maxValue(100)\nparam webPubSubCapacity",
        ),
    ),
    Mutation(
        "6-location",
        "6. location without the @allowed list of Flex Consumption regions",
        regex(
            "infra/main.bicep",
            r"@allowed\(\[\n(  '[a-z0-9]+'\n)+\]\)\n(@metadata\(\{ azd: \{ type: 'location')",
            r"\2",
        ),
    ),
    Mutation(
        "6-pip-install",
        "6. setuptools discovery left to find devhost, emulator, bench ... (`pip install .`)",
        regex(
            "pyproject.toml",
            r'\[tool\.setuptools\]\npackages = \["codestream"\]\npy-modules = \["function_app"\]\n',
            "[tool.setuptools]\n",
        ),
    ),
    Mutation(
        "6-venv-in-package",
        "6. azd's <project>_env virtual environment in the Functions package",
        replace(".funcignore", "*_env\n", ""),
    ),
    Mutation(
        "6-coverage-in-package",
        "6. coverage files in the Functions package",
        replace(".funcignore", ".coverage\n.coverage.*\nhtmlcov\ncoverage.xml\n", ""),
    ),
    Mutation(
        "7-cors-preflight",
        "7. negotiate sent as application/json (a preflighted, non-simple CORS request)",
        replace(
            "static_web/src/net/negotiate.js",
            '      method: "POST",\n',
            '      method: "POST",\n      headers: { "content-type": "application/json" },\n',
        ),
    ),
    Mutation(
        "8-audience-hardwired",
        "8. the upstream audience hard-wired to the API identity (no upstreamAudience path)",
        regex(
            "infra/main.bicep",
            r"(    upstreamAudience: )empty\(upstreamAudience\) \? identity\.outputs\.clientId"
            r" : upstreamAudience",
            r"\1identity.outputs.clientId",
        ),
    ),
    Mutation(
        "8-audience-unmapped",
        "8. upstreamAudience not settable from the azd environment",
        drop_parameter("upstreamAudience"),
    ),
    # issue 13: stream storage
    Mutation(
        "13-role-on-the-account",
        "13. the streams data role scoped to the whole account, not the streams container",
        replace(
            "infra/app/rbac.bicep",
            "  scope: streamsContainer\n",
            "  scope: storageAccount\n",
        ),
    ),
    Mutation(
        "13-role-too-strong",
        "13. Storage Blob Data Owner instead of Contributor on the streams container",
        replace(
            "infra/app/rbac.bicep",
            "roleDefinitions', roles.storageBlobDataContributor)",
            "roleDefinitions', roles.storageBlobDataOwner)",
        ),
    ),
    Mutation(
        "13-no-retention",
        "13. the lifecycle rule filtering on another prefix (streams never deleted)",
        replace("infra/app/storage.bicep", "'${streamsContainer.name}/'", "'stream/'"),
    ),
    Mutation(
        "13-retention-hard-wired",
        "13. the retention a literal instead of the streamRetentionDays parameter",
        replace(
            "infra/app/storage.bicep",
            "daysAfterModificationGreaterThan: streamRetentionDays",
            "daysAfterModificationGreaterThan: 30",
        ),
    ),
    Mutation(
        "13-no-storage-setting",
        "13. StreamStorageAccountUrl missing from the app settings",
        replace(
            "infra/app/api.bicep", "  StreamStorageAccountUrl: streamStorageAccountUrl\n", ""
        ),
    ),
    Mutation(
        "13-container-name-drift",
        "13. the provisioned container named otherwise than the code's default",
        replace(
            "infra/main.bicep",
            "var streamsContainerName = 'streams'",
            "var streamsContainerName = 'stream'",
        ),
    ),
    Mutation(
        "13-public-container",
        "13. the streams container readable without credentials",
        regex(
            "infra/app/storage.bicep",
            r"(name: streamsContainerName\n  properties: \{\n    publicAccess: )'None'",
            r"\1'Blob'",
        ),
    ),
    Mutation(
        "14-site-url",
        "14. SiteUrl (where oEmbed points the embeds) missing from the app settings",
        replace("infra/app/api.bicep", "  SiteUrl: siteUrl\n", ""),
    ),
    Mutation(
        "14-framing-everywhere",
        "14. frame-ancestors * in the global CSP: every page may be framed",
        replace(SWA_TEMPLATE, "frame-ancestors 'none'", "frame-ancestors *"),
    ),
    Mutation(
        "14-embed-keeps-xfo",
        "14. the embed route keeps X-Frame-Options (the embed page cannot be framed)",
        replace(SWA_TEMPLATE, '"X-Frame-Options": ""', '"X-Frame-Options": "DENY"'),
    ),
    Mutation(
        "14-route-before-embed",
        "14. a route before /embed.html that matches it (the first match wins: no embed headers)",
        replace(
            SWA_TEMPLATE,
            '  "routes": [\n',
            '  "routes": [\n    {"route": "/*.html", "headers": {"Cache-Control": "no-cache"}},\n',
        ),
    ),
]  # fmt: skip


@dataclass
class Result:
    mutation: Mutation | None
    code: int
    failed: list[str]
    seconds: float
    tail: str


def run_one(mutation: Mutation | None) -> Result:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutate-infra-") as tmp:
        root = copy_repository(Path(tmp))
        (root / ".venv-infra").symlink_to(REPO_ROOT / ".venv-infra", target_is_directory=True)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True, timeout=60)  # noqa: S607
        if mutation is not None:
            mutation.apply(root)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/infra", "-q", "-rfE", "-p", "no:cacheprovider"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=PYTEST_TIMEOUT_S,
            check=False,
        )
    output = done.stdout + done.stderr
    failed = sorted(set(FAILED_LINE.findall(output)))
    tail = output.strip().splitlines()[-1] if output.strip() else ""
    return Result(mutation, done.returncode, failed, time.monotonic() - started, tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutate_infra", description=__doc__)
    parser.add_argument("--only", action="append", default=[], help="mutation name (repeatable)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    baseline = run_one(None)
    print(
        f"baseline (no mutation): exit {baseline.code}, {baseline.tail} ({baseline.seconds:.0f} s)"
    )
    if baseline.code != 0:
        print("the unchanged copy fails tests/infra: fix that first", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run_one, chosen))
    missed = 0
    print("\n| mutation | defect re-introduced | tests/infra | failing tests |")
    print("|---|---|---|---|")
    for result in results:
        assert result.mutation is not None
        caught = result.code != 0 and bool(result.failed)
        missed += not caught
        verdict = "fails" if caught else "**NOT CAUGHT**"
        tests = "<br>".join(f"`{t.removeprefix('tests/infra/')}`" for t in result.failed) or "-"
        print(f"| {result.mutation.name} | {result.mutation.defect} | {verdict} | {tests} |")
    print(f"\n{len(results) - missed} of {len(results)} mutations make tests/infra fail")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
