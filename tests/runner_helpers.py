"""For the runner's tests: a team.yaml whose agents the hub runs (the scripted agent, scripted_agent.py), a lead who
gives them work over MCP, and a look at the runs in the hub's own database, every wait bounded."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import yaml

from answers import found
from team_table import tokens
from team_table.store import open_store

from network_helpers import NetHub, mcp_client
from stdio_helpers import TEAM_TABLE, hub_env

SCRIPT = Path(__file__).with_name("scripted_agent.py")
T = TypeVar("T")


def agent(*steps: str) -> list[str]:
    """The scripted agent's command line, doing `steps`."""
    return [sys.executable, str(SCRIPT), *steps]


@dataclass(frozen=True)
class Lead:
    """A lead declared with a token: gives the agents work."""

    token: str

    @classmethod
    def new(cls) -> Lead:
        return cls(tokens.mint())


def team_yaml(lead: Lead, agents: dict[str, dict[str, Any]], **sections: Any) -> str:
    """team.yaml: the lead, and `agents` (name -> its keys, `run:` among them); other sections as given."""
    document: dict[str, Any] = {"limits": {"rate": {"writes": 5000}}, **sections,
                                "agents": {"boss": {"role": "lead", "token_hashes": [tokens.file_hash(lead.token)]},
                                           **agents}}
    return yaml.safe_dump(document, sort_keys=False)


class Caller:
    """An MCP session of one member, tools answering their JSON."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def call(self, tool: str, **args: Any) -> Any:
        result = await self.client.call_tool(tool, args)
        data = json.loads(result.content[0].text)
        assert not result.is_error, f"{tool} refused: {data}"
        return data


async def connect(stack: AsyncExitStack, hub: NetHub, token: str) -> Caller:
    return Caller(await stack.enter_async_context(mcp_client(hub.url, "http-handshake", token)))


class Runs:
    """The runs as the hub's database holds them (read-only, beside the hub)."""

    def __init__(self, db: str) -> None:
        self.store = open_store(db, read_only=True)

    def close(self) -> None:
        self.store.close()

    def of(self, agent: str) -> list[Any]:
        return self.store.query("SELECT * FROM agent_run WHERE agent = ? ORDER BY id", (agent,))

    def state(self, agent: str) -> Any | None:
        rows = self.store.query("SELECT * FROM agent_state WHERE agent = ?", (agent,))
        return rows[0] if rows else None

    def task(self, task_id: int) -> Any:
        return self.store.query("SELECT * FROM task WHERE id = ?", (task_id,))[0]

    def escalations(self, agent: str) -> list[Any]:
        return self.store.query("SELECT * FROM escalation WHERE agent = ? ORDER BY id", (agent,))

    def events(self, agent: str) -> list[dict]:
        return [json.loads(row[0]) for row in self.store.query(
            "SELECT data FROM event WHERE kind = 'agent_run' ORDER BY id") if json.loads(row[0]).get("agent") == agent]

    async def until(self, check: Callable[[], T | None], within: float = 30, what: str = "") -> T:
        """The first truthy answer of `check` (a read of the database), looked at every 50 ms, within `within` s."""
        with anyio.fail_after(within):
            while True:
                found = check()
                if found:
                    return found
                await anyio.sleep(0.05)
        raise AssertionError(what)  # unreachable: fail_after raises first


@asynccontextmanager
async def watching(hub: NetHub) -> AsyncIterator[Runs]:
    runs = Runs(hub.files.db)
    try:
        yield runs
    finally:
        runs.close()


async def team_table(hub: NetHub, *args: str) -> str:
    """`team-table ARGS --config --db` of `hub`'s folder, as a person runs it beside the hub; its output."""
    with anyio.fail_after(60):
        done = await anyio.run_process([TEAM_TABLE, *args, "--config", str(hub.files.config), "--db", hub.files.db],
                                       env=hub_env(hub.files.home, COLUMNS="200"), cwd=hub.files.home, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@asynccontextmanager
async def signed_in(url: str, token: str) -> AsyncIterator[Any]:
    """An HTTP client holding a dashboard session for `token`."""

    import httpx2

    async with httpx2.AsyncClient(base_url=url, follow_redirects=False, timeout=15) as client:
        form = (await client.get("/ui/signin")).text
        csrf = found(r'name="csrf" value="([^"]+)"', form).group(1)
        answer = await client.post("/ui/signin", data={"csrf": csrf, "token": token, "next": "/ui"})
        assert answer.status_code == 303, answer.text
        yield client


def alive(pid: int) -> bool:
    """Is the process there (a zombie is not)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def reports(path: Path) -> list[dict]:
    """What the scripted agent's `report:PATH` steps wrote, in order."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def gone(pids: list[int], within: float = 15) -> None:
    with anyio.fail_after(within):
        while any(alive(pid) for pid in pids):
            await anyio.sleep(0.05)


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid`."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2:].split()[1]) == pid:
                found.append(int(name))
    return found
