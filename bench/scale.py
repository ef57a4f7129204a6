"""Scale-out: the network hub on PostgreSQL beside the same hub on SQLite, in one run, then three replicas.

Needs a PostgreSQL server and a role that may create databases (--postgres URL, or TEAM_TABLE_BENCH_POSTGRES);
the part makes a database of its own there and drops it at the end. Figures: round trips (p50/p99), hub CPU per
call and, on PostgreSQL, the database server's CPU per call (the processes of that server only; other databases on
it count too, so run it on a server nothing else uses), the 16-agent exchange on one hub and on three replicas
with the CPU per call of the hubs and of the database server, and how soon a message sent through one replica
reaches an /events stream held by another.

What three replicas on this machine can show: the bench's clients, three hubs and the database server share 2
cores, so the 3-replica exchange measures the cost of spreading (cross-replica notifications, more connections)
and that delivery stays exactly once, not the extra throughput more hosts would give.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from processes import children_of, cpu_ms, listening, parent_of, reaped_cpu_ms
from push import push
from report import Report, delivery_line
from seats import http_seating
from servers import NO_RATE_LIMIT, Workspace, network_hub, write_team
from transports import HTTP, TARGET_PUSH_MS, _say
from workloads import latency, ring

from support import free_port

REPLICAS = 3
TARGET_CROSS_PUSH_MS = 50.0


@contextlib.contextmanager
def bench_database(server: str) -> Iterator[str]:
    """A database of the run's own on `server`, dropped at the end."""
    import psycopg
    from psycopg import sql

    name = f"tt_bench_{os.getpid()}"
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(drop)


@asynccontextmanager
async def hubs(ws: Workspace, folder: Path, db: str | None, count: int) -> AsyncIterator[tuple[list[str], set[int]]]:
    """`count` network hubs on one database (started one after another: the first migrates it); their /mcp
    base URLs and pids."""
    launcher = [sys.executable, "-m", "team_table"]
    bases, pids = [], set()
    async with AsyncExitStack() as stack:
        for index in range(count):
            port = free_port()
            pid = await stack.enter_async_context(listening(
                network_hub(launcher, folder, port, db), port, ws.logs / f"scale-{folder.name}-{index}.log", ws.env,
                folder))
            bases.append(f"http://127.0.0.1:{port}")
            pids.add(pid)
        yield bases, pids


