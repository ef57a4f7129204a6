"""How the bench seats agents at a hub: one client session per agent, each doing its sends and reads the same way.

stdio: a hub process per session, all on one database, as each agent's MCP client starts its own; the calls
carry name and token, and each agent's sends go out under a pool of sender names (see `StdioSeat`).
HTTP: sessions to one network hub, each bound to its agent by `Authorization: Bearer <token>`; the calls leave
name and token out. A seat with no agent is a session to a bare server (its one tool: echo).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

from processes import children, cpu_ms

import support

RATE_LIMIT_PER_SENDER = 25  # stay under the hub's default 30 writes per sender per minute


@dataclass
class Tally:
    """Tool calls made through a seating, and what went wrong among them."""

    calls: int = 0
    errors: list[str] = field(default_factory=list)


class Seat:
    """One client session to one server process, speaking for one agent (or for none, "", at a bare server)."""

    def __init__(self, client: Client, tally: Tally, agent: str = "") -> None:
        self.client = client
        self.tally = tally
        self.agent = agent

    async def call(self, tool: str, **args: Any) -> Any:
        """Call a tool; its JSON answer. A refusal or a failed call is counted as an error, and the run goes on."""
        self.tally.calls += 1
        try:
            result = await self.client.call_tool(tool, args)
        except Exception as exc:  # a transport failure or timeout: reported, not fatal to the run
            self.tally.errors.append(f"{tool}: {exc!r}")
            return None
        first = result.content[0] if result.content else None
        try:
            data = json.loads(first.text) if isinstance(first, TextContent) else None
        except ValueError:
            data = None
        if result.is_error or len(result.content) != 1 or data is None:
            self.tally.errors.append(f"{tool}: {result.content}")
        return data

    async def echo(self, text: str) -> None:
        """The bare server's one tool."""
        self.tally.calls += 1
        result = await self.client.call_tool("echo", {"text": text})
        if result.is_error or [c.text if isinstance(c, TextContent) else c for c in result.content] != [text]:
            self.tally.errors.append(f"echo: {result.content}")

    async def join(self) -> None:
        """Take the seat's agent to the table."""

    async def can_send(self, count: int) -> None:
        """Be ready to send `count` more messages without meeting the rate limit."""

    async def send(self, recipient: str, content: str) -> int | None:
        """Send a message; its id (None when it was refused, which is counted as an error)."""
        raise NotImplementedError

    async def inbox(self) -> list[int]:
        """Read the agent's new messages (marking them read); their ids."""
        raise NotImplementedError

    async def wait(self, seconds: float) -> list[int]:
        """Wait for the agent's next messages (wait_for_messages, taking them); their ids ([] if none came)."""
        raise NotImplementedError


def _id(answer: Any) -> int | None:
    return answer.get("id") if isinstance(answer, dict) else None


def _ids(answer: Any) -> list[int]:
    return [m["id"] for m in answer] if isinstance(answer, list) else []  # a refusal was counted already


def _waited(answer: Any) -> list[int]:
    return _ids(answer.get("messages")) if isinstance(answer, dict) else []


