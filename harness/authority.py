"""A local TLS test CA and a local OpenID authority (harness/node/authority.mjs), for running
the app in its Azure auth configuration on this machine.

`local_ca()` makes a CA with trustme and a certificate for 127.0.0.1 signed by it;
`start_authority(...)` runs Microsoft-Entra-shaped oidc-provider with that certificate.
Processes that must trust the CA get `SSL_CERT_FILE` / `REQUESTS_CA_BUNDLE` pointing at it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from .processes import REPO_ROOT

NODE_DIR = REPO_ROOT / "harness" / "node"
READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class LocalCA:
    ca_file: Path  # PEM of the CA: what clients trust
    cert_file: Path  # server chain for 127.0.0.1
    key_file: Path

    def trust_env(self) -> dict[str, str]:
        """Environment that makes OpenSSL (aiohttp, urllib) and requests trust only this CA."""
        return {"SSL_CERT_FILE": str(self.ca_file), "REQUESTS_CA_BUNDLE": str(self.ca_file)}


@contextlib.contextmanager
def local_ca() -> Iterator[LocalCA]:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    with tempfile.TemporaryDirectory(prefix="codestream-tls-") as tmp:
        root = Path(tmp)
        ca_file, cert_file, key_file = root / "ca.pem", root / "server.pem", root / "server.key"
        ca.cert_pem.write_to_path(str(ca_file))
        server.private_key_pem.write_to_path(str(key_file))
        cert_file.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
        yield LocalCA(ca_file, cert_file, key_file)


@dataclass(frozen=True)
class Principal:
    """An app (service principal) the authority knows: client id, secret, object id."""

    name: str
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class RunningAuthority:
    port: int
    issuer: str
    tenant_id: str
    process: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        """What AZURE_AUTHORITY_HOST and the other authority settings take."""
        return f"https://127.0.0.1:{self.port}"


@contextlib.contextmanager
def start_authority(
    ca: LocalCA, tenant_id: str, principals: Sequence[Principal], resources: Sequence[str]
) -> Iterator[RunningAuthority]:
    config = {
        "tenant": tenant_id,
        "cert": str(ca.cert_file),
        "key": str(ca.key_file),
        "clients": [
            {"id": p.client_id, "secret": p.secret, "oid": p.object_id} for p in principals
        ],
        "resources": list(resources),
    }
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept open for the child's lifetime)
        prefix="codestream-authority-", suffix=".log", delete=False
    )
    proc = subprocess.Popen(
        ["node", str(NODE_DIR / "authority.mjs")],  # noqa: S607 (node from PATH, as npm runs)
        cwd=NODE_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        env={**os.environ, "AUTHORITY_CONFIG": json.dumps(config)},
    )
    try:
        ready = _ready_line(proc, Path(log.name))
        yield RunningAuthority(int(ready["port"]), str(ready["issuer"]), tenant_id, proc)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _ready_line(proc: subprocess.Popen[bytes], log: Path) -> dict[str, object]:
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        readable, _, _ = select.select([proc.stdout], [], [], 0.2)
        if readable:
            line = proc.stdout.readline()
            if line:
                return dict(json.loads(line))
        if proc.poll() is not None:
            raise RuntimeError(f"the authority exited with {proc.returncode}:\n{log.read_text()}")
    proc.kill()
    raise TimeoutError(f"the authority did not start in {READY_TIMEOUT}s:\n{log.read_text()}")
