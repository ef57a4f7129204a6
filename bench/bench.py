"""Benchmark team-table over stdio, the way agents' clients run it: real hub processes on one SQLite file.

Run from the repository root:

    .venv/bin/python bench/bench.py            # full run, about a minute on 2 cores
    .venv/bin/python bench/bench.py --quick    # a short run

Prints round-trip latency of send_message and get_messages, messages/s with 8 hub processes on one
database (with an exactly-once check), and the hubs' CPU time per tool call, each next to its target.
Exits 1 only when something was wrong (a tool error, a message lost or delivered twice), never
because a figure missed its speed target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from team_table.store import Store

CLOCK_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
RATE_LIMIT_PER_SENDER = 25  # stay under the hub's default 30 writes per sender per minute

TARGET_P50_MS = 1.5
TARGET_CPU_MS = 1.0

# A bare MCP server on the same SDK, served over stdio the same way, with one trivial tool.
BASELINE_SERVER = '''
import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer(name="baseline")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


anyio.run(server.run_stdio_async)
'''


@dataclass
class Runs:
    """Sizes of one benchmark run."""

    latency_calls: int
    warmup_calls: int
    agents: int
    messages_per_agent: int


FULL = Runs(latency_calls=800, warmup_calls=80, agents=8, messages_per_agent=400)
QUICK = Runs(latency_calls=150, warmup_calls=20, agents=8, messages_per_agent=50)


@dataclass
class Tally:
    """Tool calls made against a set of hub processes, and the refusals among them."""

    calls: int = 0
    errors: list[str] = field(default_factory=list)


# --- processes -------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()  # fields from the 3rd (state) on; comm may hold spaces


def children() -> set[int]:
    """Pids of this process's children (the stdio client spawns each hub as one)."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == me:
                    found.add(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # the process ended while we looked
    return found


def cpu_ms(pids: set[int]) -> float:
    """User + system CPU time of the processes so far, in milliseconds."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total * CLOCK_TICK_MS


class Seat:
    """One client session to one server process."""

    def __init__(self, client: Client, tally: Tally) -> None:
        self.client = client
        self.tally = tally

    async def call(self, tool: str, **args: Any) -> Any:
        result = await self.client.call_tool(tool, args)
        self.tally.calls += 1
        data = json.loads(result.content[0].text) if result.content else None
        if result.is_error or len(result.content) != 1:
            self.tally.errors.append(f"{tool}: {data}")
        return data


@asynccontextmanager
async def servers(params: StdioServerParameters, count: int, mode: str, logs: Path,
                  tally: Tally) -> AsyncIterator[tuple[list[Seat], set[int]]]:
    """Start `count` server processes at once; yield a seat for each, and their pids, once all answer."""
    before = children()
    found: list[Seat | None] = [None] * count
    ready = [anyio.Event() for _ in range(count)]
    closing = anyio.Event()

    async def hold(index: int) -> None:
        log = logs / f"server-{index}.log"
        try:
            with log.open("a") as errlog:
                async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
                    await client.list_tools()
                    found[index] = Seat(client, tally)
                    ready[index].set()
                    await closing.wait()
        except Exception as exc:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-8:])
            raise RuntimeError(f"server process {index} failed: {exc!r}; its log ends:\n{tail}") from exc

    async with anyio.create_task_group() as tg:
        for index in range(count):
            tg.start_soon(hold, index)
        try:
            with anyio.fail_after(120):
                for event in ready:
                    await event.wait()
            pids = children() - before
            assert len(pids) == count, f"expected {count} server processes, found {sorted(pids)}"
            yield [seat for seat in found if seat is not None], pids
        finally:
            closing.set()


# --- measurements ------------------------------------------------------------------------------


def ids_of(inbox: Any) -> list[int]:
    """The message ids of a get_messages answer (a refusal, already counted as an error, has none)."""
    return [m["id"] for m in inbox] if isinstance(inbox, list) else []


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def timed(samples: list[float], call) -> Any:
    start = time.perf_counter()
    result = await call
    samples.append((time.perf_counter() - start) * 1000)
    return result


async def register_all(seat: Seat, names: list[str]) -> dict[str, str]:
    tokens = {}
    for name in names:
        tokens[name] = (await seat.call("register", name=name))["token"]
    return tokens


async def measure_latency(params: StdioServerParameters, mode: str, runs: Runs, logs: Path) -> dict:
    """Sequential round trips through one hub process: send, read one new message, poll an empty inbox."""
    tally = Tally()
    async with servers(params, 1, mode, logs, tally) as ([seat], pids):
        total = runs.warmup_calls + runs.latency_calls
        senders = [f"sender-{n}" for n in range(-(-total // RATE_LIMIT_PER_SENDER))]
        tokens = await register_all(seat, [*senders, "reader"])
        reader = {"agent_name": "reader", "token": tokens["reader"]}
        send_ms: list[float] = []
        read_ms: list[float] = []
        poll_ms: list[float] = []
        cpu_before = calls_before = 0.0
        for n in range(total):
            if n == runs.warmup_calls:  # measure from here on
                for samples in (send_ms, read_ms, poll_ms):
                    samples.clear()
                cpu_before, calls_before = cpu_ms(pids), tally.calls
            sender = senders[n // RATE_LIMIT_PER_SENDER]
            sent = await timed(send_ms, seat.call("send_message", sender=sender, token=tokens[sender],
                                                  recipient="reader", content=f"message {n}"))
            inbox = await timed(read_ms, seat.call("get_messages", **reader))
            if ids_of(inbox) != [sent.get("id")]:
                tally.errors.append(f"get_messages returned ids {ids_of(inbox)} right after message {sent.get('id')}")
            again = await timed(poll_ms, seat.call("get_messages", **reader))
            if ids_of(again):
                tally.errors.append(f"get_messages returned ids {ids_of(again)} a second time")
        cpu = (cpu_ms(pids) - cpu_before) / (tally.calls - calls_before)
    return {"send": send_ms, "read": read_ms, "poll": poll_ms, "cpu_per_call": cpu, "errors": tally.errors}


async def measure_baseline(script: Path, mode: str, runs: Runs, logs: Path) -> dict:
    """The same loop of round trips against a bare MCPServer with one trivial tool."""
    tally = Tally()
    params = StdioServerParameters(command=sys.executable, args=[str(script)], env=dict(os.environ))
    async with servers(params, 1, mode, logs, tally) as ([seat], pids):
        samples: list[float] = []

        async def echo(text: str) -> None:
            result = await seat.client.call_tool("echo", {"text": text})
            if result.is_error or [c.text for c in result.content] != [text]:
                tally.errors.append(f"echo: {result.content}")

        for _ in range(runs.warmup_calls):
            await echo("warm up")
        cpu_before = cpu_ms(pids)
        for n in range(runs.latency_calls):
            await timed(samples, echo(f"call {n}"))
        cpu = (cpu_ms(pids) - cpu_before) / runs.latency_calls
    return {"echo": samples, "cpu_per_call": cpu, "errors": tally.errors}


async def measure_ring(params: StdioServerParameters, mode: str, runs: Runs, logs: Path) -> dict:
    """`agents` hub processes on one DB: each client sends to the next one's agent and drains its own inbox."""
    tally = Tally()
    count, per_agent = runs.agents, runs.messages_per_agent
    async with servers(params, count, mode, logs, tally) as (seats, pids):
        pools = per_agent // RATE_LIMIT_PER_SENDER + 1
        tokens: list[dict[str, str]] = []
        for i, seat in enumerate(seats):  # each client speaks for its agent and a pool of senders
            tokens.append(await register_all(seat, [f"agent-{i}", *(f"agent-{i}-out-{k}" for k in range(pools))]))
        sent: dict[int, list[int]] = {i: [] for i in range(count)}  # by recipient
        received: dict[int, list[int]] = {i: [] for i in range(count)}
        finished = 0
        all_sent = anyio.Event()

        async def send(i: int) -> None:
            nonlocal finished
            target = (i + 1) % count
            for n in range(per_agent):
                sender = f"agent-{i}-out-{n // RATE_LIMIT_PER_SENDER}"
                message = await seats[i].call("send_message", sender=sender, token=tokens[i][sender],
                                              recipient=f"agent-{target}", content=f"{sender} #{n}")
                if isinstance(message, dict) and "error" not in message:
                    sent[target].append(message["id"])
            finished += 1
            if finished == count:
                all_sent.set()

        async def drain(i: int) -> None:
            me = {"agent_name": f"agent-{i}", "token": tokens[i][f"agent-{i}"]}
            while not all_sent.is_set():
                received[i].extend(ids_of(await seats[i].call("get_messages", **me)))
            received[i].extend(ids_of(await seats[i].call("get_messages", **me)))  # what came after the last poll

        cpu_before, calls_before = cpu_ms(pids), tally.calls
        start = time.perf_counter()
        with anyio.fail_after(180):
            async with anyio.create_task_group() as tg:
                for i in range(count):
                    tg.start_soon(send, i)
                    tg.start_soon(drain, i)
        elapsed = time.perf_counter() - start
        calls = tally.calls - calls_before
        cpu = (cpu_ms(pids) - cpu_before) / calls
    total_sent = sum(len(ids) for ids in sent.values())
    total_received = sum(len(ids) for ids in received.values())
    duplicates = sum(n - 1 for ids in received.values() for n in Counter(ids).values() if n > 1)
    lost = sum(len(set(sent[i]) - set(received[i])) for i in range(count))
    strays = sum(len(set(received[i]) - set(sent[i])) for i in range(count))
    return {
        "agents": count, "sent": total_sent, "received": total_received, "duplicates": duplicates,
        "lost": lost, "strays": strays, "expected": count * per_agent, "seconds": elapsed,
        "rate": sum(len(set(ids)) for ids in received.values()) / elapsed,
        "calls": calls, "cpu_per_call": cpu, "errors": tally.errors,
    }


# --- report ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(latency: dict, baseline: dict, ring: dict, mode: str, runs: Runs, quick: bool) -> bool:
    """Print the table; return whether the run was correct (no errors, exactly-once delivery)."""
    rows: list[tuple[str, str, str, str, str]] = []

    def timing(label: str, samples: list[float], target: str = "", ok: bool | None = None) -> None:
        rows.append((label, f"{statistics.median(samples):.2f}", f"{percentile(samples, 99):.2f}", target,
                     "" if ok is None else verdict(ok)))

    p50_send, p50_read = statistics.median(latency["send"]), statistics.median(latency["read"])
    timing("send_message round trip", latency["send"], f"p50 <= {TARGET_P50_MS} ms", p50_send <= TARGET_P50_MS)
    timing("get_messages round trip (1 new message)", latency["read"], f"p50 <= {TARGET_P50_MS} ms",
           p50_read <= TARGET_P50_MS)
    timing("get_messages round trip (empty inbox)", latency["poll"], f"p50 <= {TARGET_P50_MS} ms",
           statistics.median(latency["poll"]) <= TARGET_P50_MS)
    timing("baseline: bare MCPServer, one echo tool", baseline["echo"], "reference")
    rows.append(("hub CPU per tool call (one process)", f"{latency['cpu_per_call']:.2f}", "",
                 f"<= {TARGET_CPU_MS} ms", verdict(latency["cpu_per_call"] <= TARGET_CPU_MS)))
    rows.append((f"hub CPU per tool call ({ring['agents']} processes)", f"{ring['cpu_per_call']:.2f}", "",
                 f"<= {TARGET_CPU_MS} ms", verdict(ring["cpu_per_call"] <= TARGET_CPU_MS)))
    rows.append(("baseline CPU per tool call", f"{baseline['cpu_per_call']:.2f}", "", "reference", ""))
    rows.append((f"messages/s, {ring['agents']} processes on one DB", f"{ring['rate']:.0f}", "",
                 "reference", ""))

    errors = latency["errors"] + baseline["errors"] + ring["errors"]
    exactly_once = (ring["duplicates"] == 0 and ring["lost"] == 0 and ring["strays"] == 0
                    and ring["sent"] == ring["expected"] == ring["received"])
    rows.append(("tool errors", str(len(errors)), "", "0", "PASS" if not errors else "FAIL"))
    rows.append(("exactly-once delivery", f"{ring['received']}/{ring['sent']}", "", "exactly once",
                 "PASS" if exactly_once else "FAIL"))

    print(f"\nteam-table benchmark: {'quick' if quick else 'full'} run, client mode {mode}, "
          f"mcp {version('mcp')}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"latency: {runs.latency_calls} timed calls each after {runs.warmup_calls} warm-up rounds; "
          f"ring: {ring['agents']} processes x {runs.messages_per_agent} messages in {ring['seconds']:.1f} s, "
          f"{ring['calls']} tool calls\n")
    header = ("measure", "p50 / value (ms)", "p99 (ms)", "target", "")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(5)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(w) if i == 0 or i == 3 else str(cell).rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
    print(f"\nexactly once: sent {ring['sent']} (expected {ring['expected']}), received {ring['received']}, "
          f"duplicates {ring['duplicates']}, lost {ring['lost']}, misdelivered {ring['strays']}")
    for line in errors[:5]:
        print(f"error: {line[:200]}")
    print(f"\ncorrectness: {'PASS' if not errors and exactly_once else 'FAIL'} "
          "(speed targets are reported, never fatal)")
    return not errors and exactly_once


async def main(quick: bool, mode: str) -> int:
    runs = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="team-table-bench-") as tmp:
        work = Path(tmp)
        logs = work / "logs"
        logs.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEAM_TABLE_")}
        env |= {"TEAM_TABLE_LOG_LEVEL": "WARNING"}

        def hub(db: str) -> StdioServerParameters:
            # cwd is the temp folder, so no team.yaml of the current directory changes the hub.
            return StdioServerParameters(command=sys.executable, args=["-m", "team_table.server"],
                                         env={**env, "TEAM_TABLE_DB": str(work / db)}, cwd=str(work))

        script = work / "baseline_server.py"
        script.write_text(BASELINE_SERVER)
        print("measuring round trips through one hub process...", file=sys.stderr)
        latency = await measure_latency(hub("latency.db"), mode, runs, logs)
        print("measuring the bare MCPServer baseline...", file=sys.stderr)
        baseline = await measure_baseline(script, mode, runs, logs)
        print(f"measuring {runs.agents} hub processes on one database...", file=sys.stderr)
        # The ring's hubs start on an existing database: the bench measures steady state, not first start.
        Store.open(work / "ring.db").close()
        ring = await measure_ring(hub("ring.db"), mode, runs, logs)
        correct = report(latency, baseline, ring, mode, runs, quick)
        if not correct:
            for log in sorted(logs.glob("*.log")):
                tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                if tail:
                    print(f"\n{log.name} (last lines):\n  " + "\n  ".join(tail), file=sys.stderr)
    return 0 if correct else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (a few seconds of measuring)")
    parser.add_argument("--mode", default="legacy", choices=["legacy", "2026-07-28"],
                        help="protocol the clients speak: legacy (initialize handshake, like mcp 1.x) or 2026-07-28")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    sys.exit(anyio.run(main, args.quick, args.mode))
