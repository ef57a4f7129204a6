"""The probe's faults that show only in real processes: slow clients, stuck readers, guessed tokens in tool
arguments, a full or read-only disk, and a stdio client spawning the hub in the example team's folder."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Iterator, MutableMapping
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

import stores
from team_table.config import EMPTY_TEAM
from team_table.fanout import Fanout
from team_table.runtime import open_table
from team_table.server.auth_failures import FailedAuth
from team_table.server.events_route import events_endpoint
from team_table.server.metrics import Metrics
from team_table.settings import resolve

from network_helpers import HubFiles, join_all, mcp_client, running_hub
from stdio_helpers import PYTHON, TEAM_TABLE, Seat, hub_env
from support import free_port

pytestmark = pytest.mark.anyio


@pytest.mark.one_engine  # the HTTP edge: the request never reaches the database
@pytest.mark.processes
async def test_a_client_that_sends_its_headers_a_byte_at_a_time_is_cut_off(tmp_path: Path):
    async with running_hub(tmp_path, "hub:\n  request_timeout_seconds: 1\n") as hub:
        with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as slow:
            start = time.monotonic()
            request = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            closed = False
            for byte in request:
                try:
                    slow.send(bytes([byte]))
                except OSError:
                    closed = True
                    break
                await anyio.sleep(0.1)
            if not closed:
                slow.settimeout(5)
                closed = slow.recv(1024) == b""
            assert closed and time.monotonic() - start < 6
        async with httpx2.AsyncClient() as http:  # everyone else is served as before
            assert (await http.get(hub.url + "/healthz")).status_code == 200


async def test_a_push_reader_that_stops_reading_is_cut_off_and_its_stream_counted_closed(tmp_path: Path):
    from team_table import members

    settings = resolve({"db": stores.table_db(tmp_path)}, {}, EMPTY_TEAM, None)
    with open_table(settings, EMPTY_TEAM) as hub:
        token = members.register(hub, "alice", "agent", "[]", "").token
        fanout, metrics = Fanout(hub.store), Metrics()

        async def run(work):
            return work()

        endpoint = events_endpoint(hub, fanout, run, FailedAuth(metrics), metrics, heartbeat=0.05, send_timeout=0.5)
        from starlette.applications import Starlette
        from starlette.routing import Route

        app = Starlette(routes=[Route("/events/{agent_name}", endpoint)])
        sent: list[MutableMapping[str, Any]] = []
        stuck = asyncio.Event()

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and len(sent) > 2:
                await stuck.wait()  # the socket's buffers are full: this send never completes

        async def receive() -> MutableMapping[str, Any]:
            await stuck.wait()  # the client never says anything more (and never disconnects)
            return {"type": "http.disconnect"}

        scope = {"type": "http", "method": "GET", "path": "/events/alice", "raw_path": b"/events/alice",
                 "query_string": b"", "headers": [(b"authorization", f"Bearer {token}".encode())],
                 "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8741), "scheme": "http",
                 "root_path": "", "http_version": "1.1", "asgi": {"version": "3.0"}}
        with anyio.fail_after(10):
            try:
                await app(scope, receive, send)
            except Exception as exc:  # the response ends by timing out its send
                assert "timeout" in type(exc).__name__.lower() or "Timeout" in repr(exc), repr(exc)
        assert fanout.streams == 0
        gauge = next(m for m in metrics.registry.collect() if m.name == "team_table_event_streams")
        assert gauge.samples[0].value == 0


@pytest.mark.processes
async def test_wrong_tokens_in_tool_arguments_over_http_are_throttled_like_bearer_tokens(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        (alice,) = await join_all(stack, hub, "alice")
        guesser = Seat(await stack.enter_async_context(mcp_client(hub.url, "http-handshake")), hub.log)
        codes = [(await guesser.raw("heartbeat", name="alice", token=f"guess-{n}")).data["code"] for n in range(11)]
        assert codes == ["unauthorized"] * 10 + ["rate_limited"]
        good = Seat(await stack.enter_async_context(mcp_client(hub.url, "http-2026", bearer=alice.token)), hub.log)
        assert (await good.raw("heartbeat")).data["name"] == "alice"  # a valid token is never held up
        assert not (await alice.call("heartbeat")).is_error  # nor one in the arguments


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A small file system of its own, to fill up or make read-only (needs root; CI runs as root)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): run the suite as root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Take every free byte of the file system."""
    filler = folder / f"filler-{time.monotonic_ns()}"
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        return filler
    finally:
        os.close(fd)


