"""CodeStream's side of the comparison: the shipped client cores, run under Node.

`harness/node/bench-ours.mjs` plays the streamer and the watchers with the very modules the
pages run (`static_web/src/core/streamer-state.js`, `watcher-state.js`, `delta.js`...) over
Microsoft's `@azure/web-pubsub-client`, against the dev host (negotiate over HTTP, as the
pages do) or a bare emulator. This module starts it for one phase, hands it the phase's
parameters as JSON on stdin, echoes its progress lines and returns its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from typing import Any

from bench import REPO_ROOT

DRIVER = REPO_ROOT / "harness" / "node" / "bench-ours.mjs"
NODE_MODULES = REPO_ROOT / "harness" / "node" / "node_modules"
LIMIT_BYTES = 64 * 2**20  # one result line can carry every latency of a phase


class OursFailed(RuntimeError):
    pass


async def run_phase(phase: str, params: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Runs one phase of bench-ours.mjs; its {"say"} lines are printed as they come."""
    node = shutil.which("node")
    if node is None:
        raise OursFailed("node is not installed (the ours mode runs the JS client under Node)")
    if not NODE_MODULES.is_dir():
        raise OursFailed("harness/node/node_modules is missing: `cd harness/node && npm ci`")
    proc = await asyncio.create_subprocess_exec(
        node,
        str(DRIVER),
        phase,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=LIMIT_BYTES,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdin.write(json.dumps(params).encode())
    await proc.stdin.drain()
    proc.stdin.close()
    stdout, stderr = proc.stdout, proc.stderr

    async def read() -> dict[str, Any]:
        result: dict[str, Any] | None = None
        error = ""
        async for raw in stdout:
            line = json.loads(raw)
            if "say" in line:
                print(line["say"], flush=True)
            elif "result" in line:
                result = line["result"]
            elif "error" in line:
                error = line["error"]
        await proc.wait()
        if result is None or proc.returncode != 0:
            tail = (await stderr.read()).decode(errors="replace")[-2000:]
            raise OursFailed(f"bench-ours.mjs {phase} exited {proc.returncode}: {error}\n{tail}")
        return result

    try:
        return await asyncio.wait_for(read(), timeout_s)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
