"""Part `ceiling`: the hub beside the fastest server this SDK allows (ceiling_server.py: the same tools, the table
in memory), in turn, in one run, so both meet the same machine. Each round runs every server once, in a rotated
order; a ratio is taken within a round, and the table shows each round's ratio and their median against the target.

Over HTTP each server serves the round-trip loop, the 16-agent ring and the push loop, then its memory is read;
over stdio, the round-trip loop. With --postgres, the network hub runs a second time on PostgreSQL in each round.

The hub also runs with `hub.synchronous: normal`, as a reference without targets: the same code without a sync of
the disk at each commit, so the table shows how much of the distance to the ceiling is the disk's (the targets are
for the default, `full`: every acknowledged write survives a power loss).

Each round also measures the hub's database work alone (domain_floor.py: the same calls in one process, no SDK, no
HTTP), which the ceiling has no part of: the ceiling plus it is the least the hub can be on this machine, shown as
"floor" rows beside the targets, so a missed target reads as the hub's own overhead or as the database's.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcp import StdioServerParameters

from processes import cpu_ms_of_living, listening, memory_mb, named
from push import push
from report import Report
from scale import bench_database
from seats import http_seating, stdio_seating
from servers import CEILING_SERVER, NO_RATE_LIMIT, Workspace, network_hub, write_team
from transports import HTTP, STDIO, _say
from workloads import latency, ring

from support import free_port

DOMAIN_FLOOR = Path(__file__).resolve().parent / "domain_floor.py"
ROUNDS = {"full": 4, "quick": 2}

# (figure, label, how the hub's figure compares with the ceiling's, target ratio): a ratio above the target of a
# "<=" row, or below that of a ">=" row, misses it.
HTTP_ROWS = [
    ("send_p50", "HTTP send_message round trip, p50 (ms)", "<=", 1.1),
    ("read_p50", "HTTP get_messages round trip (1 new), p50 (ms)", "<=", None),
    ("cpu", "HTTP server CPU per call, one client (ms)", "<=", 1.1),
    ("ring_cpu", "HTTP server CPU per call, 16 agents (ms)", "<=", None),
    ("rate", "16 agents exchanging, messages/s", ">=", 0.9),
    ("push_p50", "push: send started to /events message, p50 (ms)", "<=", 1.2),
    ("memory", "memory after the load, VmRSS (MiB)", "<=", 1.15),
]
# (floor figure, ceiling figure it adds to, label, the target of the hub's row it bounds): the hub's database work
# alone, measured in process, added to the ceiling's figure.
FLOOR_ROWS = [
    ("cpu", "cpu", "HTTP server CPU per call", 1.1),
    ("send_p50", "send_p50", "HTTP send_message round trip", 1.1),
    ("send_p50", "push_p50", "push (the send's write comes first)", 1.2),
]
STDIO_ROWS = [
    ("send_p50", "stdio send_message round trip, p50 (ms)", "<=", 1.1),
    ("read_p50", "stdio get_messages round trip (1 new), p50 (ms)", "<=", None),
    ("cpu", "stdio server CPU per call (ms)", "<=", None),
]


@dataclass
class Server:
    """One server of the comparison: its name, how it is started, and its figures, a dict per round."""

    name: str
    http: Callable[[Path, int], list[str]]  # (folder, port) -> command
    stdio: Callable[[Path], StdioServerParameters] | None
    folder_setup: Callable[[Path], None] = lambda folder: None
    database: bool = False  # its database is a server of its own (PostgreSQL), whose CPU is read too
    reference: bool = False  # shown beside the others, without targets
    rounds: list[dict[str, float]] = field(default_factory=list)


def _servers(ws: Workspace, hub_python: str, postgres_url: str | None) -> list[Server]:
    launcher = [hub_python, "-m", "team_table"]

    def hub_team(folder: Path) -> None:
        write_team(folder, extra=NO_RATE_LIMIT)

    def unsynced_team(folder: Path) -> None:
        write_team(folder, hub={"synchronous": "normal"}, extra=NO_RATE_LIMIT)

    def hub_stdio(folder: Path) -> StdioServerParameters:
        return StdioServerParameters(command=hub_python, args=["-m", "team_table.server"],
                                     env={**ws.env, "TEAM_TABLE_DB": str(folder / "stdio.db")}, cwd=str(folder))

    def ceiling_stdio(folder: Path) -> StdioServerParameters:
        return StdioServerParameters(command=sys.executable, args=[str(CEILING_SERVER), "stdio"], env=ws.env,
                                     cwd=str(folder))

    servers = [
        Server("ceiling", lambda folder, port: [sys.executable, str(CEILING_SERVER), "http", str(port)],
               ceiling_stdio),
        Server("hub", lambda folder, port: network_hub(launcher, folder, port), hub_stdio, hub_team),
        Server("hub, synchronous: normal", lambda folder, port: network_hub(launcher, folder, port), hub_stdio,
               unsynced_team, reference=True),
    ]
    if postgres_url:
        servers.append(Server("hub on PostgreSQL",
                              lambda folder, port: network_hub(launcher, folder, port, postgres_url), None,
                              hub_team, database=True))
    return servers


async def _http_round(ws: Workspace, server: Server, folder: Path, mode: str, quick: bool,
                      tag: str) -> tuple[dict, list]:
    """One server's HTTP loops; agent names end in `tag` (a PostgreSQL hub keeps one database for the whole run)."""
    sizes, errors = HTTP["quick" if quick else "full"], []
    server.folder_setup(folder)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = ws.logs / f"ceiling-{folder.name}.log"
    async with listening(server.http(folder, port), port, log, ws.env, folder, signal.SIGINT) as pid:
        database = named("postgres") if server.database else set()
        async with http_seating(f"{base}/mcp", [f"solo{tag}"], mode, pid) as seating:
            db_before, calls_before = cpu_ms_of_living(database), seating.tally.calls
            lat = await latency(seating, sizes.latency_calls, sizes.warmup_calls)
            db_ms = (cpu_ms_of_living(database) - db_before) / (seating.tally.calls - calls_before)
        errors += seating.tally.errors
        async with http_seating(f"{base}/mcp", [f"ring{tag}-{i}" for i in range(sizes.agents)], mode,
                                pid) as seating:
            exchange = await ring(seating, sizes.messages_per_agent, bound=300)
        errors += seating.tally.errors
        if not exchange["exactly_once"]:
            errors.append(f"{server.name}: the ring was not exactly once: {exchange}")
        async with http_seating(f"{base}/mcp", [f"push-from{tag}", f"push-to{tag}"], mode, pid) as seating:
            pushed = await push(seating, base, sizes.pushes)
        errors += seating.tally.errors + pushed["problems"]
        if not pushed["once"]:
            errors.append(f"{server.name}: push was not one event per message")
        memory = memory_mb(pid)["VmRSS"]
    figures = {"send_p50": statistics.median(lat["send"]), "read_p50": statistics.median(lat["read"]),
               "cpu": lat["cpu_per_call"], "ring_cpu": exchange["cpu_per_call"], "rate": exchange["rate"],
               "push_p50": statistics.median(pushed["push"]), "memory": memory}
    if server.database:
        figures["db_cpu"] = db_ms
    return figures, errors


