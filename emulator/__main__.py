"""`python -m emulator`: serve until Ctrl-C; print the connection string once listening."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import sys
from collections.abc import Sequence

from aiohttp import web

from .app import build_app
from .config import config_from_args


async def serve(argv: Sequence[str] | None = None) -> None:
    config = config_from_args(argv)
    runner = web.AppRunner(build_app(config), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        ssl_context = None
        if config.tls is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(config.tls.cert, config.tls.key)
        site = web.TCPSite(
            runner,
            config.host,
            config.port,
            backlog=2048,
            shutdown_timeout=5.0,
            ssl_context=ssl_context,
        )
        await site.start()
        print(config.connection_string, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(argv))
    except OSError as exc:  # typically the port is taken
        print(f"emulator: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
