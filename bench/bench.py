"""Benchmark team-table the way agents reach it, and what it costs to start, to idle and to keep.

Run from the repository root:

    uv run python bench/bench.py                  # full run, every part: about 4 minutes on 2 cores
    uv run python bench/bench.py --quick          # a short run
    uv run python bench/bench.py --only http      # one part (--only may be given more than once)

Parts: stdio (round trips, 8 hub processes on one database exchanging messages, CPU per call), http (the same
through the network hub with bearer-bound sessions, push latency on /events, memory), startup (spawn to the
initialize answer against a bare MCPServer), idle (CPU of connected, idle hubs), durability (hub.synchronous
full against normal), config (loading a team.yaml of 10,000 agents; refusing a 20 MB one), wake (how soon
wait_for_messages returns a message, over HTTP and across stdio processes; 200 open waits; tool-list and catch_up
sizes), reservations (a conflict check against 10,000 live path reservations), runner (agents the hub runs:
work to first tool call; the supervisor idle with 20 agents, and with 10 runs). Each figure is printed next to
its target. Exits 1 only when something was wrong (a tool error, a message
lost or delivered twice, a push event missing or repeated, a server that did not answer, a team.yaml loaded or
refused wrongly, a wait that did not return its message once), never because a figure missed its speed target.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "tests"))  # support.py: shared with the tests

from ceiling import ceiling_part
from durability import durability_part
from hearing import hearing_idle_part, hearing_part
from idle import idle_part
from reservations import reservations_part
from runner import runner_part
from scale import scale_part
from servers import Workspace
from startup import startup_part
from team_file import config_part
from transports import http_part, stdio_part
from wake import wake_part

PARTS = ("stdio", "http", "startup", "idle", "durability", "config", "wake", "hearing", "reservations", "runner",
         "postgresql", "ceiling", "hearing-idle")


async def run_part(part: str, ws: Workspace, args: argparse.Namespace) -> bool:
    if part == "stdio":
        return await stdio_part(ws, args.mode, args.quick)
    if part == "http":
        return await http_part(ws, args.mode, args.quick, args.profile_hub)
    if part == "startup":
        return await startup_part(ws, args.quick)
    if part == "idle":
        return await idle_part(ws, args.mode, args.quick)
    if part == "durability":
        return await durability_part(ws, args.mode, args.quick)
    if part == "config":
        return await config_part(ws, args.quick)
    if part == "runner":
        return await runner_part(ws, args.quick)
    if part == "postgresql":
        return await scale_part(ws, args.mode, args.quick, args.postgres)
    if part == "reservations":
        return await reservations_part(ws, args.quick, args.postgres)
    if part == "hearing":
        return await hearing_part(ws, args.mode, args.quick)
    if part == "hearing-idle":
        return await hearing_idle_part(ws, args.mode, args.quick)
    if part == "ceiling":
        return await ceiling_part(ws, args.mode, args.quick, args.postgres, args.hub_python)
    return await wake_part(ws, args.mode, args.quick)


async def main(args: argparse.Namespace) -> int:
    chosen = [part for part in PARTS if part in (args.only or PARTS)]
    correct = True
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="team-table-bench-") as tmp:
        ws = Workspace(Path(tmp))
        for part in chosen:
            correct &= await run_part(part, ws, args)
        print(f"\ncorrectness: {'PASS' if correct else 'FAIL'} (speed targets are reported, never fatal); "
              f"{', '.join(chosen)} in {time.perf_counter() - began:.0f} s")
        if not correct:
            for log in sorted(ws.logs.glob("*.log")):
                tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                if tail:
                    print(f"\n{log.name} (last lines):\n  " + "\n  ".join(tail), file=sys.stderr)
    return 0 if correct else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (smaller loops, shorter windows)")
    parser.add_argument("--mode", default="legacy", choices=["legacy", "2026-07-28"],
                        help="protocol the SDK clients speak: legacy (initialize handshake, like mcp 1.x) or "
                             "2026-07-28 (startup always writes its own initialize)")
    parser.add_argument("--only", choices=PARTS, action="append", default=None, metavar="PART",
                        help=f"run this part only ({', '.join(PARTS)}); give it again for more parts")
    parser.add_argument("--profile-hub", metavar="FILE", type=Path, default=None,
                        help="run the network hub of the http part under cProfile and write its profile to FILE "
                             "(read it with python -m pstats FILE)")
    parser.add_argument("--postgres", metavar="URL", default=os.environ.get("TEAM_TABLE_BENCH_POSTGRES"),
                        help="a PostgreSQL server where the postgresql part may create (and drop) a database, e.g. "
                             "postgresql://postgres@127.0.0.1:5432/postgres; without it that part is skipped")
    parser.add_argument("--hub-python", metavar="PYTHON", default=None,
                        help="the ceiling part runs the hub with this Python (e.g. another checkout's "
                             ".venv/bin/python, to compare commits); default: this one")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(anyio.run(main, parse_args()))
