"""Crashes under load: a network hub and stdio hub processes killed with SIGKILL mid-run lose nothing they
acknowledged, deliver nothing twice, and leave a database that passes SQLite's integrity check."""

from __future__ import annotations

import os
import signal
import sqlite3
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client

import stores

from network_helpers import HubFiles, _start, join_all, mcp_client, running_hub
from stdio_helpers import Seat, launch, seats

pytestmark = [pytest.mark.anyio, pytest.mark.processes]

NO_RATE_LIMIT = "limits:\n  rate:\n    writes: 100000\n    window_seconds: 60\n"


def integrity(db: Path | str) -> str:
    """SQLite's own check of its file; a PostgreSQL server keeps its files whole itself (its WAL)."""
    if stores.on_postgres():
        return "ok"
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


async def send_until_stopped(agent, recipient: str, acknowledged: list[int], stop: anyio.Event) -> None:
    """Send as fast as the hub answers; keep the id of every send it acknowledged."""
    n = 0
    while not stop.is_set():
        try:
            reply = await agent.call("send_message", recipient=recipient, content=f"{agent.name} {n}")
        except Exception:  # the hub died mid-call: this send was never acknowledged
            return
        if reply.is_error:
            return
        acknowledged.append(reply.data["id"])
        n += 1


async def test_a_network_hub_killed_under_load_loses_nothing_it_acknowledged(tmp_path: Path):
    files = HubFiles(tmp_path)
    files.config.write_text(NO_RATE_LIMIT)
    names = ["alice", "bob", "carol"]
    acknowledged: dict[str, list[int]] = {name: [] for name in names}
    read_before: dict[str, list[int]] = {name: [] for name in names}
    tokens: dict[str, str] = {}
    stop, killed = anyio.Event(), anyio.Event()

    async def agent(i: int, name: str, ready: anyio.Event) -> None:
        """One agent's own client, in a task of its own: when the hub dies, only this task sees its connection fail."""
        try:
            async with mcp_client(hub.url, "http-handshake") as client:
                seat = await Seat(client, hub.log).join(name)
                tokens[name] = seat.token
                ready.set()
                await send_until_stopped(seat, names[(i + 1) % 3], acknowledged[name], stop)
                if name == "bob":
                    read_before[name] = await every_message(seat)
                await stop.wait()
        except BaseException as exc:
            if not killed.is_set() or isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        ready.set()

    async with AsyncExitStack() as processes:
        hub = await _start(files, (), {}, False, 45, processes)  # bounds, not figures: a loaded CI machine
        async with anyio.create_task_group() as group:
            for i, name in enumerate(names):
                ready = anyio.Event()
                group.start_soon(agent, i, name, ready)
                with anyio.fail_after(45):
                    await ready.wait()
            with anyio.fail_after(60):
                while sum(map(len, acknowledged.values())) < 150:
                    await anyio.sleep(0.02)
            killed.set()
            hub.process.send_signal(signal.SIGKILL)
            await hub.process.wait()
            stop.set()
    if not stores.on_postgres():
        assert integrity(files.db) == "ok"
    async with running_hub(tmp_path, None) as again, AsyncExitStack() as stack:
        for i, name in enumerate(names):
            reader = (await join_all(stack, again, "probe-" + name))[0].as_agent(name, tokens[name])
            received = read_before[name] + await every_message(reader)
            sender = names[(i - 1) % 3]
            assert len(received) == len(set(received)), name  # nothing twice
            assert set(acknowledged[sender]) <= set(received), name  # nothing acknowledged lost


async def test_stdio_hub_processes_killed_under_load_lose_nothing_they_acknowledged(tmp_path: Path):
    db, home = stores.table_db(tmp_path), tmp_path / "home"
    home.mkdir()
    (home / "team.yaml").write_text(NO_RATE_LIMIT)
    params = launch("python -m team_table.server", db, home, TEAM_TABLE_CONFIG=str(home / "team.yaml"))
    names = ["alice", "bob", "carol", "dave"]
    acknowledged: dict[str, list[int]] = {name: [] for name in names}
    tokens: dict[str, str] = {}
    pids: dict[str, int] = {}
    stop, killed = anyio.Event(), anyio.Event()

    async def agent(i: int, name: str, ready: anyio.Event) -> None:
        log = tmp_path / f"{name}.log"
        try:
            with log.open("w") as errlog:
                async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
                    seat = Seat(client, log)
                    await seat.join(name)
                    tokens[name] = seat.token
                    pids[name] = _pid_of(log)
                    ready.set()
                    await send_until_stopped(seat, names[(i + 1) % 4], acknowledged[name], stop)
                    await stop.wait()
        except Exception:
            if not killed.is_set():
                raise  # only the processes this test killed may end this way
        ready.set()

    async with anyio.create_task_group() as group:
        started = [anyio.Event() for _ in names]
        for i, name in enumerate(names):  # the four processes start together
            group.start_soon(agent, i, name, started[i])
        with anyio.fail_after(30):
            for ready in started:
                await ready.wait()
            while sum(map(len, acknowledged.values())) < 80:
                await anyio.sleep(0.02)
        killed.set()
        for name in ("alice", "carol"):  # two of the four, in the middle of their sends
            os.kill(pids[name], signal.SIGKILL)
        with anyio.fail_after(30):
            while len(acknowledged["bob"]) + len(acknowledged["dave"]) < 80:
                await anyio.sleep(0.02)  # the two left go on meanwhile
        stop.set()
    assert integrity(db) == "ok"
    async with seats([(params, "legacy")], tmp_path / "after") as (reader,):
        for i, name in enumerate(names):
            inbox = await every_message(reader.as_agent(name, tokens[name]))
            sender = names[(i - 1) % 4]
            assert len(inbox) == len(set(inbox)), name
            assert set(acknowledged[sender]) <= set(inbox), name


async def every_message(seat) -> list[int]:
    """The ids of all of a seat's unread messages: get_messages answers a page (100) at a time."""
    ids: list[int] = []
    while page := await seat.ok("get_messages"):
        ids += [m["id"] for m in page]
    return ids


def _pid_of(log: Path) -> int:
    """The hub process writing `log` (its stderr), found through /proc."""
    for pid in (p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()):
        try:
            if os.readlink(f"/proc/{pid}/fd/2") == str(log):
                return int(pid)
        except OSError:
            continue
    raise AssertionError(f"no process writes {log}")
