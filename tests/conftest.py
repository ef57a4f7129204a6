"""Fixtures: every test gets a fresh database and config, and talks to the hub through the real MCP client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.extension import ClientExtension, NotificationBinding
from pydantic import BaseModel

import stores
from answers import text_of
from process_tier import DESCRIPTION as PROCESSES
from process_tier import process_guard  # noqa: F401 (an autouse fixture: every test is guarded)
from team_table import event_kinds, events
from team_table.config import EMPTY_TEAM, Team, parse_team
from team_table.fanout import Fanout
from team_table.hub import Hub
from team_table.runtime import open_table as open_hub_table
from team_table.server import build_server
from team_table.server.identity import Binding, fixed
from team_table.server.tools import IDENTITY
from team_table.settings import resolve
from team_table.wake.waker import Waker

# The initialize handshake (what mcp 1.x clients such as today's Claude Code speak), and what a 2.x
# client negotiates by itself ("auto" probes server/discover and settles on the 2026 protocol).
ERAS = ["legacy", "auto"]
MODERN = "2026-07-28"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Reply:
    """A tool result: the one JSON document it carries, and whether it was a refusal."""

    data: Any
    is_error: bool

    @property
    def code(self) -> str | None:
        return self.data.get("code") if self.is_error else None


@dataclass
class Agent:
    """One MCP client session, with the agent's name and token filled into calls; `pushed` holds what the hub
    pushed to it: channel notifications (their params) and "tools/list_changed"."""

    client: Client
    name: str = ""
    token: str = ""
    name_param: dict[str, str] = field(default_factory=dict)
    pushed: list[Any] = field(default_factory=list)
    arrived: anyio.Event = field(default_factory=anyio.Event)

    async def next_push(self, within: float = 5) -> Any:
        """The next push not seen yet (waited for, bounded)."""
        with anyio.fail_after(within):
            while not self.pushed:
                await self.arrived.wait()
                self.arrived = anyio.Event()
        return self.pushed.pop(0)

    async def raw(self, tool: str, **args: Any) -> Reply:
        result = await self.client.call_tool(tool, args)
        assert len(result.content) == 1, "every tool answers with exactly one content item"
        return Reply(json.loads(text_of(result.content[0])), bool(result.is_error))

    async def call(self, tool: str, **args: Any) -> Reply:
        """Call `tool` as this agent: its name under the tool's identity parameter, and its token."""
        key = IDENTITY.get(tool, "agent_name")  # an unknown tool: the hub refuses it by name
        args.setdefault(key, self.name)
        args.setdefault("token", self.token)
        return await self.raw(tool, **args)

    async def ok(self, tool: str, **args: Any) -> Any:
        reply = await self.call(tool, **args)
        assert not reply.is_error, f"{tool} refused: {reply.data}"
        return reply.data

    async def refused(self, tool: str, code: str, **args: Any) -> dict:
        reply = await self.call(tool, **args)
        assert reply.is_error, f"{tool} should have been refused, got {reply.data}"
        assert reply.data["code"] == code, reply.data
        assert isinstance(reply.data["error"], str) and reply.data["error"]
        return reply.data


class ChannelParams(BaseModel):
    content: str
    meta: dict[str, str] = {}


def listening_client(target: Any, mode: str, agent: Agent, **options: Any) -> Client:
    """An MCP client that keeps what the hub pushes (as Claude Code reads channel notifications) in `agent`."""
    def keep(item: Any) -> None:
        agent.pushed.append(item)
        agent.arrived.set()

    async def on_channel(params: ChannelParams) -> None:
        keep(params)

    async def on_message(message: Any) -> None:
        if type(message).__name__ == "ToolListChangedNotification":
            keep("tools/list_changed")

    class Channel(ClientExtension):
        identifier = "claude/channel"

        def notifications(self):
            return [NotificationBinding(method="notifications/claude/channel", params_type=ChannelParams,
                                        handler=on_channel)]

    return Client(target, mode=mode, message_handler=on_message, extensions=[Channel()], **options)


@dataclass
class Table:
    """A hub on a fresh database, and a way to seat agents at it."""

    hub: Hub
    stack: AsyncExitStack
    era: str
    fanout: Fanout
    binding: Binding | None = None
    waker: Waker | None = None
    servers: dict[Binding | None, Any] = field(default_factory=dict)

    async def connect(self, binding: Binding | None = None) -> Agent:
        """A new client session, to the table's one server for this kind of connection (built once per table)."""
        server = self.servers.get(binding)
        if server is None:
            server = self.servers[binding] = build_server(self.hub, self.fanout, fixed(binding), waker=self.waker)
        agent = Agent(None)  # type: ignore[arg-type]
        agent.client = await self.stack.enter_async_context(listening_client(server, self.era, agent))
        expected = MODERN if self.era == "auto" else None
        assert expected is None or agent.client.protocol_version == expected, agent.client.protocol_version
        return agent

    async def join(self, name: str, role: str = "agent", **extra: Any) -> Agent:
        agent = await self.connect()
        data = (await agent.raw("register", name=name, role=role, **extra)).data
        assert "token" in data, data
        agent.name, agent.token = name, data["token"]
        return agent

    def grant(self, name: str, role: str) -> None:
        from team_table import members

        members.grant(self.hub, name, role)


def team_from(text: str) -> Team:
    return parse_team(text, "team.yaml")


