"""Start-up: from spawning a stdio server on pipes, as an MCP client does, to its answer to `initialize`.

The JSON-RPC is written and read here, by hand (one `initialize` line, then stdout read up to the answer), so
the figure is the server's and not a client library's. The hub runs in a folder with a team.yaml (stdio, 8
declared agents) and the shipped workflows; the bare server is an MCPServer of the same SDK with one tool.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from mcp import StdioServerParameters

from report import Report
from servers import Workspace, write_team

TARGET_RATIO = 1.1
SPAWNS = {"full": 11, "quick": 7}
INITIALIZE = json.dumps({
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "team-table-bench", "version": "1"}},
}) + "\n"


@dataclass
class Spawns:
    """The start-ups of one server: spawn to answer, and stdin closed to exit, in ms."""

    answer: list[float] = field(default_factory=list)
    exit: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def spawn_once(params: StdioServerParameters, log: Path, spawns: Spawns | None) -> None:
    """Spawn the server, send `initialize`, wait for its answer; close stdin and wait for it to exit."""
    with log.open("a") as errlog:
        start = time.perf_counter()
        proc = subprocess.Popen([params.command, *params.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=errlog, env=params.env, cwd=params.cwd)
    assert proc.stdin is not None and proc.stdout is not None  # both are pipes
    watchdog = threading.Timer(60, proc.kill)  # a server that never answers is killed, and reported
    watchdog.start()
    try:
        proc.stdin.write(INITIALIZE.encode())
        proc.stdin.flush()
        answer = None
        for line in proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not JSON-RPC: nothing an MCP client would read either
            if message.get("id") == 1:
                answer = message
                break
        answered = time.perf_counter()
        proc.stdin.close()
        proc.wait(20)
        exited = time.perf_counter()
    except (OSError, subprocess.TimeoutExpired) as exc:
        proc.kill()
        proc.wait()
        if spawns is not None:
            spawns.problems.append(f"{params.args}: {exc!r}")
        return
    finally:
        watchdog.cancel()
    if spawns is None:  # the warm-up
        return
    if answer is None or "result" not in answer:
        spawns.problems.append(f"{params.args}: no initialize result (exit status {proc.returncode}): {answer}")
        return
    spawns.answer.append((answered - start) * 1000)
    spawns.exit.append((exited - answered) * 1000)


def compare(servers: dict[str, StdioServerParameters], logs: Path, count: int) -> dict[str, Spawns]:
    """`count` timed start-ups of each server, taking turns so that both meet the same machine; one untimed
    start-up each first (it creates the hub's database and warms the file cache)."""
    found = {name: Spawns() for name in servers}
    for name, params in servers.items():
        spawn_once(params, logs / f"startup-{name}.log", None)
    for _ in range(count):
        for name, params in servers.items():
            spawn_once(params, logs / f"startup-{name}.log", found[name])
    return found


async def startup_part(ws: Workspace, quick: bool) -> bool:
    count = SPAWNS["quick" if quick else "full"]
    folder = ws.folder("startup")
    write_team(folder, agents=8, hub={"transport": "stdio"}, workflows=True)
    print(f"measuring start-up to the initialize answer, {count} spawns each...", file=sys.stderr)
    found = await anyio.to_thread.run_sync(compare, {"hub": ws.hub(folder), "bare": ws.bare_stdio()}, ws.logs,
                                           count)
    hub, bare = found["hub"], found["bare"]
    report = Report("start-up over stdio", quick)
    report.notes.append(f"{count} fresh spawns of each after one untimed each, taking turns; raw JSON-RPC on pipes, "
                        "initialize with protocolVersion 2025-06-18")
    for name, spawns in (("hub (team.yaml, 8 agents, workflows)", hub), ("bare MCPServer, one tool", bare)):
        if spawns.answer:
            report.value(f"{name}: spawn to initialize answer, median", f"{statistics.median(spawns.answer):.1f}")
            report.value(f"{name}: spawn to initialize answer, best", f"{min(spawns.answer):.1f}")
    if hub.answer and bare.answer:
        ratio = statistics.median(hub.answer) / statistics.median(bare.answer)
        report.value("ratio hub / bare, medians", f"{ratio:.2f}x", f"<= {TARGET_RATIO}x", ratio <= TARGET_RATIO)
        report.value("ratio hub / bare, best", f"{min(hub.answer) / min(bare.answer):.2f}x")
    if hub.exit:
        report.value("hub: stdin closed to exit, median", f"{statistics.median(hub.exit):.1f}")
    report.check("initialize answered", f"{len(hub.answer) + len(bare.answer)}/{2 * count}", "every spawn",
                 len(hub.answer) == len(bare.answer) == count)
    report.errors += hub.problems + bare.problems
    return report.print()
