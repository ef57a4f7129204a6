"""The hub's own database work for the latency loop's calls, in one process, with no SDK, no HTTP and no event loop:
authenticate the caller as a bound call does (one read), send a message to itself, read it, read the empty inbox.

What a call of the hub costs that the ceiling has no part of (the rows the guarantees need: the message, its
delivery, its event, its audit entry, the rate limit's count, each committed and synced), so the ceiling plus this
is the least the hub's CPU per call and round trip can be on this machine, however lean the rest. The ceiling part
runs it in each round (with the hub's Python, `--hub-python`), for `synchronous: full` and `normal`.

Run: `python domain_floor.py FOLDER ROUNDS WARMUP`, FOLDER holding the team.yaml to use; prints one JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from team_table import members, messages, tokens
from team_table.config.team import load_team
from team_table.runtime import open_table
from team_table.settings import resolve


def measure(folder: Path, rounds: int, warmup: int) -> dict[str, float]:
    team = load_team(folder / "team.yaml")
    settings = resolve({"db": str(folder / "floor.db")}, {}, team, folder / "team.yaml")
    with open_table(settings, team) as hub:
        digest = tokens.digest(members.register(hub, "solo", "agent", "[]", "").token)
        send_ms: list[float] = []
        read_ms: list[float] = []
        cpu_before = 0.0
        for n in range(warmup + rounds):
            if n == warmup:
                send_ms.clear()
                read_ms.clear()
                cpu_before = time.process_time()
            start = time.perf_counter()
            sent = messages.send(hub, members.authenticate_digest(hub, "solo", digest), "solo", f"message {n}")
            send_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            got = messages.inbox(hub, members.authenticate_digest(hub, "solo", digest))
            read_ms.append((time.perf_counter() - start) * 1000)
            again = messages.inbox(hub, members.authenticate_digest(hub, "solo", digest))
            if [item.id for item in got] != [sent.id] or again:
                raise SystemExit(f"round {n}: read {[item.id for item in got]} then {[i.id for i in again]}")
        cpu = (time.process_time() - cpu_before) * 1000 / (rounds * 3)
    return {"cpu": cpu, "send_p50": statistics.median(send_ms), "read_p50": statistics.median(read_ms)}


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