@asynccontextmanager
async def open_table(tmp_path: Path, era: str, team: Team = EMPTY_TEAM, env: dict[str, str] | None = None,
                     clock: Any = None) -> AsyncIterator[Table]:
    settings = resolve({"db": stores.table_db(tmp_path)}, env or {}, team, None)
    with open_hub_table(settings, team, clock=clock) as hub:
        async with AsyncExitStack() as stack:
            fanout = Fanout(hub.store)  # the table's push fan-out, as a running hub has (waits and pushes use it)
            tasks = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tasks.cancel_scope.cancel)
            hub.store.on_commit = fanout.wake
            tasks.start_soon(fanout.run)
            waker = Waker(hub, fanout, anyio.to_thread.run_sync, tasks)  # as a running hub has: wakes, one a delivery
            yield Table(hub, stack, era, fanout=fanout, waker=waker)
        wrong = off_catalogue(hub)
        assert not wrong, f"events whose payload is not their kind's (event_kinds.PAYLOADS): {wrong}"


def off_catalogue(hub: Hub) -> list[str]:
    """What is wrong with the events the test wrote, against the catalogue of event kinds: every test of an
    in-process table checks the events its calls wrote."""
    found, after = [], 0
    while batch := events.tail(hub.store, after, 1000):
        found += [f"event {e.id}: {problem}" for e in batch for problem in event_kinds.problems(e.kind, e.data)]
        after = batch[-1].id
    return found


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "both_eras: run this test in both protocol eras (transport and tool surface "
                                       "tests); the others run in the handshake era, which today's clients speak")
    config.addinivalue_line("markers", "sqlite_only: a test of SQLite's own file (disk, locks, WAL): not run on "
                                       "PostgreSQL")
    config.addinivalue_line("markers", "one_engine: what it checks does not depend on the database engine (a "
                                       "browser's page scripts, clients the hub starts, the HTTP edge): SQLite only")
    config.addinivalue_line("markers", "postgres_only: several hubs on one database server (replicas): run only "
                                       "when TEAM_TABLE_TEST_POSTGRES names one")
    config.addinivalue_line("markers", PROCESSES)
    config.addinivalue_line("markers", "clients: real Claude Code, Codex and Gemini CLI from npm, against the model "
                                       "stub (-m 'not clients' leaves them out)")


@pytest.fixture(autouse=True, params=stores.ENGINES)
def engine(request) -> Any:
    """Each test on each engine: SQLite, and PostgreSQL when TEAM_TABLE_TEST_POSTGRES names a server."""
    if request.param == "postgresql" and request.node.get_closest_marker("sqlite_only"):
        pytest.skip("runs once, in the SQLite pass (a test of SQLite's own file, or from SQLite to PostgreSQL)")
    if request.param == "postgresql" and request.node.get_closest_marker("one_engine"):
        pytest.skip("runs once, in the SQLite pass: what it checks does not depend on the database engine")
    if request.param == "sqlite" and request.node.get_closest_marker("postgres_only"):
        pytest.skip("replicas on one database server: set TEAM_TABLE_TEST_POSTGRES to run it")
    stores.use(request.param)
    yield request.param
    stores.drop_made()
    stores.use("sqlite")


def one_variant_on_postgres(values: Any, ids: list[str] | None = None) -> list[Any]:
    """Parameters whose variants differ in what the database engine never sees (a transport, a protocol era, a
    launcher): every variant runs in the SQLite pass, the first also in the PostgreSQL pass (the others are marked
    one_engine), so each engine serves each test once without the PostgreSQL pass repeating the whole matrix."""
    values = list(values)
    return [pytest.param(value, id=ids[index] if ids else None, marks=[pytest.mark.one_engine] if index else [])
            for index, value in enumerate(values)]


def pytest_sessionfinish(session, exitstatus) -> None:
    if stores.SERVER:
        stores.drop_all()


def pytest_generate_tests(metafunc) -> None:
    chosen = any("era" in str(mark.args[0]).replace(" ", "").split(",")
                 for mark in metafunc.definition.iter_markers("parametrize"))
    if "era" in metafunc.fixturenames and not chosen:
        both = metafunc.definition.get_closest_marker("both_eras") is not None
        metafunc.parametrize("era", ERAS if both else ERAS[:1], ids=["handshake", "2026"] if both else ["handshake"])


@pytest.fixture
async def table(tmp_path: Path, era: str) -> AsyncIterator[Table]:
    async with open_table(tmp_path, era) as t:
        yield t


@pytest.fixture
def table_with(tmp_path: Path, era: str) -> Callable[..., Any]:
    """open_table with a team.yaml text and/or environment: `async with table_with(yaml, env) as t:`."""

    def make(yaml_text: str = "", env: dict[str, str] | None = None, clock: Any = None):
        return open_table(tmp_path, era, team_from(yaml_text) if yaml_text else EMPTY_TEAM, env, clock)

    return make


class ManualClock:
    """A clock the test moves by hand: time-driven behaviour without sleeping."""

    def __init__(self, start: str = "2026-11-24T09:00:00+00:00") -> None:
        from team_table.clock import parse_iso

        self.at = parse_iso(start)
        self.mono = 1000.0

    def now(self):
        return self.at

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.at += timedelta(seconds=seconds)
        self.mono += seconds
