"""Benchmark team-table the way agents reach it: over stdio (hub processes on one SQLite file) and over HTTP.

Run from the repository root:

    .venv/bin/python bench/bench.py                # full run, both parts: about a minute on 2 cores
    .venv/bin/python bench/bench.py --quick        # a short run
    .venv/bin/python bench/bench.py --only http    # one part: stdio or http

stdio: round-trip latency of send_message and get_messages, messages/s with 8 hub processes on one
database (with an exactly-once check), and the hubs' CPU time per tool call, each next to its target.
http: the network hub (`team-table up --transport streamable-http`): the same round trips, 16 agents each
with its own bearer-bound session exchanging messages (messages/s, exactly once), push latency to an
/events stream, the hub's CPU per call and memory; and a bare MCPServer over streamable HTTP as baseline.
Exits 1 only when something was wrong (a tool error, a message lost or delivered twice, a push event
missing or repeated), never because a figure missed its speed target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

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
        samples, cpu = await echo_round_trips(seat, runs, tally, pids)
    return {"echo": samples, "cpu_per_call": cpu, "errors": tally.errors}


async def echo_round_trips(seat, runs, tally: Tally, pids: set[int]) -> tuple[list[float], float]:
    """Round trips to the baseline's echo tool after a warm-up; their latencies and the server CPU per call."""
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
    return samples, (cpu_ms(pids) - cpu_before) / runs.latency_calls


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
    return {"agents": count, **deliveries(sent, received, count * per_agent), "seconds": elapsed,
            "rate": sum(len(set(ids)) for ids in received.values()) / elapsed,
            "calls": calls, "cpu_per_call": cpu, "errors": tally.errors}


def deliveries(sent: dict[int, list[int]], received: dict[int, list[int]], expected: int) -> dict:
    """The exactly-once check of a ring: message ids sent to each agent against the ids it read."""
    duplicates = sum(n - 1 for ids in received.values() for n in Counter(ids).values() if n > 1)
    lost = sum(len(set(sent[i]) - set(received[i])) for i in sent)
    strays = sum(len(set(received[i]) - set(sent[i])) for i in sent)
    total_sent = sum(len(ids) for ids in sent.values())
    total_received = sum(len(ids) for ids in received.values())
    exactly_once = duplicates == lost == strays == 0 and total_sent == expected == total_received
    return {"sent": total_sent, "received": total_received, "duplicates": duplicates, "lost": lost,
            "strays": strays, "expected": expected, "exactly_once": exactly_once}


# --- network hub (streamable HTTP) -------------------------------------------------------------

TARGET_HTTP_P50_MS = 2.5
TARGET_PUSH_MS = 3.0

# The hub's team.yaml for the HTTP part. Over the network an agent's client is bound to it by its bearer
# token, so every message of an agent has one sender; the default limit (30 writes a minute per sender)
# would refuse most of the run, hence a limit no run reaches. The limit is still counted on every write.
HTTP_CONFIG = """\
limits:
  rate:
    writes: 1000000
    window_seconds: 60
"""

# The same bare server as the stdio baseline, served over streamable HTTP by uvicorn with the SDK's defaults.
BASELINE_HTTP_SERVER = '''
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer(name="baseline", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=int(sys.argv[1]), log_config=None,
            access_log=False)
'''


@dataclass
class HttpRuns:
    """Sizes of the HTTP part of a run."""

    latency_calls: int
    warmup_calls: int
    agents: int
    messages_per_agent: int
    pushes: int


HTTP_FULL = HttpRuns(latency_calls=600, warmup_calls=60, agents=16, messages_per_agent=100, pushes=300)
HTTP_QUICK = HttpRuns(latency_calls=150, warmup_calls=20, agents=16, messages_per_agent=25, pushes=60)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (the peak) of a process, in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024  # kB
    return found


def own_cpu_ms() -> float:
    """User + system CPU time of this process (the benchmark's clients) so far, in milliseconds."""
    times = os.times()
    return (times.user + times.system) * 1000


