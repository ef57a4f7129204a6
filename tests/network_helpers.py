"""Real network hubs for tests: `team-table up` on a free port with its own database, config and HOME.

A hub is stopped the way an operator stops it (SIGTERM) and must then exit 0 with no traceback in its
log. Agents reach it through the SDK's clients (streamable HTTP in both protocol eras, legacy SSE), and
push streams are read event by event, each wait bounded.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

import stores

from conftest import Agent, listening_client
from stdio_helpers import LOG_ALARMS, PYTHON, TEAM_TABLE, Seat, hub_env
from support import free_port

# How an agent's client reaches the hub: (path, protocol mode). SSE only speaks the handshake era.
KINDS = {"http-handshake": ("/mcp", "legacy"), "http-2026": ("/mcp", "auto"), "sse": ("/sse", "legacy")}
MODERN = "2026-07-28"
ANNOUNCE = "team-table hub on "


@dataclass
class HubFiles:
    """A hub's own folder: HOME (also its working directory), database and team.yaml. Replicas each have a folder
    of their own and share the database of the first one's (`db_folder`)."""

    folder: Path
    db_folder: Path | None = None

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)

    @property
    def home(self) -> Path:
        return self.folder / "home"

    @property
    def db(self) -> str:
        """The table's database: a file in the folder, or the test's PostgreSQL database (see stores.py)."""
        return stores.table_db(self.db_folder or self.folder)

    @property
    def config(self) -> Path:
        return self.folder / "team.yaml"

    def command(self, port: int, *args: str) -> tuple[list[str], dict[str, str]]:
        """`team-table up` with flags: the command and the extra environment."""
        return [TEAM_TABLE, "up", "--transport", "streamable-http", "--port", str(port),
                "--db", str(self.db), "--config", str(self.config), *args], {}

    def command_by_env(self, port: int, *args: str) -> tuple[list[str], dict[str, str]]:
        """`python -m team_table.server`, configured by TEAM_TABLE_* variables alone (docs/compatibility.md §1)."""
        return [PYTHON, "-m", "team_table.server", *args], {
            "TEAM_TABLE_TRANSPORT": "streamable-http", "TEAM_TABLE_PORT": str(port),
            "TEAM_TABLE_DB": str(self.db), "TEAM_TABLE_CONFIG": str(self.config)}


@dataclass
class NetHub:
    """One running `team-table up` process: its URL, what it printed, and its log (stderr)."""

    process: Process
    files: HubFiles
    port: int
    log: Path
    printed: list[str] = field(default_factory=list)
    killed: bool = False
    _terminated_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def alarms(self) -> list[str]:
        return [line for line in self.log_text().splitlines() if any(a in line for a in LOG_ALARMS)]

    def kill(self) -> None:
        """SIGKILL, as a host that dies takes its processes: no clean exit is expected of it."""
        self.killed = True
        self.process.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """Send SIGTERM, as an operator or a service manager stops the hub."""
        if self.process.returncode is None and self._terminated_at is None:
            self._terminated_at = time.monotonic()
            self.process.send_signal(signal.SIGTERM)

    async def wait_exit(self, within: float = 15) -> float:
        """Wait for the exit after SIGTERM (killed if it takes longer than `within`). Returns seconds since SIGTERM."""
        with anyio.move_on_after(within):
            await self.process.wait()
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"the hub did not exit within {within} s of SIGTERM")
        return time.monotonic() - (self._terminated_at or time.monotonic())

    async def stop(self, within: float = 15) -> float:
        self.terminate()
        return await self.wait_exit(within)

    def assert_clean_exit(self) -> None:
        """Stopped with SIGTERM, a hub exits 0 and its log holds no traceback."""
        assert self.process.returncode == 0, (
            f"the hub exited {self.process.returncode} after SIGTERM, not 0; its log ends:\n{self.log_text()[-1500:]}")
        assert not self.alarms(), "\n".join(self.alarms())