async def _stdio_round(ws: Workspace, server: Server, folder: Path, mode: str, quick: bool) -> tuple[dict, list]:
    sizes = STDIO["quick" if quick else "full"]
    server.folder_setup(folder)  # its team.yaml, found in the folder the stdio hub starts in
    assert server.stdio is not None  # only servers with a stdio command have a stdio round
    async with stdio_seating(server.stdio(folder), ["solo"], mode, ws.logs) as seating:
        lat = await latency(seating, sizes.latency_calls, sizes.warmup_calls)
    return ({"send_p50": statistics.median(lat["send"]), "read_p50": statistics.median(lat["read"]),
             "cpu": lat["cpu_per_call"]}, seating.tally.errors)


async def ceiling_part(ws: Workspace, mode: str, quick: bool, postgres: str | None = None,
                       hub_python: str | None = None) -> bool:
    rounds, errors = ROUNDS["quick" if quick else "full"], []
    hub_python = hub_python or sys.executable
    floors: dict[str, list[dict[str, float]]] = {"full": [], "normal": []}
    with bench_database(postgres) if postgres else _nothing() as url:
        servers = _servers(ws, hub_python, url)
        for number in range(rounds):
            order = servers[number % len(servers):] + servers[:number % len(servers)]
            for server in order:
                _say(f"round {number + 1}/{rounds}: {server.name}...")
                slug = f"{server.name.replace(' ', '-').lower()}-{number}"
                figures, problems = await _http_round(ws, server, ws.folder(f"http-{slug}"), mode, quick,
                                                      f"-{number}")
                if server.stdio is not None:
                    more, stdio_problems = await _stdio_round(ws, server, ws.folder(f"stdio-{slug}"), mode, quick)
                    figures.update({f"stdio_{key}": value for key, value in more.items()})
                    problems += stdio_problems
                server.rounds.append(figures)
                errors += problems
            for setting in floors:
                _say(f"round {number + 1}/{rounds}: the hub's database work alone, synchronous: {setting}...")
                floors[setting].append(_floor(ws, hub_python, setting, number, quick))
    return _report(servers, floors, rounds, quick, mode, hub_python, errors)