@asynccontextmanager
async def listening(args: list[str], port: int, log: Path, env: dict[str, str], cwd: Path,
                    stop: signal.Signals = signal.SIGTERM) -> AsyncIterator[int]:
    """Start a server process; yield its pid once it accepts connections on `port`; stop it with `stop`."""
    with log.open("a") as errlog:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=errlog, stderr=errlog, env=env, cwd=cwd)
    try:
        with anyio.fail_after(60):
            while True:
                if proc.poll() is not None:
                    tail = "\n".join(log.read_text(errors="replace").splitlines()[-8:])
                    raise RuntimeError(f"{args[1:4]} exited with status {proc.returncode}; its log ends:\n{tail}")
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    await anyio.sleep(0.05)
                    continue
                await stream.aclose()
                break
        yield proc.pid
    finally:
        proc.send_signal(stop)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@asynccontextmanager
async def http_seat(url: str, mode: str, tally: Tally, token: str | None = None) -> AsyncIterator[HttpSeat]:
    """One client session over streamable HTTP; with a token, bound to its agent by `Authorization: Bearer`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http, \
            Client(streamable_http_client(url, http_client=http), mode=mode, read_timeout_seconds=60) as client:
        yield HttpSeat(client, tally)


class HttpSeat(Seat):
    """A seat whose failed calls (HTTP errors, timeouts) count as errors instead of ending the run."""

    async def call(self, tool: str, **args: Any) -> Any:
        try:
            return await super().call(tool, **args)
        except Exception as exc:  # any failure of a call is reported, and the run goes on
            self.tally.calls += 1
            self.tally.errors.append(f"{tool}: {exc!r}")
            return None


async def register_over_http(url: str, mode: str, tally: Tally, names: list[str]) -> dict[str, str]:
    """Register agents through one unbound session; their tokens, by name."""
    async with http_seat(url, mode, tally) as seat:
        answers = {name: await seat.call("register", name=name) for name in names}
    missing = [name for name, answer in answers.items() if not isinstance(answer, dict) or "token" not in answer]
    if missing:
        raise RuntimeError(f"register failed for {missing}: {tally.errors[-3:]}")
    return {name: answer["token"] for name, answer in answers.items()}


async def measure_http_latency(url: str, mode: str, runs: HttpRuns, pid: int) -> dict:
    """One client bound by its bearer token sends to itself, reads the message, then polls an empty inbox."""
    tally = Tally()
    tokens = await register_over_http(url, mode, tally, ["solo"])
    async with http_seat(url, mode, tally, tokens["solo"]) as seat:
        send_ms: list[float] = []
        read_ms: list[float] = []
        poll_ms: list[float] = []
        cpu_before = calls_before = 0.0
        for n in range(runs.warmup_calls + runs.latency_calls):
            if n == runs.warmup_calls:  # measure from here on
                for samples in (send_ms, read_ms, poll_ms):
                    samples.clear()
                cpu_before, calls_before = cpu_ms({pid}), tally.calls
            sent = await timed(send_ms, seat.call("send_message", recipient="solo", content=f"message {n}"))
            inbox = await timed(read_ms, seat.call("get_messages"))
            sent_id = sent.get("id") if isinstance(sent, dict) else None
            if ids_of(inbox) != [sent_id]:
                tally.errors.append(f"get_messages returned ids {ids_of(inbox)} right after message {sent_id}")
            again = await timed(poll_ms, seat.call("get_messages"))
            if ids_of(again):
                tally.errors.append(f"get_messages returned ids {ids_of(again)} a second time")
        cpu = (cpu_ms({pid}) - cpu_before) / (tally.calls - calls_before)
    return {"send": send_ms, "read": read_ms, "poll": poll_ms, "cpu_per_call": cpu, "errors": tally.errors}


async def measure_http_baseline(url: str, mode: str, runs: HttpRuns, pid: int) -> dict:
    """The same round trip to a bare MCPServer with one trivial tool, over streamable HTTP."""
    tally = Tally()
    async with http_seat(url, mode, tally) as seat:
        samples, cpu = await echo_round_trips(seat, runs, tally, {pid})
    return {"echo": samples, "cpu_per_call": cpu, "errors": tally.errors, "memory": memory_mb(pid)}


async def measure_http_ring(url: str, mode: str, runs: HttpRuns, pid: int) -> dict:
    """`agents` sessions, each bound to its agent: each sends to the next agent and drains its own inbox."""
    tally = Tally()
    count, per_agent = runs.agents, runs.messages_per_agent
    names = [f"ring-{i}" for i in range(count)]
    tokens = await register_over_http(url, mode, tally, names)
    sent: dict[int, list[int]] = {i: [] for i in range(count)}  # by recipient
    received: dict[int, list[int]] = {i: [] for i in range(count)}
    finished = 0
    all_sent = anyio.Event()
    async with AsyncExitStack() as stack:
        seats = [await stack.enter_async_context(http_seat(url, mode, tally, tokens[name])) for name in names]

        async def send(i: int) -> None:
            nonlocal finished
            target = (i + 1) % count
            for n in range(per_agent):
                message = await seats[i].call("send_message", recipient=names[target], content=f"{names[i]} #{n}")
                if isinstance(message, dict) and "error" not in message:
                    sent[target].append(message["id"])
            finished += 1
            if finished == count:
                all_sent.set()

        async def drain(i: int) -> None:
            while not all_sent.is_set():
                received[i].extend(ids_of(await seats[i].call("get_messages")))
            received[i].extend(ids_of(await seats[i].call("get_messages")))  # what came after the last poll

        cpu_before, own_before, calls_before = cpu_ms({pid}), own_cpu_ms(), tally.calls
        start = time.perf_counter()
        with anyio.fail_after(150):
            async with anyio.create_task_group() as tg:
                for i in range(count):
                    tg.start_soon(send, i)
                    tg.start_soon(drain, i)
        elapsed = time.perf_counter() - start
        hub_cpu, own_cpu = cpu_ms({pid}) - cpu_before, own_cpu_ms() - own_before
        calls = tally.calls - calls_before
    return {"agents": count, **deliveries(sent, received, count * per_agent), "seconds": elapsed,
            "rate": sum(len(set(ids)) for ids in received.values()) / elapsed, "calls": calls,
            "cpu_per_call": hub_cpu / calls, "hub_busy": hub_cpu / (elapsed * 1000),
            "client_busy": own_cpu / (elapsed * 1000), "errors": tally.errors}


class _Listener:
    """One agent's /events stream, read in a task: when each `message` event arrived, by message id."""

    def __init__(self) -> None:
        self.connected = anyio.Event()
        self.changed = anyio.Event()
        self.arrived: dict[int, float] = {}
        self.seen: Counter[int] = Counter()
        self.problems: list[str] = []

    async def read(self, http: httpx2.AsyncClient, url: str, agent: str, token: str) -> None:
        async with http.stream("GET", f"{url}/events/{agent}", headers={"Authorization": f"Bearer {token}"}) as resp:
            if resp.status_code != 200:
                self.problems.append(f"GET /events/{agent} answered {resp.status_code}")
                self.connected.set()
                return
            fields: dict[str, str] = {}
            async for line in resp.aiter_lines():
                if line:
                    name, _, value = line.partition(":")
                    if name:  # a line starting with ':' is a comment (keep-alive)
                        fields[name] = fields.get(name, "") + value.removeprefix(" ")
                    continue
                self._dispatch(fields, agent, time.perf_counter())
                fields = {}

    def _dispatch(self, fields: dict[str, str], agent: str, now: float) -> None:
        kind = fields.get("event")
        if kind == "connected":
            self.connected.set()
        elif kind == "message":
            data = json.loads(fields.get("data", "{}"))
            if data.get("recipient") != agent:
                self.problems.append(f"/events/{agent} carried a message event for {data.get('recipient')}")
            self.seen[data["id"]] += 1
            self.arrived.setdefault(data["id"], now)
            changed, self.changed = self.changed, anyio.Event()
            changed.set()

    async def wait_for(self, message_id: int) -> float | None:
        """When the event of `message_id` arrived; None if it did not come within 5 seconds."""
        with anyio.move_on_after(5):
            while message_id not in self.arrived:
                await self.changed.wait()
        return self.arrived.get(message_id)