async def _start(files: HubFiles, args: tuple[str, ...], env: dict[str, str], by_env: bool, within: float,
                 stack: AsyncExitStack) -> NetHub | None:
    """Start once; None when the port was taken under our feet (another test run), so the caller retries."""
    port = free_port()
    command, extra = (files.command_by_env if by_env else files.command)(port, *args)
    log = files.folder / f"hub-{port}.log"
    errlog = stack.enter_context(log.open("w"))
    process = await anyio.open_process(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errlog,
                                       cwd=files.home, env=hub_env(files.home, **extra, **env))
    hub = NetHub(process, files, port, log)
    announced = anyio.Event()
    tasks = await stack.enter_async_context(anyio.create_task_group())
    tasks.start_soon(_read_stdout, hub, announced)
    try:
        with anyio.fail_after(within):
            await announced.wait()
            if not any(ANNOUNCE + hub.url in line for line in hub.printed):
                await process.wait()
                if "address already in use" in hub.log_text().lower():
                    return None
                raise RuntimeError(f"the hub exited {process.returncode} before listening:\n{hub.log_text()}")
            async with httpx2.AsyncClient() as http:
                health = await http.get(hub.url + "/healthz")
            assert health.status_code == 200, health.text
    except BaseException:
        if process.returncode is None:
            process.kill()
        raise
    return hub


async def _read_stdout(hub: NetHub, announced: anyio.Event) -> None:
    """Keep what the hub prints; the announcement (or the end of its output) sets `announced`."""
    assert hub.process.stdout is not None
    pending = ""
    async for chunk in TextReceiveStream(hub.process.stdout):
        *lines, pending = (pending + chunk).split("\n")
        hub.printed.extend(lines)
        if any(line.startswith(ANNOUNCE) for line in lines):
            announced.set()
    hub.printed.append(pending)
    announced.set()


@asynccontextmanager
async def running_hub(folder: Path, team_yaml: str | None = "", *args: str, env: dict[str, str] | None = None,
                      by_env: bool = False, within: float = 45, db_folder: Path | None = None
                      ) -> AsyncIterator[NetHub]:
    """A network hub on a free port, serving the database in `folder` (the same one when the folder is reused).

    `team_yaml` is written to the folder's team.yaml (None keeps the file there). At the end the hub is
    stopped with SIGTERM, unless the test stopped it already, and must have exited 0 with a clean log
    (checked only when the test itself passed, so a failure is reported as what it is, and not of a hub the test
    killed). `db_folder`: serve the database of that folder's hub instead (a replica).
    """
    files = HubFiles(folder, db_folder)
    if team_yaml is not None:
        files.config.write_text(team_yaml)
    try:
        async with AsyncExitStack() as stack:
            for _attempt in range(3):
                hub = await _start(files, args, env or {}, by_env, within, stack)
                if hub is not None:
                    break
            else:
                raise RuntimeError("three free ports in a row were taken before the hub could listen")
            try:
                yield hub
            finally:
                await hub.stop()
            if not hub.killed:
                hub.assert_clean_exit()
    except BaseExceptionGroup as group:
        raise _sole(group) from None