def _floor(ws: Workspace, hub_python: str, setting: str, number: int, quick: bool) -> dict[str, float]:
    """domain_floor.py run by the hub's Python on a fresh database, the HTTP latency loop's number of rounds."""
    sizes = HTTP["quick" if quick else "full"]
    folder = ws.folder(f"floor-{setting}-{number}")
    write_team(folder, hub={"synchronous": setting}, extra=NO_RATE_LIMIT)
    done = subprocess.run([hub_python, str(DOMAIN_FLOOR), str(folder), str(sizes.latency_calls),
                           str(sizes.warmup_calls)], capture_output=True, text=True, env=ws.env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"domain_floor.py failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def _floor_rows(report: Report, setting: str, found: list[dict[str, float]], ceiling: list[dict[str, float]]) -> None:
    """The hub's database work alone (CPU per call, the send's time), then the least each bounded row can be:
    (ceiling + that work) / ceiling, beside the target of the hub's row."""
    for key, name in (("cpu", "CPU per call"), ("send_p50", "send_message, p50")):
        ratios = [f[key] / c[key] for f, c in zip(found, ceiling, strict=True)]
        report.rows.append((f"database work alone, {setting}: {name} (ms; ratio = it / the ceiling's)",
                            f"{statistics.median(c[key] for c in ceiling):.2f} / "
                            f"{statistics.median(f[key] for f in found):.2f}",
                            f"{statistics.median(ratios):.2f}x ({' '.join(f'{r:.2f}' for r in ratios)})",
                            "reference", ""))
    for floor_key, ceiling_key, name, target in FLOOR_ROWS:
        ratios = [(c[ceiling_key] + f[floor_key]) / c[ceiling_key] for f, c in zip(found, ceiling, strict=True)]
        report.rows.append((f"floor, {setting}: {name} = (ceiling + database work) / ceiling",
                            "", f"{statistics.median(ratios):.2f}x ({' '.join(f'{r:.2f}' for r in ratios)})",
                            f"the hub's: <= {target}x", ""))


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _report(servers: list[Server], floors: dict[str, list[dict[str, float]]], rounds: int, quick: bool, mode: str,
            hub_python: str, errors: list[str]) -> bool:
    report = Report("the hub beside the ceiling (a bare MCPServer keeping the table in memory)", quick, mode)
    report.notes.append(f"{rounds} rounds, each server once per round in a rotated order; ratio = hub / ceiling "
                        "within a round (for messages/s the higher is better); value = median over the rounds")
    if hub_python != sys.executable:
        report.notes.append(f"hub run by {hub_python}")
    ceiling = servers[0]
    for hub in servers[1:]:
        rows = [*HTTP_ROWS] + ([(f"stdio_{key}", label, way, target) for key, label, way, target in STDIO_ROWS]
                               if hub.stdio is not None else [])
        for key, label, way, target in rows:
            ratios = [h[key] / c[key] for h, c in zip(hub.rounds, ceiling.rounds, strict=True)]
            ratio = statistics.median(ratios)
            value = (f"{statistics.median(c[key] for c in ceiling.rounds):.2f} / "
                     f"{statistics.median(h[key] for h in hub.rounds):.2f}")
            shown = f"{ratio:.2f}x ({' '.join(f'{r:.2f}' for r in ratios)})"
            target = None if hub.reference else target
            ok = None if target is None else (ratio <= target if way == "<=" else ratio >= target)
            report.rows.append((f"{hub.name}: {label}", value, shown, f"{way} {target}x" if target else "reference",
                                "" if ok is None else ("ok" if ok else "MISSED")))
        if hub.database:
            report.value(f"{hub.name}: database server CPU per call, one client (ms)",
                         f"{statistics.median(h['db_cpu'] for h in hub.rounds):.2f}")
    for setting, found in floors.items():
        _floor_rows(report, setting, found, ceiling.rounds)
    report.header = ("measure", "ceiling / hub", "ratio (each round)", "target", "")
    report.tool_errors(errors)
    return report.print()