async def measure_push(url: str, base: str, mode: str, runs: HttpRuns) -> dict:
    """From the start of a send_message call to the `message` event on the recipient's open /events stream."""
    tally = Tally()
    tokens = await register_over_http(url, mode, tally, ["push-from", "push-to"])
    listener = _Listener()
    samples: list[float] = []
    sent_ids: list[int] = []
    warmup = 10
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=60)) as http, \
            http_seat(url, mode, tally, tokens["push-from"]) as seat, anyio.create_task_group() as tg:
        tg.start_soon(listener.read, http, base, "push-to", tokens["push-to"])
        with anyio.fail_after(10):
            await listener.connected.wait()
        for n in range(warmup + runs.pushes):
            start = time.perf_counter()
            message = await seat.call("send_message", recipient="push-to", content=f"push #{n}")
            if not isinstance(message, dict) or "id" not in message:
                continue
            sent_ids.append(message["id"])
            arrived = await listener.wait_for(message["id"])
            if arrived is None:
                tally.errors.append(f"no message event on /events/push-to for message {message['id']} within 5 s")
            elif n >= warmup:
                samples.append((arrived - start) * 1000)
        await anyio.sleep(0.2)  # a duplicate would come right after
        tg.cancel_scope.cancel()
    duplicates = sum(n - 1 for n in listener.seen.values() if n > 1)
    strays = len(set(listener.seen) - set(sent_ids))
    once = (duplicates == strays == 0 and all(listener.seen[i] == 1 for i in sent_ids)
            and len(sent_ids) == warmup + runs.pushes)
    return {"push": samples, "events": sum(listener.seen.values()), "sent": len(sent_ids), "once": once,
            "duplicates": duplicates, "strays": strays, "errors": tally.errors + listener.problems}


