"""`python -m tools.audit`: known vulnerabilities in what ships.

Runs pip-audit on requirements.txt (the Function App's runtime dependencies, resolved) and
`npm audit --omit=dev` in static_web (the browser bundle's dependencies). Fails on any finding
that is not in EXCEPTIONS (each with its justification, also in tests/README.md). When an
advisory service cannot be reached (no network, or a registry mirror without the audit API),
that audit did not run: it says so loudly and, unless CODESTREAM_AUDIT_REQUIRED=1, does not
fail the build, because an unreachable service is not a vulnerability.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from harness.processes import REPO_ROOT

BIN = REPO_ROOT / ".venv" / "bin"
# advisory id -> why it does not apply or cannot be fixed yet (none today)
EXCEPTIONS: dict[str, str] = {}


@dataclass
class Result:
    tool: str
    ran: bool
    findings: list[str] = field(default_factory=list)
    note: str = ""


def _run(args: list[str], cwd: str) -> tuple[int, str, str]:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def runtime_pins() -> list[str]:
    """requirements.txt and everything it pulls in, as installed: `name==version` lines.

    Auditing these pins (no resolver, no throwaway venv) is what `pip-audit -r` would check,
    in a second instead of half a minute."""
    pins: dict[str, str] = {}
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    stack = [(Requirement(line), "") for line in lines if line.strip() and line[0] != "#"]
    while stack:
        req, extra = stack.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        if name in pins:
            continue
        dist = metadata.distribution(req.name)
        pins[name] = dist.version
        for extra_name in ("", *req.extras):
            stack += [(Requirement(r), extra_name) for r in dist.requires or []]
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def pip_audit() -> Result:
    tool = "pip-audit (requirements.txt, resolved as installed)"
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as pinned:
        pinned.write("\n".join(runtime_pins()) + "\n")
        pinned.flush()
        code, out, err = _run(
            [str(BIN / "pip-audit"), "--disable-pip", "--no-deps", "-r", pinned.name,
             "-f", "json", "--progress-spinner=off"],
            str(REPO_ROOT),
        )  # fmt: skip
    try:
        report = json.loads(out)
    except ValueError:
        return Result(tool, False, note=f"exit {code}: {err.strip()[-300:]}")
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        reason = deps[0]["skip_reason"] if deps else err.strip()[-300:]
        return Result(tool, False, note=f"no dependency could be audited ({reason})")
    findings = [
        f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v['fix_versions']) or '-'})"
        for d in audited
        for v in d.get("vulns", [])
        if v["id"] not in EXCEPTIONS and not set(v.get("aliases", [])) & set(EXCEPTIONS)
    ]
    skipped = len(deps) - len(audited)
    return Result(tool, True, findings, f"{len(audited)} audited, {skipped} skipped")


def npm_audit() -> Result:
    tool = "npm audit --omit=dev (static_web)"
    code, out, err = _run(["npm", "audit", "--omit=dev", "--json"], str(REPO_ROOT / "static_web"))
    try:
        report = json.loads(out)
    except ValueError:
        return Result(tool, False, note=f"exit {code}: {err.strip()[-300:]}")
    if "vulnerabilities" not in report:
        return Result(tool, False, note=str(report.get("message") or report.get("error"))[:300])
    findings = []
    for name, vuln in report["vulnerabilities"].items():
        ids = [v.get("url", "") for v in vuln.get("via", []) if isinstance(v, dict)]
        if ids and all(i in EXCEPTIONS for i in ids):
            continue
        findings.append(f"{name} ({vuln.get('severity')}): {', '.join(ids) or 'via a dependency'}")
    total = report.get("metadata", {}).get("dependencies", {}).get("prod", "?")
    return Result(tool, True, findings, f"{total} production dependencies")


def main() -> int:
    required = os.environ.get("CODESTREAM_AUDIT_REQUIRED") == "1"
    failed = False
    for result in (pip_audit(), npm_audit()):
        if not result.ran:
            print(f"AUDIT NOT RUN: {result.tool}: {result.note}", file=sys.stderr)
            failed |= required
        elif result.findings:
            print(f"AUDIT FAILED: {result.tool}:", *result.findings, sep="\n  ", file=sys.stderr)
            failed = True
        else:
            print(f"audit clean: {result.tool} ({result.note})")
    for advisory, why in EXCEPTIONS.items():
        print(f"audit exception {advisory}: {why}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