@pytest.mark.sqlite_only
@pytest.mark.processes
async def test_a_full_disk_is_refused_as_unavailable_reported_by_readyz_and_recovered_from(tmp_path: Path):
    with tmpfs(tmp_path / "disk", "4m") as disk:
        env = {"TEAM_TABLE_DB": str(disk / "team.db")}
        async with running_hub(tmp_path / "hub", "", *("--db", str(disk / "team.db")), env=env) as hub, \
                AsyncExitStack() as stack, httpx2.AsyncClient(timeout=10) as http:
            alice, bob = await join_all(stack, hub, "alice", "bob")
            await alice.ok("send_message", recipient="bob", content="before")
            filler = fill(disk)
            refused = [await alice.call("share_context", key=f"k{n}", value="x" * 40_000) for n in range(3)]
            assert all(r.is_error and r.code == "unavailable" for r in refused), [r.data for r in refused]
            assert "disk is full" in refused[0].data["error"]
            ready = await http.get(hub.url + "/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["database"] is False, ready.text
            filler.unlink()
            await alice.ok("send_message", recipient="bob", content="after")
            assert (await http.get(hub.url + "/readyz")).status_code == 200
            assert [m["content"] for m in await bob.ok("get_messages")] == ["before", "after"]
            fill(disk)  # and the hub stops cleanly on a full disk too (checked as it exits: code 0, no traceback)


@pytest.mark.sqlite_only
@pytest.mark.processes
async def test_a_read_only_database_is_read_by_the_cli_and_refused_by_up_in_one_line(tmp_path: Path):
    with tmpfs(tmp_path / "disk", "8m") as disk:
        db = disk / "team.db"
        async with running_hub(tmp_path / "hub", "", "--db", str(db)) as hub, AsyncExitStack() as stack:
            await join_all(stack, hub, "alice")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        env = hub_env(tmp_path)
        listed = subprocess.run([TEAM_TABLE, "members", "--db", str(db)], capture_output=True, text=True, env=env,
                                cwd=tmp_path, timeout=30)
        assert listed.returncode == 0 and "alice" in listed.stdout, listed.stderr
        up = subprocess.run([TEAM_TABLE, "up", "--transport", "streamable-http", "--port", str(free_port()),
                             "--db", str(db)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=30,
                            stdin=subprocess.DEVNULL)
        assert up.returncode == 1 and "Traceback" not in up.stderr, up.stderr
        assert "read-only" in up.stderr and str(db) in up.stderr, up.stderr


@pytest.mark.sqlite_only
@pytest.mark.processes
async def test_a_client_spawning_the_hub_in_the_example_teams_folder_gets_stdio_and_no_hub_outlives_it(
        tmp_path: Path):
    files = HubFiles(tmp_path)
    port = free_port()
    files.config.write_text(f"hub:\n  transport: streamable-http\n  port: {port}\n  db: team.db\n")
    params = StdioServerParameters(command=PYTHON, args=["-m", "team_table.server"], env=hub_env(files.home),
                                   cwd=str(tmp_path))
    errors = tmp_path / "stderr.log"
    with errors.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            agent = Seat(client, errors)
            await agent.join("alice")
            assert not (await agent.call("heartbeat")).is_error
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens on the team's port
    assert "serving stdio" in errors.read_text()
    with anyio.fail_after(10):
        while _hub_processes(tmp_path):
            await anyio.sleep(0.1)  # the hub goes with its client's pipe


def _hub_processes(folder: Path) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.readlink(f"/proc/{pid}/cwd") == str(folder):
                    found.append(int(pid))
            except OSError:
                continue
    return [pid for pid in found if pid != os.getpid()]
