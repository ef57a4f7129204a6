"""The two ways agents reach the hub, measured by the same loops: stdio (a hub process per agent, one database)
and streamable HTTP (one network hub, bearer-bound sessions, push on /events); each beside a bare MCPServer."""

from __future__ import annotations

import signal
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from processes import listening, memory_mb
from push import push
from report import Report, delivery_line
from seats import http_seating, stdio_seating
from servers import NO_RATE_LIMIT, Workspace, network_hub, write_team
from workloads import echo_latency, latency, ring

from support import free_port

TARGET_CPU_MS = 1.0
TARGET_PUSH_MS = 3.0


@dataclass(frozen=True)
class Sizes:
    """How much of each loop a part runs."""

    latency_calls: int
    warmup_calls: int
    agents: int
    messages_per_agent: int
    pushes: int = 0


STDIO = {"full": Sizes(800, 80, 8, 400), "quick": Sizes(150, 20, 8, 50)}
HTTP = {"full": Sizes(600, 60, 16, 100, 300), "quick": Sizes(150, 20, 16, 25, 60)}


def _say(text: str) -> None:
    print(text, file=sys.stderr)


async def stdio_part(ws: Workspace, mode: str, quick: bool) -> bool:
    """Hub processes as agents' MCP clients start them, in a folder with no team.yaml (the hub's defaults)."""
    from team_table.store import open_store  # here, so that the other parts run on a release without it

    sizes, folder, errors = STDIO["quick" if quick else "full"], ws.folder("stdio"), []
    _say("measuring round trips through one hub process...")
    async with stdio_seating(ws.hub(folder, "latency.db"), ["solo"], mode, ws.logs) as seating:
        lat = await latency(seating, sizes.latency_calls, sizes.warmup_calls)
    errors += seating.tally.errors
    _say("measuring the bare MCPServer baseline...")
    async with stdio_seating(ws.bare_stdio(), [None], mode, ws.logs) as seating:
        bare = await echo_latency(seating, sizes.latency_calls, sizes.warmup_calls)
    errors += seating.tally.errors
    _say(f"measuring {sizes.agents} hub processes on one database...")
    # The ring's hubs start on an existing database: the bench measures steady state, not first start.
    open_store(folder / "ring.db").close()
    agents = [f"agent-{i}" for i in range(sizes.agents)]
    async with stdio_seating(ws.hub(folder, "ring.db"), agents, mode, ws.logs) as seating:
        exchange = await ring(seating, sizes.messages_per_agent)
    errors += seating.tally.errors
    report = Report("stdio", quick, mode)
    _figures(report, lat, bare, exchange, errors, target_p50=1.5, one="one process",
             many=f"{sizes.agents} processes", where=f"{sizes.agents} processes on one DB")
    report.notes.insert(0, _sizes_line(sizes, exchange, "processes", "hubs"))
    return report.print()


