"""The runner part: agents the hub starts itself (team.yaml `run:`).

- start latency: a task is created for an agent that is not running; the figure is the time from the task's
  creation to the agent's first tool call (its next_task, as the audit log records it), split into the
  supervisor's part (creation to the run's start) and the run's own (its process and MCP client starting);
- idle: the CPU of a network hub with 20 agents declared with `run:` and nothing waiting for them, beside the same
  team without `run:` (measured together over one window);
- running: the CPU of a hub while 10 runs are alive, each printing a line a second (the hub reads and keeps their
  output), and of their keepers.

The agent is a small script that speaks MCP over plain HTTP (urllib): its start costs what an interpreter costs,
so the figures are the hub's, not a client SDK's import time.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import anyio
import httpx2

from processes import cpu_ms, listening
from report import Report
from servers import Workspace, network_hub
from team_table import tokens

from support import free_port

TARGET_IDLE_SHARE = 0.5  # per cent of one core, for the supervisor with 20 idle agents
TARGET_START_MS = 1000.0  # work created -> the agent's first tool call, for a command run
LATENCY_RUNS = {"full": 15, "quick": 6}
WINDOW_SECONDS = {"full": 20.0, "quick": 10.0}

# One call of the hub's MCP endpoint per request, in the 2025 handshake: initialize, then tools/call.
LIGHT_AGENT = r'''
import json, os, sys, urllib.request

URL, TOKEN = os.environ["TEAM_TABLE_URL"], os.environ["TEAM_TABLE_TOKEN"]
session = None


def post(body):
    global session
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    if session:
        headers["Mcp-Session-Id"] = session
    with urllib.request.urlopen(urllib.request.Request(URL, json.dumps(body).encode(), headers)) as answer:
        session = answer.headers.get("Mcp-Session-Id") or session
        data = answer.read()
    return json.loads(data) if data else None


def call(tool, **arguments):
    answer = post({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
    return json.loads(answer["result"]["content"][0]["text"])


sys.stdin.read()
post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
      "capabilities": {}, "clientInfo": {"name": "bench-agent", "version": "1"}}})
post({"jsonrpc": "2.0", "method": "notifications/initialized"})
task = call("next_task")
if task.get("id"):
    call("update_task", task_id=task["id"], status="done", result="done")
print("did", task.get("id"), flush=True)
'''

CHATTY_AGENT = "import time\nwhile True:\n    print('working on it', flush=True)\n    time.sleep(1)\n"


def _team(lead: str, agents: dict[str, dict | None]) -> str:
    lines = ["limits:", "  rate: {writes: 1000000, window_seconds: 60}", "runner:", "  max_running: 50",
             "agents:", "  boss:", "    role: lead", f"    token_hashes: [\"{tokens.file_hash(lead)}\"]"]
    for name, run in agents.items():
        lines += [f"  {name}:", "    role: coder"]
        if run:
            lines.append(f"    run: {json.dumps(run)}")
    return "\n".join(lines) + "\n"


async def runner_part(ws: Workspace, quick: bool) -> bool:
    report = Report("runner (agents the hub runs)", quick)
    light = ws.root / "light_agent.py"
    light.write_text(LIGHT_AGENT)
    chatty = ws.root / "chatty_agent.py"
    chatty.write_text(CHATTY_AGENT)
    await _latency(ws, report, light, LATENCY_RUNS["quick" if quick else "full"])
    window = WINDOW_SECONDS["quick" if quick else "full"]
    await _idle(ws, report, light, window)
    await _running(ws, report, chatty, window)
    return report.print()


async def _latency(ws: Workspace, report: Report, light: Path, runs: int) -> None:
    folder, lead = ws.folder("runner-latency"), tokens.mint()
    (folder / "team.yaml").write_text(_team(lead, {"builder": {"command": [sys.executable, str(light)]}}))
    port = free_port()
    print(f"runner: start latency over {runs} runs...", file=sys.stderr)
    launcher = [sys.executable, "-m", "team_table"]
    async with listening(network_hub(launcher, folder, port), port, ws.logs / "runner-latency.log", ws.env, folder), \
            httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                               headers={"Authorization": f"Bearer {lead}"}) as http:
        from team_table.store import open_store

        await _ready(port)
        store = open_store(folder / "hub.db", read_only=True)
        try:
            total, supervisor, own = [], [], []
            for number in range(1, runs + 1):
                await _call(http, "create_task", title=f"Task {number}", assignee="builder")
                with anyio.fail_after(60):
                    while not store.query("SELECT 1 FROM agent_run WHERE id = ? AND ended_at IS NOT NULL",
                                          (number,)):
                        await anyio.sleep(0.02)
                created = store.query("SELECT created_at FROM task WHERE id = ?", (number,))[0][0]
                started = store.query("SELECT started_at FROM agent_run WHERE id = ?", (number,))[0][0]
                called = store.query("SELECT at FROM audit WHERE actor = 'builder' AND action = 'claim_task' AND"
                                     " target_id = ?", (str(number),))
                if not called:
                    report.errors.append(f"run {number} made no next_task call")
                    continue
                total.append(_ms(created, called[0][0]))
                supervisor.append(_ms(created, started))
                own.append(_ms(started, called[0][0]))
        finally:
            store.close()
    report.timing("work created -> the agent's first tool call", total, f"< {TARGET_START_MS:.0f} ms p50",
                  bool(total) and statistics.median(total) < TARGET_START_MS)
    report.timing("  work created -> its run started (the supervisor)", supervisor)
    report.timing("  run started -> first tool call (process, interpreter, MCP handshake)", own)
    report.check("runs that did their task", f"{len(total)}/{runs}", "all", len(total) == runs)


async def _call(http: httpx2.AsyncClient, tool: str, **arguments) -> None:
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    init = await http.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    headers["Mcp-Session-Id"] = init.headers["mcp-session-id"]
    await http.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    answer = await http.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                                            "params": {"name": tool, "arguments": arguments}})
    assert not answer.json()["result"].get("isError"), answer.text


async def _ready(port: int) -> None:
    """Once the hub answers (it listens before its database is ready: connections wait in the backlog)."""
    async with httpx2.AsyncClient(timeout=60) as http:
        assert (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200


def _ms(since: str, until: str) -> float:
    from team_table.clock import parse_iso

    return (parse_iso(until) - parse_iso(since)).total_seconds() * 1000


async def _idle(ws: Workspace, report: Report, light: Path, window: float) -> None:
    lead = tokens.mint()
    folders = {"with run:": ws.folder("runner-idle"), "without run:": ws.folder("runner-idle-baseline")}
    for label, folder in folders.items():
        run = {"command": [sys.executable, str(light)]} if label == "with run:" else None
        (folder / "team.yaml").write_text(_team(lead, {f"agent-{n}": run for n in range(20)}))
    ports = {label: free_port() for label in folders}
    launcher = [sys.executable, "-m", "team_table"]
    print(f"runner: two idle hubs of 20 agents for 3 + {window:.0f} s...", file=sys.stderr)
    async with listening(network_hub(launcher, folders["with run:"], ports["with run:"]), ports["with run:"],
                         ws.logs / "runner-idle.log", ws.env, folders["with run:"]) as with_run, \
            listening(network_hub(launcher, folders["without run:"], ports["without run:"]), ports["without run:"],
                      ws.logs / "runner-idle-baseline.log", ws.env, folders["without run:"]) as without:
        await _ready(ports["with run:"])
        await _ready(ports["without run:"])
        await anyio.sleep(3.0)
        pids = {"with run:": with_run, "without run:": without}
        before = {label: cpu_ms({pid}) for label, pid in pids.items()}
        start = time.perf_counter()
        await anyio.sleep(window)
        elapsed = time.perf_counter() - start
        shares = {label: (cpu_ms({pid}) - before[label]) / (elapsed * 1000) * 100 for label, pid in pids.items()}
    report.value("idle hub, 20 agents with run: (CPU, % of one core)", f"{shares['with run:']:.2f}",
                 f"< {TARGET_IDLE_SHARE} %", shares["with run:"] < TARGET_IDLE_SHARE)
    report.value("idle hub, the same 20 agents without run: (baseline)", f"{shares['without run:']:.2f}")


async def _running(ws: Workspace, report: Report, chatty: Path, window: float) -> None:
    folder, lead = ws.folder("runner-busy"), tokens.mint()
    run = {"command": [sys.executable, str(chatty)], "start": "always", "grace_seconds": 2}
    (folder / "team.yaml").write_text(_team(lead, {f"agent-{n}": run for n in range(10)}))
    port = free_port()
    launcher = [sys.executable, "-m", "team_table"]
    print(f"runner: a hub running 10 agents for 5 + {window:.0f} s...", file=sys.stderr)
    async with listening(network_hub(launcher, folder, port), port, ws.logs / "runner-busy.log", ws.env, folder) \
            as pid:
        from team_table.store import open_store

        await _ready(port)
        store = open_store(folder / "hub.db", read_only=True)
        try:
            with anyio.fail_after(60):
                while len(store.query("SELECT 1 FROM agent_run WHERE ended_at IS NULL AND pid IS NOT NULL")) < 10:
                    await anyio.sleep(0.1)
            await anyio.sleep(5.0)
            keepers = {row[0] for row in store.query("SELECT pid FROM agent_run WHERE ended_at IS NULL")}
            before, kept = cpu_ms({pid}), cpu_ms(keepers)
            start = time.perf_counter()
            await anyio.sleep(window)
            elapsed = time.perf_counter() - start
            hub_share = (cpu_ms({pid}) - before) / (elapsed * 1000) * 100
            keeper_share = (cpu_ms(keepers) - kept) / (elapsed * 1000) * 100
            alive = len(store.query("SELECT 1 FROM agent_run WHERE ended_at IS NULL"))
        finally:
            store.close()
    report.value("hub with 10 runs alive, each printing a line a second (CPU, % of one core)", f"{hub_share:.2f}")
    report.value("  their 10 keepers together (CPU, % of one core)", f"{keeper_share:.2f}")
    report.check("runs alive through the window", f"{alive}/10", "10", alive == 10)
