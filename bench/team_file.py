"""Loading team.yaml: a team of 10,000 declared agents loaded and validated in-process, and a 20 MB file refused."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from report import Report
from servers import Workspace, write_team

if TYPE_CHECKING:  # imported where it is timed
    from team_table.config import Team

AGENTS = 10_000
REPEATS = 3
HUGE_BYTES = 20 * 1024 * 1024
TARGET_REFUSAL_MS = 100.0  # far less than parsing the file would take: the size alone refuses it


def _timed_loads(path: Path, repeats: int) -> tuple[list[float], list[Team | Exception]]:
    """`load_team(path)` `repeats` times: how long each took (ms), and what it returned or raised."""
    from team_table.config import load_team

    times: list[float] = []
    outcomes: list[Team | Exception] = []
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            outcomes.append(load_team(path))
        except Exception as exc:  # the outcome is checked by the caller
            outcomes.append(exc)
        times.append((time.perf_counter() - start) * 1000)
    return times, outcomes


# The same loads of the huge file, in a child process: a hub that parsed the file instead of refusing it would
# take minutes and gigabytes, so the child is stopped after REFUSAL_BOUND seconds.
REFUSALS = """
import json, sys, time
from pathlib import Path
from team_table.config import load_team
from team_table.errors import ConfigError
found = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    try:
        load_team(Path(sys.argv[1]))
        outcome = "loaded"
    except ConfigError:
        outcome = "ConfigError"
    except Exception as exc:
        outcome = type(exc).__name__
    found.append([(time.perf_counter() - start) * 1000, outcome])
print(json.dumps(found))
"""
REFUSAL_BOUND = 60


def _timed_refusals(path: Path, repeats: int) -> tuple[list[float], list[str]]:
    try:
        done = subprocess.run([sys.executable, "-c", REFUSALS, str(path), str(repeats)], capture_output=True,
                              text=True, timeout=REFUSAL_BOUND)
    except subprocess.TimeoutExpired:
        return [], [f"load_team did not return within {REFUSAL_BOUND} s"]
    if done.returncode != 0:
        return [], [f"the loading process failed: {done.stderr.strip()[-300:]}"]
    found = json.loads(done.stdout)
    return [ms for ms, _ in found], [outcome for _, outcome in found]


def _huge_file(path: Path) -> None:
    """A well-formed team.yaml of HUGE_BYTES and more: agents, agents, agents."""
    block = "".join(f"  agent-{n}:\n    role: coder\n    capabilities: [python]\n" for n in range(1000))
    with path.open("w") as out:
        out.write("agents:\n")
        written, round_ = 8, 0
        while written < HUGE_BYTES:
            chunk = block.replace("  agent-", f"  agent-{round_}-")
            out.write(chunk)
            written += len(chunk)
            round_ += 1


async def config_part(ws: Workspace, quick: bool) -> bool:
    big, huge = ws.folder("config-10k"), ws.folder("config-huge")
    path = write_team(big, agents=AGENTS)
    _huge_file(huge / "team.yaml")
    print(f"measuring team.yaml loads ({AGENTS} agents; {HUGE_BYTES // (1024 * 1024)} MiB)...", file=sys.stderr)
    load_ms, loaded = _timed_loads(path, REPEATS)
    refuse_ms, refused = _timed_refusals(huge / "team.yaml", REPEATS)

    report = Report("team.yaml", quick)
    report.notes.append(f"team_table.config.load_team, {REPEATS} times each: in this process, a team.yaml of {AGENTS} "
                        f"agents (role and capability each, {path.stat().st_size / 1024:.0f} KiB); in a child "
                        f"process, one of {(huge / 'team.yaml').stat().st_size / 1024 / 1024:.1f} MiB")
    report.value(f"load and validate {AGENTS} agents, median", f"{statistics.median(load_ms):.1f}")
    report.value(f"load and validate {AGENTS} agents, best", f"{min(load_ms):.1f}")
    if refuse_ms:
        report.value("refuse a 20 MiB team.yaml, median", f"{statistics.median(refuse_ms):.2f}",
                     f"< {TARGET_REFUSAL_MS:.0f} ms", statistics.median(refuse_ms) < TARGET_REFUSAL_MS)
    whole = [team for team in loaded if not isinstance(team, Exception) and len(team.agents) == AGENTS]
    report.check(f"{AGENTS}-agent team loaded", f"{len(whole)}/{REPEATS}", "every load", len(whole) == REPEATS)
    wrong = [outcome for outcome in refused if outcome != "ConfigError"]
    report.check("20 MiB team.yaml refused with ConfigError", f"{len(refused) - len(wrong)}/{REPEATS}",
                 "every load", not wrong and len(refused) == REPEATS)
    report.errors += [f"load_team: {team!r}"[:300] for team in loaded if isinstance(team, Exception)]
    report.errors += [f"the 20 MiB team.yaml: {outcome}" for outcome in wrong]
    return report.print()
