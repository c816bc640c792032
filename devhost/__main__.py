"""`python -m devhost`: the whole product on this machine until Ctrl-C.

1. settings (environment, then local.settings.json; OwnerKeySecret generated if missing);
2. unless WebPubSubConnectionString/WebPubSubEndpoint is in the environment, the built-in
   emulator, with this host's event handler URL;
3. unless StreamStorageConnectionString/StreamStorageAccountUrl is in the environment,
   Azurite (blob service, loopback, a fresh account key each run, data in .azurite/);
4. function_app's routes (read from its FunctionApp), the built client at `/`, and a dev-only
   invocation counter at `/_devhost/invocations`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import secrets
import signal
import sys
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from codestream import routes
from devhost import settings
from devhost.azurite import AzuriteProcess, AzuriteSetup
from devhost.child_process import ChildProcess
from devhost.emulator_process import REPO_ROOT, EmulatorProcess
from devhost.functions import (
    Invocations,
    add_function_routes,
    add_invocation_counter,
    http_functions,
)
from devhost.static import StaticSite, add_static_routes

MAX_BODY = 8 * 1024 * 1024  # above Web PubSub's 1 MiB message limit; Functions allows 100 MB


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env_port = os.environ.get("PORT", "8080")
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=int(env_port), help="app port (8080)")
    parser.add_argument(
        "--emulator-port",
        type=int,
        default=int(os.environ.get("EMULATOR_PORT", "8081")),
        help="built-in emulator port (8081)",
    )
    parser.add_argument(
        "--emulator-access-key",
        default=None,
        help="access key for the built-in emulator (default: random each run)",
    )
    parser.add_argument(
        "--emulator-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="pass ARG to the built-in emulator (repeatable): --emulator-arg=--recovery-window=10",
    )
    parser.add_argument(
        "--storage-port",
        type=int,
        default=int(os.environ.get("STORAGE_PORT", "10000")),
        help="Azurite's blob port (10000)",
    )
    parser.add_argument(
        "--storage-account-key",
        default=None,
        help="Azurite's account key (default: random each run)",
    )
    parser.add_argument(
        "--storage-dir",
        type=Path,
        default=REPO_ROOT / ".azurite",
        help="Azurite's data folder (.azurite/, gitignored)",
    )
    parser.add_argument(
        "--settings",
        type=Path,
        default=REPO_ROOT / "local.settings.json",
        help="Functions settings file (gitignored)",
    )
    parser.add_argument("--static", type=Path, default=REPO_ROOT / "static_web" / "dist")
    return parser.parse_args(argv)


def route_prefix() -> str:
    host_json = REPO_ROOT / "host.json"
    if host_json.exists():
        http = json.loads(host_json.read_text()).get("extensions", {}).get("http", {})
        return str(http.get("routePrefix", routes.ROUTE_PREFIX))
    return routes.ROUTE_PREFIX


def ws_origin(endpoint: str) -> str:
    split = urlsplit(endpoint)
    scheme = "wss" if split.scheme == "https" else "ws"
    return f"{scheme}://{split.netloc}"


async def serve(args: argparse.Namespace) -> None:
    emulator: EmulatorProcess | None = None
    if not settings.external_service():
        handler_url = f"http://127.0.0.1:{args.port}{routes.EVENT_HANDLER_PATH}"
        key = args.emulator_access_key or secrets.token_hex(32)
        hub = settings.hub_name(args.settings)
        emulator = EmulatorProcess(
            "127.0.0.1", args.emulator_port, key, hub, handler_url, tuple(args.emulator_arg)
        )
    azurite: AzuriteProcess | None = None
    if not settings.external_storage():
        storage_dir = args.storage_dir.resolve()
        setup = AzuriteSetup("127.0.0.1", args.storage_port, storage_dir)
        if args.storage_account_key:
            setup = replace(setup, account_key=args.storage_account_key)
        azurite = AzuriteProcess(setup)
    settings.apply(
        args.settings,
        emulator.connection_string if emulator else None,
        azurite.setup.connection_string if azurite else None,
    )
    children: list[ChildProcess] = [c for c in (emulator, azurite) if c is not None]

    # imported only now: function_app reads its settings at import, as in Azure
    sys.path.insert(0, str(REPO_ROOT))
    function_app = importlib.import_module("function_app")
    service_endpoint = function_app.runtime.settings.endpoint

    counts = Invocations()
    web_app = web.Application(client_max_size=MAX_BODY)
    add_invocation_counter(web_app, counts)
    add_function_routes(web_app, http_functions(function_app.app, route_prefix()), counts)
    add_static_routes(web_app, StaticSite(args.static, ws_origin(service_endpoint)))

    runner = web.AppRunner(web_app, access_log=None, handle_signals=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        for child in children:
            await child.start()
        await runner.setup()
        try:
            await web.TCPSite(runner, args.host, args.port).start()
        except OSError as exc:
            raise SystemExit(f"cannot listen on port {args.port} ({exc}); set PORT") from None
        shown_host = "localhost" if args.host in ("127.0.0.1", "0.0.0.0") else args.host  # noqa: S104
        print(f"CodeStream is running at http://{shown_host}:{args.port}", flush=True)
        where = "built-in emulator" if emulator else "from the environment"
        print(f"Web PubSub ({where}): {service_endpoint}", flush=True)
        storage = function_app.runtime.settings.storage
        if azurite is not None:
            shown = f"Azurite {azurite.setup.blob_endpoint}, data in {azurite.setup.location}"
        else:
            shown = f"from the environment ({storage.account_url or 'connection string'})"
        print(f"Stream storage: {shown}, container {storage.container}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        await stop.wait()
        print("devhost: stopping", flush=True)
    finally:
        await runner.cleanup()
        await function_app.runtime.close()
        for child in reversed(children):
            await child.stop()


def main(argv: list[str] | None = None) -> int:
    log_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=log_format)
    logging.getLogger("azure").setLevel(logging.WARNING)
    args = parse_args(argv)
    from codestream.config import ConfigError

    try:
        asyncio.run(serve(args))
    except ConfigError as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
