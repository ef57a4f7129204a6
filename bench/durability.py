"""The cost of durability: `hub.synchronous: full` (every acknowledged write survives a power loss; the default)
against `normal` (the last writes before a power loss may roll back), over stdio, on the same file system."""

from __future__ import annotations

import statistics
import sys

from processes import filesystem_of
from report import Report
from seats import stdio_seating
from servers import Workspace, write_team
from workloads import latency, sends

SETTINGS = ("full", "normal")
SIZES = {"full": (600, 60, 1000), "quick": (150, 20, 300)}  # timed round trips, warm-up rounds, tight-loop sends


async def durability_part(ws: Workspace, mode: str, quick: bool) -> bool:
    calls, warmup, count = SIZES["quick" if quick else "full"]
    found, errors = {}, []
    for setting in SETTINGS:
        folder = ws.folder(f"durability-{setting}")
        write_team(folder, hub={"synchronous": setting})
        print(f"measuring writes with hub.synchronous: {setting}...", file=sys.stderr)
        async with stdio_seating(ws.hub(folder), ["solo"], mode, ws.logs) as seating:
            found[setting] = {**await latency(seating, calls, warmup), **await sends(seating, count)}
        errors += seating.tally.errors

    report = Report("durability (hub.synchronous) over stdio", quick, mode)
    report.notes.append(f"one hub process each; {calls} timed round trips after {warmup} warm-up rounds, then "
                        f"{count} sends in a tight loop; database on {filesystem_of(ws.root)} ({ws.root})")
    for setting in SETTINGS:
        report.timing(f"send_message round trip, synchronous: {setting}", found[setting]["send"])
    for setting in SETTINGS:
        report.timing(f"get_messages round trip (1 new message), {setting}", found[setting]["read"])
    for setting in SETTINGS:
        report.value(f"sends/s, one client in a tight loop, {setting}", f"{found[setting]['rate']:.0f}")
    full, normal = found["full"], found["normal"]
    report.value("full minus normal, per send: p50 round trip",
                 f"{statistics.median(full['send']) - statistics.median(normal['send']):+.2f}")
    report.value("full minus normal, per send: tight loop",
                 f"{1000 / full['rate'] - 1000 / normal['rate']:+.2f}")
    report.tool_errors(errors)
    return report.print()
