"""Wake latency end to end: a real, idle, interactive Claude Code (tmux), connected by `team-table connect`, its
model the test suite's scripted stand-in; how long from another agent's message (its answer back) to the model's next
request, by each way the hub has. Uses the test suite's harness for the clients (tests/real_clients.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import anyio

from processes import listening
from seats import http_seating
from servers import NO_RATE_LIMIT, Workspace, network_hub, write_team

from support import free_port

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from model_stub import ModelStub, when
from real_clients import ClaudeHome, interactive

# Each way alone: the bench's own seat for alice (a bound HTTP session of the handshake era) takes channel notes, and
# the hub wakes once per event, so the way measured is the only one allowed.
WAYS = {"monitor": "[monitor]", "hook": "[hook]", "socket (stdio)": "[socket]"}


async def claude_wakes(ws: Workspace, samples: int) -> dict[str, list[float]]:
    """ms from bob's send answered to the model's next request, per way."""
    found: dict[str, list[float]] = {}
    for way, order in WAYS.items():
        found[way] = await _one_way(ws, way.split()[0], order, samples)
    return found


async def _one_way(ws: Workspace, way: str, order: str, samples: int) -> list[float]:
    folder = ws.folder(f"e2e-{way}")
    stdio = way == "socket"
    write_team(folder, hub={"transport": "stdio"} if stdio else None,
               extra=NO_RATE_LIMIT + "delivery:\n  wakes_per_minute: 600\n"
               + f"  wake_order: {order}\n")
    port = free_port()
    launcher = [sys.executable, "-m", "team_table"]
    took: list[float] = []
    with ModelStub() as model:
        async with listening(network_hub(launcher, folder, port), port, ws.logs / f"e2e-{way}.log", ws.env,
                             folder) as pid, http_seating(f"http://127.0.0.1:{port}/mcp", ["alice", "bob"], "legacy",
                                                          pid) as seating:
            alice, bob = seating.seats
            home = ClaudeHome(folder / "claude", model)
            home.variables["TEAM_TABLE_TOKEN_ALICE"] = alice.token
            args = ["--db", str(folder / "hub.db"), "--config", str(folder / "team.yaml")] if stdio else \
                ["--url", f"http://127.0.0.1:{port}"]
            env = {**ws.env, "HOME": str(home.root)}
            subprocess.run([*launcher, "connect", "claude-code", "alice", "--no-token", *args], check=True, env=env,
                           capture_output=True, cwd=home.workdir)
            model.script([when("Say hello", "Hello.")])
            async with interactive(home, "--allowedTools", "mcp__team-table") as session:
                await session.wait_for_log('MCP server "team-table": Connection established', within=60)
                await session.type("Say hello")
                await session.wait_for("Hello.", within=30)
                if not stdio:
                    await _until_way(f"http://127.0.0.1:{port}", alice.token, way)
                for _ in range(samples):
                    await _until_idle(session)
                    model.script(["Seen."])
                    mark = model.mark()
                    message = await bob.send("alice", "ping")
                    answered = time.perf_counter()
                    request = await model.until(f"(message {message})", within=20, after=mark)
                    took.append((request.arrived - answered) * 1000)
                    await alice.inbox()
    return took


async def _until_way(url: str, token: str, way: str, within: float = 60) -> None:
    """The hub has the way to wake alice (her plugin's monitor, or the wait hook of her last turn)."""
    import httpx2

    async with httpx2.AsyncClient(timeout=5) as http:
        with anyio.fail_after(within):
            while way not in (await http.get(f"{url}/agents/alice/waiting",
                                             headers={"Authorization": f"Bearer {token}"})).json()["ways"]:
                await anyio.sleep(0.1)


async def _until_idle(session, within: float = 60) -> None:
    with anyio.fail_after(within):
        while session.record().get("status") not in ("idle", "shell"):
            await anyio.sleep(0.1)
        await anyio.sleep(0.5)