def _sole(error: BaseException) -> BaseException:
    """The one failure inside task groups nested one in another (the test's own, usually), unwrapped."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


async def refused_start(folder: Path, team_yaml: str = "", *args: str, env: dict[str, str] | None = None,
                        port: int | None = None, within: float = 20) -> tuple[int, str]:
    """Run `team-table up` that is expected to refuse: its exit code and stderr (it must not hang)."""
    files = HubFiles(folder)
    files.config.write_text(team_yaml)
    command, extra = files.command(port or free_port(), *args)
    with anyio.fail_after(within):
        done = await anyio.run_process(command, check=False, cwd=files.home, stdin=subprocess.DEVNULL,
                                       env=hub_env(files.home, **extra, **(env or {})))
    return done.returncode, done.stderr.decode(errors="replace")


@asynccontextmanager
async def mcp_client(url: str, kind: str, bearer: str | None = None,
                     keep: Agent | None = None) -> AsyncIterator[Client]:
    """An MCP client of `kind` (see KINDS) to the hub at `url`, with an Authorization header if `bearer`; what the
    hub pushes to it is kept in `keep`, if given."""
    path, mode = KINDS[kind]
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with AsyncExitStack() as stack:
        if path == "/sse":
            transport = sse_client(url + path, headers=headers)
        else:
            http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=30))
            transport = streamable_http_client(url + path, http_client=http)
        client = await stack.enter_async_context(
            listening_client(transport, mode, keep) if keep is not None else Client(transport, mode=mode))
        assert (client.protocol_version == MODERN) == (mode == "auto"), (kind, client.protocol_version)
        yield client


async def seat(stack: AsyncExitStack, hub: NetHub, kind: str, name: str = "", bearer: str | None = None) -> Seat:
    """An agent's own client session to `hub`, held open by `stack`; registered as `name` when given. What the
    hub pushes to it is kept (`pushed`)."""
    agent = Seat(None, hub.log)  # type: ignore[arg-type]
    agent.client = await stack.enter_async_context(mcp_client(hub.url, kind, bearer, keep=agent))
    return await agent.join(name) if name else agent


async def join_all(stack: AsyncExitStack, hub: NetHub, *names: str, kind: str = "http-handshake") -> list[Seat]:
    """One registered agent per name, each with its own client session."""
    return [await seat(stack, hub, kind, name) for name in names]


# ---- push streams -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pushed:
    """One server-sent event: its id, its kind (the `event:` field) and its JSON data."""

    id: str
    kind: str
    data: Any


class EventStream:
    """Reads one /events response event by event; every read is bounded."""

    def __init__(self, response: httpx2.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.connected: Pushed | None = None

    async def next(self, within: float = 5, skip: tuple[str, ...] = ("heartbeat",)) -> Pushed:
        """The next event (heartbeats skipped), within `within` seconds."""
        with anyio.fail_after(within):
            while True:
                event = await self._read_one()
                if event.kind not in skip:
                    return event

    async def take(self, count: int, within: float = 5, skip: tuple[str, ...] = ("heartbeat",)) -> list[Pushed]:
        """The next `count` events (but those of the kinds in `skip`), all within `within` seconds."""
        with anyio.fail_after(within):
            return [await self.next(within, skip) for _ in range(count)]

    async def _read_one(self) -> Pushed:
        fields: dict[str, str] = {}
        data: list[str] = []
        while True:
            line = await self._lines.__anext__()
            if line == "":
                if fields or data:
                    text = "\n".join(data)
                    return Pushed(fields.get("id", ""), fields.get("event", "message"),
                                  json.loads(text) if text else None)
                continue
            if line.startswith(":"):  # a comment (keep-alive ping)
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name in ("id", "event"):
                fields[name] = value


def events_request(url: str, agent: str, token: str, *, via: str = "header",
                   last_event_id: str | None = None, resume_via: str = "header") -> tuple[str, dict, dict]:
    """URL, headers and query of GET /events/{agent}: token as Bearer or ?token=, resume id as header or query."""
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    if via == "header":
        headers["Authorization"] = f"Bearer {token}"
    elif token:
        params["token"] = token
    if last_event_id is not None:
        if resume_via == "header":
            headers["Last-Event-ID"] = last_event_id
        else:
            params["last_event_id"] = last_event_id
    return f"{url}/events/{agent}", headers, params


@asynccontextmanager
async def events(url: str, agent: str, token: str, *, within: float = 5, **how: Any) -> AsyncIterator[EventStream]:
    """An open push stream of `agent`, past its `connected` event (kept as `.connected`)."""
    target, headers, params = events_request(url, agent, token, **how)
    timeout = httpx2.Timeout(10, read=None)  # a stream may stay idle; reads are bounded by fail_after
    async with httpx2.AsyncClient(timeout=timeout) as http:
        with anyio.fail_after(within):
            response = await http.send(http.build_request("GET", target, headers=headers, params=params),
                                       stream=True)
        try:
            assert response.status_code == 200, (response.status_code, (await response.aread())[:300])
            assert response.headers["content-type"].startswith("text/event-stream"), response.headers
            stream = EventStream(response)
            stream.connected = await stream.next(within)
            assert stream.connected.kind == "connected", stream.connected
            assert stream.connected.data["agent"] == agent and stream.connected.id.isdigit()
            yield stream
        finally:
            await response.aclose()


def message_ids(pushed: list[Pushed]) -> list[Any]:
    return [event.data["id"] for event in pushed]


def kinds(pushed: list[Pushed]) -> list[str]:
    return [event.kind for event in pushed]
