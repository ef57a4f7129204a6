"""Hearing the table: how soon an idle agent is woken, what receipts cost, what holding wake paths open costs.

- wake latency, the hub's share: a message sent (its answer back) → the pointer handed to the way: over HTTP to a
  plugin monitor's stream and to a waiting hook, over stdio into a Claude Code session's messaging socket (a Unix
  socket the bench listens on, as Claude Code does);
- wake latency end to end, when the real clients are installed (tests/real_clients.py finds them): → the model's
  next request, from an idle interactive Claude Code 2.1.332 in tmux, by each way;
- receipts: the CPU a send spends on its receipt (the answered-thread check), as a share of a send's hub CPU;
- idle: CPU of 50 agents each holding a wake path open, for 20 s: 50 monitor streams on one network hub, and 50
  stdio hub processes bound to a Claude Code session's socket.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx2

from processes import cpu_ms, listening
from report import Report
from seats import http_seating
from servers import NO_RATE_LIMIT, Workspace, network_hub, write_team

from support import free_port

FAST = "delivery:\n  wakes_per_minute: 600\n"
SAMPLES = {"full": 40, "quick": 15}
IDLE_AGENTS = 50
IDLE_WINDOW = {"full": 20.0, "quick": 10.0}
TARGET_IDLE = 1.0  # % of a core for 50 agents holding wake paths
TARGET_RECEIPTS = 5.0  # % of a send's hub CPU


async def hearing_part(ws: Workspace, mode: str, quick: bool) -> bool:
    report = Report("hearing the table", quick, mode)
    samples = SAMPLES["quick" if quick else "full"]
    await _http_wakes(ws, mode, samples, report)
    await _stdio_wakes(ws, samples, report)
    await _clients(ws, report, 3 if quick else 6)
    await _receipts(ws, mode, report)
    await _idle(ws, mode, IDLE_WINDOW["quick" if quick else "full"], report)
    return report.print()


async def hearing_idle_part(ws: Workspace, mode: str, quick: bool) -> bool:
    """The idle piece of the hearing part alone (part `hearing-idle`): what holding wake paths open costs."""
    report = Report("hearing the table: idle", quick, mode)
    await _idle(ws, mode, IDLE_WINDOW["quick" if quick else "full"], report)
    return report.print()


async def _http_wakes(ws: Workspace, mode: str, samples: int, report: Report) -> None:
    folder = ws.folder("hearing-http")
    write_team(folder, extra=NO_RATE_LIMIT + FAST)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    launcher = [sys.executable, "-m", "team_table"]
    async with listening(network_hub(launcher, folder, port), port, ws.logs / "hearing-http.log", ws.env,
                         folder) as pid, http_seating(f"{url}/mcp", ["alice", "bob"], mode, pid) as seating:
        alice, bob = seating.seats
        for way in ("monitor", "hook"):
            took: list[float] = []
            async with httpx2.AsyncClient(timeout=httpx2.Timeout(10, read=30)) as http:
                for _ in range(samples if way == "hook" else 1):
                    async with http.stream("GET", f"{url}/agents/alice/wakes", params={"via": way},
                                           headers={"Authorization": f"Bearer {alice.token}"}) as stream:
                        lines = stream.aiter_lines()
                        await _next_event(lines, "ready")
                        for _ in range(1 if way == "hook" else samples):
                            sent = time.perf_counter()
                            await bob.send("alice", "ping")
                            answered = time.perf_counter()
                            await _next_event(lines, "wake")
                            took.append((time.perf_counter() - answered) * 1000)
                            await alice.inbox()  # read: the next wake is for the next message only
                            del sent
            report.timing(f"HTTP, {way}: send answered -> pointer at the way (ms)", took, "reference")
        report.tool_errors(seating.tally.errors)


async def _next_event(lines, kind: str) -> str:
    event = ""
    with anyio.fail_after(10):
        async for line in lines:
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:") and event == kind:
                return line.partition(":")[2].strip()
    raise RuntimeError(f"the stream ended before a {kind} event")


async def _stdio_wakes(ws: Workspace, samples: int, report: Report) -> None:
    """Two stdio hub processes on one file: alice's started by a Claude Code session (its socket), bob's writing."""
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    folder = ws.folder("hearing-stdio")
    write_team(folder, hub={"transport": "stdio", "require_tokens": "false"}, extra=NO_RATE_LIMIT + FAST)
    path = Path(tempfile.mkdtemp(prefix="tt-sock-")) / "session.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(16)
    listener.settimeout(10)

    def params(**extra: str) -> StdioServerParameters:
        return StdioServerParameters(command=sys.executable, args=["-m", "team_table.server"], cwd=str(folder),
                                     env={**ws.env, "TEAM_TABLE_DB": str(folder / "hub.db"),
                                          "TEAM_TABLE_CONFIG": str(folder / "team.yaml"), **extra})

    took: list[float] = []
    with (ws.logs / "hearing-stdio.log").open("a") as errlog:
        async with Client(stdio_client(params(), errlog=errlog), mode="legacy") as bob:
            for name in ("alice", "bob"):
                await bob.call_tool("register", {"name": name})
            async with Client(stdio_client(params(TEAM_TABLE_AGENT="alice", CLAUDE_CODE_MESSAGING_SOCKET=str(path)),
                                           errlog=errlog), mode="legacy") as alice:
                await alice.call_tool("heartbeat", {})
                for _ in range(samples):
                    await bob.call_tool("send_message", {"sender": "bob", "recipient": "alice", "content": "ping"})
                    answered = time.perf_counter()
                    frames = await anyio.to_thread.run_sync(_accept, listener)
                    took.append((time.perf_counter() - answered) * 1000)
                    assert frames and frames[-1]["type"] == "user", frames
                    await alice.call_tool("get_messages", {})
    listener.close()
    report.timing("stdio, Claude Code's socket: send answered -> frame on the socket (ms)", took, "reference")


def _accept(listener: socket.socket) -> list[dict]:
    conn, _ = listener.accept()
    with conn:
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return [json.loads(line) for line in data.decode().splitlines() if line]


async def _clients(ws: Workspace, report: Report, samples: int) -> None:
    """End to end with a real, idle, interactive Claude Code (when the pinned clients are installed)."""
    if not os.environ.get("TEAM_TABLE_CLIENTS_DIR"):
        report.after.append("end to end with Claude Code: skipped (set TEAM_TABLE_CLIENTS_DIR to a folder with the "
                            "pinned clients in node_modules/.bin, e.g. what .ci/run installs)")
        return
    from end_to_end import claude_wakes

    for way, figures in (await claude_wakes(ws, samples)).items():
        report.timing(f"Claude Code 2.1.332, {way}: send answered -> the model's next request (ms)", figures,
                      "< 2000", bool(figures) and max(figures) < 2000)


async def _receipts(ws: Workspace, mode: str, report: Report) -> None:
    """A send's receipt work, measured in-process on the domain call (with it, and with it left out), against the
    hub CPU of one send over HTTP."""
    from team_table import delivery, receipts

    per_send = await anyio.to_thread.run_sync(_domain_send_cpu, ws)
    saved = receipts.answered
    try:
        receipts.answered = lambda *args, **kwargs: None  # what a send would cost with no receipt to keep
        delivery.receipts.answered = receipts.answered
        without = await anyio.to_thread.run_sync(_domain_send_cpu, ws)
    finally:
        receipts.answered = saved
        delivery.receipts.answered = saved
    hub_send = await _hub_cpu_per_send(ws, mode)
    share = max(0.0, per_send - without) / hub_send * 100
    report.value("receipts: CPU of a send's receipt (µs)", f"{max(0.0, per_send - without) * 1000:.0f}")
    report.value("receipts: share of a send's hub CPU over HTTP", f"{share:.1f} %", f"< {TARGET_RECEIPTS} %",
                 share < TARGET_RECEIPTS)


def _domain_send_cpu(ws: Workspace, sends: int = 2000) -> float:
    """ms of CPU per messages.send, in this process, on a fresh SQLite table (synchronous full)."""
    from team_table import members, messages
    from team_table.config import parse_team
    from team_table.runtime import open_table
    from team_table.settings import resolve

    folder = Path(tempfile.mkdtemp(dir=ws.root))
    team = parse_team(NO_RATE_LIMIT, "team.yaml")
    with open_table(resolve({"db": str(folder / "t.db")}, {}, team, None), team) as hub:
        members.register(hub, "alice", "agent", "[]", "")
        members.register(hub, "bob", "agent", "[]", "")
        alice, bob = hub.caller("alice", ("agent",)), hub.caller("bob", ("agent",))
        last = messages.send(hub, bob, "alice", "first")
        start = time.process_time()
        for n in range(sends):
            sender, to = (alice, "bob") if n % 2 else (bob, "alice")
            last = messages.send(hub, sender, to, f"message {n}", reply_to=last.id if n % 4 == 1 else None)
        return (time.process_time() - start) * 1000 / sends


async def _hub_cpu_per_send(ws: Workspace, mode: str, sends: int = 300) -> float:
    folder = ws.folder("hearing-receipts")
    write_team(folder, extra=NO_RATE_LIMIT)
    port = free_port()
    launcher = [sys.executable, "-m", "team_table"]
    async with listening(network_hub(launcher, folder, port), port, ws.logs / "hearing-receipts.log", ws.env,
                         folder) as pid, http_seating(f"http://127.0.0.1:{port}/mcp", ["alice", "bob"], mode,
                                                      pid) as seating:
        alice, bob = seating.seats
        for _ in range(30):
            await bob.send("alice", "warm up")
        before = cpu_ms({pid})
        for n in range(sends):
            await (bob if n % 2 else alice).send("alice" if n % 2 else "bob", f"message {n}")
        return (cpu_ms({pid}) - before) / sends


async def _idle(ws: Workspace, mode: str, window: float, report: Report) -> None:
    folder = ws.folder("hearing-idle")
    names = [f"agent-{n}" for n in range(IDLE_AGENTS)]
    write_team(folder, extra=NO_RATE_LIMIT)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    launcher = [sys.executable, "-m", "team_table"]
    async with listening(network_hub(launcher, folder, port), port, ws.logs / "hearing-idle.log", ws.env,
                         folder) as pid, http_seating(f"{url}/mcp", [None], mode, pid) as seating:
        registrar = seating.seats[0]  # an unbound session
        tokens = {}
        for name in names:
            answer = await registrar.call("register", name=name)
            tokens[name] = answer["token"]
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(10, read=None)) as http, anyio.create_task_group() as tg:
            opened = anyio.Event()
            count = [0]

            async def hold(name: str) -> None:
                async with http.stream("GET", f"{url}/agents/{name}/wakes", params={"via": "monitor"},
                                       headers={"Authorization": f"Bearer {tokens[name]}"}) as stream:
                    async for line in stream.aiter_lines():
                        if line.startswith("event: ready"):
                            count[0] += 1
                            if count[0] == len(names):
                                opened.set()

            for name in names:
                tg.start_soon(hold, name)
            with anyio.fail_after(30):
                await opened.wait()
            await anyio.sleep(2)
            before, start = cpu_ms({pid}), time.perf_counter()
            await anyio.sleep(window)
            share = (cpu_ms({pid}) - before) / ((time.perf_counter() - start) * 1000) * 100
            tg.cancel_scope.cancel()
    report.value(f"idle: network hub, {IDLE_AGENTS} agents each holding a monitor open (% of a core)",
                 f"{share:.2f}", f"< {TARGET_IDLE}", share < TARGET_IDLE)
    stdio_share, per_process = await _idle_stdio(ws, window)
    report.value(f"idle: {IDLE_AGENTS} stdio hubs, each bound to a Claude Code socket (% of a core, all of them)",
                 f"{stdio_share:.2f}", "reference")
    report.value("idle: one such stdio hub (% of a core)", f"{per_process:.3f}", f"< {TARGET_IDLE / IDLE_AGENTS:.2f}",
                 per_process < TARGET_IDLE / IDLE_AGENTS)


async def _idle_stdio(ws: Workspace, window: float) -> tuple[float, float]:
    folder = ws.folder("hearing-idle-stdio")
    write_team(folder, hub={"transport": "stdio", "require_tokens": "false"})
    sock = Path(tempfile.mkdtemp(prefix="tt-sock-")) / "s.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock))
    listener.listen(64)
    hello = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    done = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
    procs = []
    with (ws.logs / "hearing-idle-stdio.log").open("a") as errlog:
        for n in range(IDLE_AGENTS):
            env = {**ws.env, "TEAM_TABLE_AGENT": f"agent-{n}", "CLAUDE_CODE_MESSAGING_SOCKET": str(sock),
                   "TEAM_TABLE_CONFIG": str(folder / "team.yaml"), "TEAM_TABLE_DB": str(folder / "hub.db")}
            proc = subprocess.Popen([sys.executable, "-m", "team_table.server"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=errlog, env=env, cwd=folder, text=True)
            assert proc.stdin is not None  # stdin=PIPE
            proc.stdin.write(hello + "\n")
            proc.stdin.flush()
            procs.append(proc)
        try:
            for proc in procs:
                await anyio.to_thread.run_sync(proc.stdout.readline)
                proc.stdin.write(done + "\n")
                proc.stdin.flush()
            await anyio.sleep(5)
            pids = {p.pid for p in procs}
            before, start = cpu_ms(pids), time.perf_counter()
            await anyio.sleep(window)
            share = (cpu_ms(pids) - before) / ((time.perf_counter() - start) * 1000) * 100
        finally:
            for proc in procs:
                proc.stdin.close()
            for proc in procs:
                await anyio.to_thread.run_sync(proc.wait)
    listener.close()
    return share, share / IDLE_AGENTS