async def http_part(ws: Workspace, mode: str, quick: bool, profile: Path | None = None,
                    launcher: list[str] | None = None) -> bool:
    """The network hub (`team-table up --transport streamable-http`), then a bare MCPServer over HTTP.

    `launcher` is the command that runs the `team-table` CLI (default: this Python, `-m team_table`)."""
    sizes, folder, errors = HTTP["quick" if quick else "full"], ws.folder("http"), []
    write_team(folder, extra=NO_RATE_LIMIT)
    launcher = launcher or [sys.executable, "-m", "team_table"]
    if profile is not None:  # the same hub under cProfile; its CPU figures are then the profiler's too
        launcher = [sys.executable, "-m", "cProfile", "-o", str(profile.resolve()), *launcher[1:]]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Stopped with SIGINT, as Ctrl-C stops it: the hub shuts down gracefully, and under cProfile the profile
    # is written on the way out.
    async with listening(network_hub(launcher, folder, port), port, ws.logs / "http-hub.log", ws.env, folder,
                         signal.SIGINT) as pid:
        _say("measuring round trips through the network hub...")
        async with http_seating(f"{base}/mcp", ["solo"], mode, pid) as seating:
            lat = await latency(seating, sizes.latency_calls, sizes.warmup_calls)
        errors += seating.tally.errors
        _say(f"measuring {sizes.agents} agents exchanging messages through the network hub...")
        agents = [f"ring-{i}" for i in range(sizes.agents)]
        async with http_seating(f"{base}/mcp", agents, mode, pid) as seating:
            exchange = await ring(seating, sizes.messages_per_agent, bound=150)
        errors += seating.tally.errors
        _say("measuring push latency on /events...")
        async with http_seating(f"{base}/mcp", ["push-from", "push-to"], mode, pid) as seating:
            pushed = await push(seating, base, sizes.pushes)
        errors += seating.tally.errors + pushed["problems"]
        memory = memory_mb(pid)
    port = free_port()
    _say("measuring the bare MCPServer baseline over HTTP...")
    async with listening(ws.bare_http(port), port, ws.logs / "http-bare.log", ws.env, ws.root) as pid, \
            http_seating(f"http://127.0.0.1:{port}/mcp", [None], mode, pid) as seating:
        bare = await echo_latency(seating, sizes.latency_calls, sizes.warmup_calls)
        bare_memory = memory_mb(pid)
    errors += seating.tally.errors

    report = Report("streamable HTTP", quick, mode)
    report.notes.append(_sizes_line(sizes, exchange, "agents", "hub") + f"; push: {len(pushed['push'])} messages")
    if profile is not None:
        report.notes.append("the hub ran under cProfile: its CPU and latency figures include the profiler's cost")
    _figures(report, lat, bare, exchange, errors, target_p50=2.5, one="one client",
             many=f"{sizes.agents} agents", where=f"{sizes.agents} agents, one hub", pushed=pushed,
             memory=(memory, bare_memory))
    report.after.append(f"push: {pushed['events']} message events for {pushed['sent']} messages sent, duplicates "
                        f"{pushed['duplicates']}, for other messages {pushed['strays']}")
    return report.print()


def _sizes_line(sizes: Sizes, exchange: dict, seated: str, servers: str) -> str:
    return (f"latency: {sizes.latency_calls} timed calls each after {sizes.warmup_calls} warm-up rounds; "
            f"ring: {exchange['agents']} {seated} x {exchange['per_agent']} messages in {exchange['seconds']:.1f} s, "
            f"{exchange['calls']} tool calls; {servers} busy {exchange['hub_busy']:.0%} of a core, the bench's "
            f"clients {exchange['client_busy']:.0%}")


def _figures(report: Report, lat: dict, bare: dict, exchange: dict, errors: list[str], *,
             target_p50: float, one: str, many: str, where: str, pushed: dict | None = None,
             memory: tuple[dict, dict] | None = None) -> None:
    """The rows of a transport's table, the same for stdio and HTTP but for push and memory."""
    for label, samples in (("send_message round trip", lat["send"]),
                           ("get_messages round trip (1 new message)", lat["read"]),
                           ("get_messages round trip (empty inbox)", lat["poll"])):
        report.timing(label, samples, f"p50 <= {target_p50} ms", statistics.median(samples) <= target_p50)
    report.timing("baseline: bare MCPServer, one echo tool", bare["echo"])
    if pushed is not None and pushed["push"]:
        report.timing("push: send_message start to /events message", pushed["push"], f"p50 < {TARGET_PUSH_MS} ms",
                      statistics.median(pushed["push"]) < TARGET_PUSH_MS)
    for label, cpu in ((f"hub CPU per tool call ({one})", lat["cpu_per_call"]),
                       (f"hub CPU per tool call ({many})", exchange["cpu_per_call"])):
        report.value(label, f"{cpu:.2f}", f"<= {TARGET_CPU_MS} ms", cpu <= TARGET_CPU_MS)
    report.value("baseline CPU per tool call", f"{bare['cpu_per_call']:.2f}")
    report.value(f"messages/s, {where}", f"{exchange['rate']:.0f}")
    if memory is not None:
        (hub, bare_server) = memory
        report.value("hub memory after the run, VmRSS (MiB)", f"{hub['VmRSS']:.1f}")
        report.value("hub peak memory, VmHWM (MiB)", f"{hub['VmHWM']:.1f}")
        report.value("baseline memory, VmRSS (MiB)", f"{bare_server['VmRSS']:.1f}")
    report.tool_errors(errors)
    report.check("exactly-once delivery", f"{exchange['received']}/{exchange['sent']}", "exactly once",
                 exchange["exactly_once"])
    if pushed is not None:
        report.check("push: one event per message", f"{pushed['events']}/{pushed['sent']}", "exactly once",
                     pushed["once"])
    report.after.insert(0, delivery_line(exchange))