class StdioSeat(Seat):
    """An agent at its own stdio hub process. Name and token go in every call.

    The hub's default rate limit (30 writes per sender per minute) applies, so the agent's sends go out under a
    pool of sender names, 25 messages each: `can_send` registers enough of them before a measurement."""

    def __init__(self, client: Client, tally: Tally, agent: str = "") -> None:
        super().__init__(client, tally, agent)
        self.tokens: dict[str, str] = {}
        self.senders: list[str] = []
        self.sent = 0

    async def _register(self, name: str) -> None:
        answer = await self.call("register", name=name)
        if not isinstance(answer, dict) or "token" not in answer:
            raise RuntimeError(f"register {name} failed: {self.tally.errors[-1:]}")
        self.tokens[name] = answer["token"]

    async def join(self) -> None:
        await self._register(self.agent)

    async def can_send(self, count: int) -> None:
        while len(self.senders) * RATE_LIMIT_PER_SENDER < self.sent + count:
            name = f"{self.agent}-out-{len(self.senders)}"
            await self._register(name)
            self.senders.append(name)

    async def send(self, recipient: str, content: str) -> int | None:
        sender = self.senders[self.sent // RATE_LIMIT_PER_SENDER]
        self.sent += 1
        return _id(await self.call("send_message", sender=sender, token=self.tokens[sender], recipient=recipient,
                                   content=content))

    async def inbox(self) -> list[int]:
        return _ids(await self.call("get_messages", agent_name=self.agent, token=self.tokens[self.agent]))

    async def wait(self, seconds: float) -> list[int]:
        return _waited(await self.call("wait_for_messages", agent_name=self.agent, token=self.tokens[self.agent],
                                       timeout_seconds=seconds))


class BoundSeat(Seat):
    """An agent whose HTTP session carries its bearer token: the hub binds every call to it."""

    def __init__(self, client: Client, tally: Tally, agent: str = "", token: str = "") -> None:
        super().__init__(client, tally, agent)
        self.token = token

    async def send(self, recipient: str, content: str) -> int | None:
        return _id(await self.call("send_message", recipient=recipient, content=content))

    async def inbox(self) -> list[int]:
        return _ids(await self.call("get_messages"))

    async def wait(self, seconds: float) -> list[int]:
        return _waited(await self.call("wait_for_messages", timeout_seconds=seconds))


S = TypeVar("S", bound=Seat)


@dataclass
class Seating(Generic[S]):
    """The seats of one measurement, the server processes behind them, and the tally of their calls."""

    seats: Sequence[S]
    pids: set[int]
    tally: Tally

    def cpu_ms(self) -> float:
        return cpu_ms(self.pids)


@asynccontextmanager
async def stdio_seating(params: StdioServerParameters, agents: Sequence[str | None], mode: str,
                        logs: Path) -> AsyncIterator[Seating[StdioSeat]]:
    """A server process per agent, started at once (all on the database `params` names); once all have answered
    and every agent has joined, their seats."""
    tally, before = Tally(), children()
    names = [f"stdio-{agent or 'bare'}-{index}" for index, agent in enumerate(agents)]

    def open_client(index: int, errlog: Any) -> Client:
        return Client(stdio_client(params, errlog=errlog), mode=mode)

    async with support.stdio_clients(len(agents), open_client, lambda client: client.list_tools(), logs,
                                     names=names) as clients:
        pids = children() - before
        assert len(pids) == len(agents), f"expected {len(agents)} server processes, found {sorted(pids)}"
        seats = [StdioSeat(client, tally, agent or "") for client, agent in zip(clients, agents, strict=True)]
        for seat in seats:
            if seat.agent:
                await seat.join()
        yield Seating(seats, pids, tally)


@asynccontextmanager
async def _session(url: str, mode: str, token: str | None = None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http, \
            Client(streamable_http_client(url, http_client=http), mode=mode, read_timeout_seconds=60) as client:
        yield client


@asynccontextmanager
async def http_seating(url: str | list[str], agents: Sequence[str | None], mode: str, pid: int | set[int],
                       declared: dict[str, str] | None = None) -> AsyncIterator[Seating[BoundSeat]]:
    """A session per agent to the server at `url` (process `pid`), or to replicas of one table (the i-th agent to
    the i-th url in turn; their processes `pid`). The agents are registered through one unbound session first,
    but for those `declared` in team.yaml (name: token); each agent's own session then carries its token."""
    urls = [url] if isinstance(url, str) else url
    url = urls[0]
    tally = Tally()
    tokens = dict(declared or {})
    joining = [name for name in agents if name and name not in tokens]
    if joining:
        async with _session(url, mode) as client:
            registrar = Seat(client, tally)
            for name in joining:
                answer = await registrar.call("register", name=name)
                if not isinstance(answer, dict) or "token" not in answer:
                    raise RuntimeError(f"register {name} failed: {tally.errors[-1:]}")
                tokens[name] = answer["token"]
    async with AsyncExitStack() as stack:
        seats: list[BoundSeat] = []
        for index, name in enumerate(agents):
            client = await stack.enter_async_context(_session(urls[index % len(urls)], mode, tokens.get(name or "")))
            seats.append(BoundSeat(client, tally, name or "", tokens.get(name or "", "")))
        yield Seating(seats, pid if isinstance(pid, set) else {pid}, tally)
