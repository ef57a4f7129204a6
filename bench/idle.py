"""Idle cost: the CPU a hub takes while connected and doing nothing (timers, watchers, keep-alives).

A stdio hub (an initialized session, stdin open) and a network hub (one MCP session open) are measured over
the same window, each in a folder with a team.yaml of 8 declared agents and the shipped workflows beside it.
"""

from __future__ import annotations

import sys
import time

import anyio

from processes import CLOCK_TICK_MS, context_switches, cpu_ms, listening
from report import Report
from seats import Seating, http_seating, stdio_seating
from servers import Workspace, network_hub, write_team

from support import free_port

TARGET_SHARE = 0.3  # per cent of one core
SETTLE_SECONDS = 3.0
WINDOW_SECONDS = {"full": 20.0, "quick": 10.0}


async def idle_part(ws: Workspace, mode: str, quick: bool) -> bool:
    window = WINDOW_SECONDS["quick" if quick else "full"]
    stdio_folder, http_folder = ws.folder("idle-stdio"), ws.folder("idle-http")
    write_team(stdio_folder, agents=8, hub={"transport": "stdio"}, workflows=True)
    write_team(http_folder, agents=8, workflows=True)
    port = free_port()
    launcher = [sys.executable, "-m", "team_table"]
    print(f"measuring two idle hubs for {SETTLE_SECONDS:.0f} + {window:.0f} s...", file=sys.stderr)
    async with stdio_seating(ws.hub(stdio_folder), [None], mode, ws.logs) as stdio, \
            listening(network_hub(launcher, http_folder, port), port, ws.logs / "idle-http-hub.log", ws.env,
                      http_folder) as pid, \
            http_seating(f"http://127.0.0.1:{port}/mcp", [None], mode, pid) as network:
        await anyio.sleep(SETTLE_SECONDS)
        hubs = {"stdio hub": stdio, "network hub": network}
        before = {name: _reading(seating) for name, seating in hubs.items()}
        start = time.perf_counter()
        await anyio.sleep(window)
        elapsed = time.perf_counter() - start
        after = {name: _reading(seating) for name, seating in hubs.items()}
        answered = {name: await _still_answers(seating) for name, seating in hubs.items()}

    report = Report("idle hubs", quick, mode)
    report.notes.append(f"both hubs connected and idle, measured together over {elapsed:.1f} s after "
                        f"{SETTLE_SECONDS:.0f} s to settle; CPU from /proc/<pid>/stat, counted in ticks of "
                        f"{CLOCK_TICK_MS:.0f} ms ({CLOCK_TICK_MS / elapsed / 10:.2f} % of a core over the window)")
    for name in hubs:
        cpu, switches = after[name][0] - before[name][0], after[name][1] - before[name][1]
        share = cpu / (elapsed * 1000) * 100
        report.value(f"{name}: CPU, % of one core", f"{share:.2f}", f"< {TARGET_SHARE} %", share < TARGET_SHARE)
        report.value(f"{name}: CPU time in the window (ms)", f"{cpu:.0f}")
        report.value(f"{name}: wake-ups per second (voluntary switches)", f"{switches / elapsed:.1f}")
    report.check("sessions still answer after the window", f"{sum(answered.values())}/{len(answered)}", "all",
                 all(answered.values()))
    report.errors += stdio.tally.errors + network.tally.errors
    return report.print()


def _reading(seating: Seating) -> tuple[float, int]:
    (pid,) = seating.pids
    return cpu_ms({pid}), context_switches(pid)


async def _still_answers(seating: Seating) -> bool:
    try:
        with anyio.fail_after(10):
            await seating.seats[0].client.list_tools()
        return True
    except Exception as exc:
        seating.tally.errors.append(f"list_tools after the idle window: {exc!r}")
        return False