async def measure_http(work: Path, logs: Path, env: dict[str, str], mode: str, runs: HttpRuns,
                       profile: Path | None = None, launcher: list[str] | None = None) -> dict:
    """The network hub: latency, the 16-agent ring, push, then its memory; and the bare baseline over HTTP.

    `launcher` is the command that runs the `team-table` CLI (default: this Python, `-m team_table`).
    """
    config = work / "team.yaml"
    config.write_text(HTTP_CONFIG)
    port = free_port()
    launcher = launcher or [sys.executable, "-m", "team_table"]
    if profile is not None:  # the same hub under cProfile; its CPU figures are then the profiler's too
        launcher = [sys.executable, "-m", "cProfile", "-o", str(profile.resolve()), *launcher[1:]]
    command = [*launcher, "up", "--transport", "streamable-http", "--host", "127.0.0.1", "--port", str(port),
               "--db", str(work / "http.db"), "--config", str(config)]
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    # Stopped with SIGINT, as Ctrl-C stops it: the hub shuts down gracefully, and under cProfile the profile
    # is written on the way out.
    async with listening(command, port, logs / "http-hub.log", env, work, signal.SIGINT) as pid:
        print("measuring round trips through the network hub...", file=sys.stderr)
        results["latency"] = await measure_http_latency(f"{base}/mcp", mode, runs, pid)
        print(f"measuring {runs.agents} agents exchanging messages through the network hub...", file=sys.stderr)
        results["ring"] = await measure_http_ring(f"{base}/mcp", mode, runs, pid)
        print("measuring push latency on /events...", file=sys.stderr)
        results["push"] = await measure_push(f"{base}/mcp", base, mode, runs)
        results["memory"] = memory_mb(pid)
    script = work / "baseline_http_server.py"
    script.write_text(BASELINE_HTTP_SERVER)
    port = free_port()
    print("measuring the bare MCPServer baseline over HTTP...", file=sys.stderr)
    async with listening([sys.executable, str(script), str(port)], port, logs / "http-baseline.log", env,
                         work) as pid:
        results["baseline"] = await measure_http_baseline(f"http://127.0.0.1:{port}/mcp", mode, runs, pid)
    return results