class DatabaseServer:
    """CPU time of the PostgreSQL server's processes (none for SQLite, which runs inside the hub): the server the
    bench's database is on only (its postmaster and every process it started, including connections opened
    during the measurement), not another cluster on the same machine."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.postmaster = 0
        self.start: dict[int, float] = {}

    def _processes(self) -> dict[int, float]:
        found = {}
        for pid in {self.postmaster, *children_of(self.postmaster)}:
            with contextlib.suppress(OSError, ValueError, IndexError):
                found[pid] = cpu_ms({pid})
        found[0] = reaped_cpu_ms(self.postmaster)  # connections that ended meanwhile
        return found

    def begin(self) -> None:
        if self.url is None:
            return
        if not self.postmaster:
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as conn:
                row = conn.execute("SELECT pg_backend_pid()").fetchone()
                assert row is not None  # the query always answers one row
                backend = row[0]
                self.postmaster = parent_of(backend)
        self.start = self._processes()

    def used(self) -> float:
        if self.url is None:
            return 0.0
        return sum(now - self.start.get(pid, 0.0) for pid, now in self._processes().items())


async def scale_part(ws: Workspace, mode: str, quick: bool, server: str | None) -> bool:
    report = Report("scale-out (SQLite beside PostgreSQL; three replicas)", quick, mode)
    if not server:
        report.notes.append("skipped: give --postgres URL (or TEAM_TABLE_BENCH_POSTGRES) of a server where the bench "
                            "may create a database")
        return report.print()
    sizes, errors, rings = HTTP["quick" if quick else "full"], [], []
    with bench_database(server) as url:
        for engine, db in (("SQLite", None), ("PostgreSQL", url)):
            folder = ws.folder(f"scale-{engine.lower()}")
            write_team(folder, extra=NO_RATE_LIMIT)
            async with hubs(ws, folder, db, 1) as (bases, pids):
                _say(f"measuring round trips through one hub on {engine}...")
                database = DatabaseServer(db)
                async with http_seating(f"{bases[0]}/mcp", ["solo"], mode, pids) as seating:
                    calls_before = seating.tally.calls
                    database.begin()
                    lat = await latency(seating, sizes.latency_calls, sizes.warmup_calls)
                    db_cpu = database.used() / max(1, seating.tally.calls - calls_before)
                errors += seating.tally.errors
                _say(f"measuring {sizes.agents} agents exchanging messages through one hub on {engine}...")
                async with http_seating(f"{bases[0]}/mcp", [f"ring-{i}" for i in range(sizes.agents)], mode,
                                        pids) as seating:
                    database.begin()
                    exchange = await ring(seating, sizes.messages_per_agent, bound=300)
                    ring_db_cpu = database.used() / max(1, exchange["calls"])
                errors += seating.tally.errors
                rings.append((f"{engine}, 1 hub", exchange))
            for label, samples in (("send_message round trip", lat["send"]),
                                   ("get_messages round trip (1 new message)", lat["read"])):
                report.timing(f"{engine}: {label}", samples)
            report.value(f"{engine}: hub CPU per tool call (ms)", f"{lat['cpu_per_call']:.2f}")
            if db is not None:
                report.value(f"{engine}: database server CPU per tool call (ms)", f"{db_cpu:.2f}")
            report.value(f"{engine}: messages/s, {sizes.agents} agents, 1 hub", f"{exchange['rate']:.0f}")
            report.value(f"{engine}: hub CPU per tool call, {sizes.agents} agents, 1 hub (ms)",
                         f"{exchange['cpu_per_call']:.2f}")
            if db is not None:
                report.value(f"{engine}: database server CPU per tool call, {sizes.agents} agents, 1 hub (ms)",
                             f"{ring_db_cpu:.2f}")

        folder = ws.folder("scale-replicas")
        write_team(folder, extra=NO_RATE_LIMIT)
        async with hubs(ws, folder, url, REPLICAS) as (bases, pids):
            _say(f"measuring {sizes.agents} agents spread over {REPLICAS} replicas on PostgreSQL...")
            agents = [f"spread-{i}" for i in range(sizes.agents)]
            database = DatabaseServer(url)
            async with http_seating([f"{b}/mcp" for b in bases], agents, mode, pids) as seating:
                database.begin()
                exchange = await ring(seating, sizes.messages_per_agent, bound=300)
                ring_db_cpu = database.used() / max(1, exchange["calls"])
            errors += seating.tally.errors
            rings.append((f"PostgreSQL, {REPLICAS} replicas", exchange))
            report.value(f"PostgreSQL: messages/s, {sizes.agents} agents, {REPLICAS} replicas",
                         f"{exchange['rate']:.0f}")
            report.value(f"PostgreSQL: hub CPU per tool call, {REPLICAS} replicas (ms)",
                         f"{exchange['cpu_per_call']:.2f}")
            report.value(f"PostgreSQL: database server CPU per tool call, {REPLICAS} replicas (ms)",
                         f"{ring_db_cpu:.2f}")
            _say("measuring push across replicas (send through one, /events on another)...")
            async with http_seating(f"{bases[0]}/mcp", ["cross-from", "cross-to"], mode, pids) as seating:
                pushed = await push(seating, bases[1], sizes.pushes)
            errors += seating.tally.errors + pushed["problems"]
            report.timing("PostgreSQL: push across replicas, send start to /events", pushed["push"],
                          f"< {TARGET_CROSS_PUSH_MS:.0f} ms", bool(pushed["push"]) and
                          max(pushed["push"]) < TARGET_CROSS_PUSH_MS)
    report.tool_errors(errors)
    for label, exchange in rings:
        report.check(f"exactly-once delivery ({label})", f"{exchange['received']}/{exchange['sent']}",
                     "exactly once", exchange["exactly_once"])
        report.after.append(f"{label}: " + delivery_line(exchange))
    report.check("push across replicas: one event per message", f"{pushed['events']}/{pushed['sent']}",
                 "exactly once", pushed["once"])
    report.notes.append(f"latency: {sizes.latency_calls} timed calls after {sizes.warmup_calls} warm-up rounds; "
                        f"exchange: {sizes.agents} agents x {sizes.messages_per_agent} messages; push target "
                        f"{TARGET_CROSS_PUSH_MS:.0f} ms is the slowest of {len(pushed['push'])}, same-hub push "
                        f"target is {TARGET_PUSH_MS} ms p50")
    report.notes.append(f"{os.cpu_count()} CPUs shared by the bench's clients, the hubs and the database server: "
                        f"the {REPLICAS}-replica figures show the cost of spreading, not the gain of more hosts")
    return report.print()
