"""Path reservations: a conflict check against 10,000 live reservations, in the hub's own process.

The table holds 10,000 live reservations of 200 members, as a large team's would look: literal files
(`src/area7/part712/module.py`, 90 %), directories (`src/area7/part700/**`, 5 %) and globs in a directory
(`src/area7/part701/*.py`, 5 %). (A pattern at any depth, `**/x.py`, is a candidate for every check and, a name
covering what is under it, overlaps nearly every file reservation: a team holds few, if any.) Each measured check
asks for a pattern never asked before (so no decision is cached for it): a free file, a held file, a whole area
of 1,000 reservations, in turn. Figures:

- conflict check: what reserve_paths decides before writing, `reservations.in_the_way` (the candidates by anchor in
  one indexed query, each decided in memory), p50 and p99;
- reserve_paths refused: the whole domain call (write transaction, lock, check, refusal, rollback);
- guard check, 20 files: `commit_check.verdict` for a commit of 20 files, what the git hook asks the hub.

On SQLite, and on PostgreSQL too with --postgres (a database of the run's own, dropped at the end).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

from report import Report
from servers import Workspace

LIVE = 10_000
MEMBERS = 200
TARGET_MS = 5.0


def _pattern(i: int) -> str:
    area = f"src/area{i // 1000}/part{i}"
    if i % 20 == 0:
        return f"{area}/**"
    if i % 20 == 1:
        return f"{area}/*.py"
    return f"{area}/module.py"


def fill(hub) -> None:
    """10,000 live reservations, written straight into the table (one transaction)."""
    from team_table import overlap, reservations

    now, until = hub.now(), reservations.epoch(hub) + 86_400
    rows = [(f"member-{i % MEMBERS}", _pattern(i), overlap.shape(_pattern(i)).anchor, 1, "bench", None, 86_400, now,
             until) for i in range(LIVE)]
    with hub.store.write() as conn:
        conn.executemany("INSERT INTO reservation (agent, pattern, anchor, exclusive, reason, task_id, ttl_seconds,"
                         " created_at, expires, warned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)", rows)


KINDS = ("a free file", "a held file", "a whole area (1,000 held)")


def _asks(count: int) -> list[tuple[int, str]]:
    """(kind, pattern) never asked before: a free file, a held file, a whole area, in turn."""
    chooser = random.Random(7)
    asks = []
    for n in range(count):
        i = chooser.randrange(LIVE)
        while i % 20 in (0, 1):
            i = chooser.randrange(LIVE)
        kind = n % 3
        pattern = (f"src/area{i // 1000}/part{i}/new_{n}.py", f"src/area{i // 1000}/part{i}/module.py",
                   f"src/area{n % 10}/**")[kind]
        asks.append((kind, pattern))
    return asks


def measure(hub, count: int) -> dict:
    from team_table import commit_check, reservations
    from team_table.errors import HeldPaths
    from team_table.models import Caller

    check_ms: dict[int, list[float]] = {kind: [] for kind in range(len(KINDS))}
    refused_ms: dict[int, list[float]] = {1: [], 2: []}
    guard_ms, wrong = [], []
    for kind, pattern in _asks(count):
        start = time.perf_counter()
        found = reservations.in_the_way(hub.store.query, "newcomer", pattern, True, reservations.epoch(hub))
        check_ms[kind].append((time.perf_counter() - start) * 1000)
        if bool(found) != (kind > 0):
            wrong.append(f"{pattern}: {len(found)} holders, expected {'some' if kind else 'none'}")
    caller = Caller("newcomer", ("agent",), hub.team.granted(("agent",)))
    for n, (kind, pattern) in enumerate(_asks(count // 2)):
        if kind == 0:
            continue
        start = time.perf_counter()
        try:
            reservations.reserve(hub, caller, [pattern.replace("module.py", f"module.py/x{n}")])
            wrong.append(f"{pattern}: reserved over its holder")
        except HeldPaths:
            refused_ms[kind].append((time.perf_counter() - start) * 1000)
    chooser = random.Random(11)
    for n in range(count // 3):
        files = [f"src/area{chooser.randrange(10)}/part{chooser.randrange(LIVE)}/f{n}_{k}.py" for k in range(20)]
        start = time.perf_counter()
        commit_check.verdict(hub.store.query, hub.team.reservations, "newcomer", files, reservations.epoch(hub))
        guard_ms.append((time.perf_counter() - start) * 1000)
    return {"check": check_ms, "refused": refused_ms, "guard": guard_ms, "wrong": wrong}


def _run(where: str, label: str, count: int, report: Report) -> None:
    from team_table.config import EMPTY_TEAM
    from team_table.runtime import open_table
    from team_table.settings import resolve

    settings = resolve({"db": where}, {}, EMPTY_TEAM, None)
    with open_table(settings, EMPTY_TEAM) as hub:
        fill(hub)
        live = hub.store.query("SELECT COUNT(*) FROM reservation")[0][0]
        found = measure(hub, count)
    every = [ms for samples in found["check"].values() for ms in samples]
    p50 = statistics.median(every)
    report.timing(f"{label}: conflict check, {live} live (all asks)", every, f"p50 < {TARGET_MS:.0f} ms",
                  p50 < TARGET_MS)
    for kind, samples in found["check"].items():
        report.timing(f"{label}:   {KINDS[kind]}", samples)
    for kind, samples in found["refused"].items():
        report.timing(f"{label}: reserve_paths refused, {KINDS[kind]} (whole call)", samples)
    report.timing(f"{label}: guard check, a commit of 20 files", found["guard"])
    report.check(f"{label}: every check right", f"{len(every) - len(found['wrong'])}/{len(every)}", "all",
                 not found["wrong"])
    report.errors += found["wrong"]


async def reservations_part(ws: Workspace, quick: bool, postgres: str | None) -> bool:
    count = 300 if quick else 1500
    report = Report("reservations", quick)
    report.notes.append(f"in this process: {LIVE} live reservations of {MEMBERS} members (90 % files, 5 % directories, "
                        "5 % globs); each check asks for a pattern never asked before (a free file, a held file, "
                        "a whole area of 1,000, in turn)")
    print("measuring reservation conflict checks on SQLite...", file=sys.stderr)
    _run(str(ws.folder("reservations") / "table.db"), "sqlite", count, report)
    if postgres:
        from scale import bench_database

        print("measuring reservation conflict checks on PostgreSQL...", file=sys.stderr)
        with bench_database(postgres) as url:
            _run(url, "postgresql", count, report)
    else:
        report.after.append("postgresql: skipped (no --postgres URL)")
    return report.print()


if __name__ == "__main__":  # python bench/reservations.py [--postgres URL]
    import tempfile

    import anyio

    url = sys.argv[sys.argv.index("--postgres") + 1] if "--postgres" in sys.argv else None
    with tempfile.TemporaryDirectory() as folder:
        sys.exit(0 if anyio.run(reservations_part, Workspace(Path(folder)), "--quick" in sys.argv, url) else 1)