# --- report ------------------------------------------------------------------------------------

Row = tuple[str, str, str, str, str]


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def timing(rows: list[Row], label: str, samples: list[float], target: str = "", ok: bool | None = None) -> None:
    rows.append((label, f"{statistics.median(samples):.2f}", f"{percentile(samples, 99):.2f}", target,
                 "" if ok is None else verdict(ok)))


def print_table(rows: list[Row]) -> None:
    header = ("measure", "p50 / value (ms)", "p99 (ms)", "target", "")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(5)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(w) if i == 0 or i == 3 else str(cell).rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())


def report(latency: dict, baseline: dict, ring: dict, mode: str, runs: Runs, quick: bool) -> bool:
    """Print the stdio table; return whether that part was correct (no errors, exactly-once delivery)."""
    rows: list[Row] = []
    for label, samples in (("send_message round trip", latency["send"]),
                           ("get_messages round trip (1 new message)", latency["read"]),
                           ("get_messages round trip (empty inbox)", latency["poll"])):
        timing(rows, label, samples, f"p50 <= {TARGET_P50_MS} ms", statistics.median(samples) <= TARGET_P50_MS)
    timing(rows, "baseline: bare MCPServer, one echo tool", baseline["echo"], "reference")
    rows.append(("hub CPU per tool call (one process)", f"{latency['cpu_per_call']:.2f}", "",
                 f"<= {TARGET_CPU_MS} ms", verdict(latency["cpu_per_call"] <= TARGET_CPU_MS)))
    rows.append((f"hub CPU per tool call ({ring['agents']} processes)", f"{ring['cpu_per_call']:.2f}", "",
                 f"<= {TARGET_CPU_MS} ms", verdict(ring["cpu_per_call"] <= TARGET_CPU_MS)))
    rows.append(("baseline CPU per tool call", f"{baseline['cpu_per_call']:.2f}", "", "reference", ""))
    rows.append((f"messages/s, {ring['agents']} processes on one DB", f"{ring['rate']:.0f}", "",
                 "reference", ""))

    errors = latency["errors"] + baseline["errors"] + ring["errors"]
    rows.append(("tool errors", str(len(errors)), "", "0", "PASS" if not errors else "FAIL"))
    rows.append(("exactly-once delivery", f"{ring['received']}/{ring['sent']}", "", "exactly once",
                 "PASS" if ring["exactly_once"] else "FAIL"))

    print(f"\nteam-table benchmark, stdio: {'quick' if quick else 'full'} run, client mode {mode}, "
          f"mcp {version('mcp')}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"latency: {runs.latency_calls} timed calls each after {runs.warmup_calls} warm-up rounds; "
          f"ring: {ring['agents']} processes x {runs.messages_per_agent} messages in {ring['seconds']:.1f} s, "
          f"{ring['calls']} tool calls\n")
    print_table(rows)
    print_delivery(ring)
    for line in errors[:5]:
        print(f"error: {line[:200]}")
    return not errors and ring["exactly_once"]


def print_delivery(ring: dict) -> None:
    print(f"\nexactly once: sent {ring['sent']} (expected {ring['expected']}), received {ring['received']}, "
          f"duplicates {ring['duplicates']}, lost {ring['lost']}, misdelivered {ring['strays']}")


def report_http(results: dict, mode: str, runs: HttpRuns, quick: bool, profiled: bool) -> bool:
    """Print the streamable-HTTP table; return whether that part was correct."""
    latency, ring, push, baseline = results["latency"], results["ring"], results["push"], results["baseline"]
    memory, base_memory = results["memory"], baseline["memory"]
    rows: list[Row] = []
    for label, samples in (("send_message round trip", latency["send"]),
                           ("get_messages round trip (1 new message)", latency["read"]),
                           ("get_messages round trip (empty inbox)", latency["poll"])):
        timing(rows, label, samples, f"p50 <= {TARGET_HTTP_P50_MS} ms",
               statistics.median(samples) <= TARGET_HTTP_P50_MS)
    timing(rows, "baseline: bare MCPServer, one echo tool", baseline["echo"], "reference")
    if push["push"]:
        timing(rows, "push: send_message start to /events message", push["push"], f"p50 < {TARGET_PUSH_MS} ms",
               statistics.median(push["push"]) < TARGET_PUSH_MS)
    rows.append(("hub CPU per tool call (one client)", f"{latency['cpu_per_call']:.2f}", "",
                 f"<= {TARGET_CPU_MS} ms", verdict(latency["cpu_per_call"] <= TARGET_CPU_MS)))
    rows.append((f"hub CPU per tool call ({ring['agents']} agents)", f"{ring['cpu_per_call']:.2f}", "",
                 f"<= {TARGET_CPU_MS} ms", verdict(ring["cpu_per_call"] <= TARGET_CPU_MS)))
    rows.append(("baseline CPU per tool call", f"{baseline['cpu_per_call']:.2f}", "", "reference", ""))
    rows.append((f"messages/s, {ring['agents']} agents, one hub", f"{ring['rate']:.0f}", "", "reference", ""))
    rows.append(("hub memory after the run, VmRSS (MiB)", f"{memory['VmRSS']:.1f}", "", "reference", ""))
    rows.append(("hub peak memory, VmHWM (MiB)", f"{memory['VmHWM']:.1f}", "", "reference", ""))
    rows.append(("baseline memory, VmRSS (MiB)", f"{base_memory['VmRSS']:.1f}", "", "reference", ""))

    errors = latency["errors"] + ring["errors"] + push["errors"] + baseline["errors"]
    rows.append(("tool errors", str(len(errors)), "", "0", "PASS" if not errors else "FAIL"))
    rows.append(("exactly-once delivery", f"{ring['received']}/{ring['sent']}", "", "exactly once",
                 "PASS" if ring["exactly_once"] else "FAIL"))
    rows.append(("push: one event per message", f"{push['events']}/{push['sent']}", "", "exactly once",
                 "PASS" if push["once"] else "FAIL"))

    print(f"\nteam-table benchmark, streamable HTTP: {'quick' if quick else 'full'} run, client mode {mode}, "
          f"mcp {version('mcp')}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"latency: {runs.latency_calls} timed calls each after {runs.warmup_calls} warm-up rounds; "
          f"ring: {ring['agents']} agents x {runs.messages_per_agent} messages in {ring['seconds']:.1f} s, "
          f"{ring['calls']} tool calls; hub busy {ring['hub_busy']:.0%} of a core, the bench's clients "
          f"{ring['client_busy']:.0%}; push: {len(push['push'])} messages")
    if profiled:
        print("the hub ran under cProfile: its CPU and latency figures include the profiler's cost")
    print()
    print_table(rows)
    print_delivery(ring)
    print(f"push: {push['events']} message events for {push['sent']} messages sent, duplicates "
          f"{push['duplicates']}, for other messages {push['strays']}")
    for line in errors[:5]:
        print(f"error: {line[:200]}")
    return not errors and ring["exactly_once"] and push["once"]


async def main(quick: bool, mode: str, only: str | None, profile: Path | None) -> int:
    runs = QUICK if quick else FULL
    correct = True
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

        if only in (None, "stdio"):
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
            correct &= report(latency, baseline, ring, mode, runs, quick)
        if only in (None, "http"):
            http_runs = HTTP_QUICK if quick else HTTP_FULL
            results = await measure_http(work, logs, env, mode, http_runs, profile)
            correct &= report_http(results, mode, http_runs, quick, profile is not None)
        print(f"\ncorrectness: {'PASS' if correct else 'FAIL'} (speed targets are reported, never fatal)")
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
    parser.add_argument("--only", choices=["stdio", "http"], default=None,
                        help="run one part: stdio (hub processes a client starts) or http (the network hub)")
    parser.add_argument("--profile-hub", metavar="FILE", type=Path, default=None,
                        help="run the network hub under cProfile and write its profile to FILE "
                             "(read it with python -m pstats FILE)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    sys.exit(anyio.run(main, args.quick, args.mode, args.only, args.profile_hub))
