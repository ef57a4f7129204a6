"""Reservations in real hub processes. Racing reservers: 8 agents reserve overlapping patterns at the same moment,
each through a hub process of its own on one SQLite file, or spread over three replicas on one PostgreSQL
database: never two exclusive holders of overlapping paths, whatever the interleaving. And the hub's own job lets
no lease lapse without a word: an idle holder is warned, then told of the lapse, and a watcher of the path told it
is free."""

from __future__ import annotations

import random
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest

import stores
from team_table import overlap
from team_table.store import open_store

from network_helpers import running_hub, seat
from stdio_helpers import Reply, Seat, launch, log_alarms, seats

pytestmark = [pytest.mark.anyio, pytest.mark.processes]

AGENTS = 8
# Every one of these overlaps most of the others (src/api/routes.py is in nearly all); docs/** and tests/** stand
# apart, so a round may have several winners, never two that overlap.
POOL = ["src/**", "src/api/**", "src/api/routes.py", "*.py", "src/*/routes.py", "src/api/", "**/routes.py",
        "src/api/*.py", "docs/**", "tests/**", "routes.py", "src/api/routes.py/**"]
ROUNDS = 15


async def race(agents: list[Seat], wanted: list[list[str]]) -> list[Reply]:
    """Each agent asks for its patterns at the same moment."""
    replies: list[Reply | None] = [None] * len(agents)

    async def one(index: int) -> None:
        replies[index] = await agents[index].call("reserve_paths", paths=wanted[index], ttl_seconds=600)

    async with anyio.create_task_group() as tasks:
        for index in range(len(agents)):
            tasks.start_soon(one, index)
    return [reply for reply in replies if reply is not None]


def assert_no_two_exclusive_holders_overlap(granted: list[tuple[str, str]]) -> None:
    for index, (agent, pattern) in enumerate(granted):
        for other, theirs in granted[index + 1:]:
            assert agent == other or not overlap.overlaps(pattern, theirs), \
                f"{agent} holds {pattern} and {other} holds {theirs}: both exclusive, overlapping"


async def rounds_of_races(agents: list[Seat], rounds: int = ROUNDS) -> int:
    """Rounds of racing requests (each agent one or two patterns of the pool); after each, what was granted is
    checked in the replies and in the table itself. Returns how many requests were granted."""
    chooser = random.Random(20)
    granted_total = 0
    for _ in range(rounds):
        wanted = [chooser.sample(POOL, chooser.choice([1, 2])) for _ in agents]
        replies = await race(agents, wanted)
        granted = []
        for agent, reply, asked in zip(agents, replies, wanted, strict=True):
            if reply.is_error:
                assert reply.code == "conflict", reply.data
                assert reply.data["holders"], reply.data
            else:
                assert sorted(r["pattern"] for r in reply.data["reserved"]) == sorted(asked)
                granted += [(agent.name, pattern) for pattern in asked]
        assert granted, "some request wins every round"
        assert_no_two_exclusive_holders_overlap(granted)
        table = [(r["agent"], r["pattern"]) for r in await agents[0].ok("list_reservations")]
        assert sorted(table) == sorted(granted)
        granted_total += sum(1 for reply in replies if not reply.is_error)
        for agent in agents:
            await agent.ok("release_paths")
    return granted_total


@pytest.mark.sqlite_only
async def test_eight_processes_reserving_overlapping_patterns_at_once_never_make_two_exclusive_holders(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    db = stores.table_db(tmp_path)
    open_store(db).close()
    servers = [(launch("python -m team_table.server", db, home), ("legacy", "2026-07-28")[i % 2])
               for i in range(AGENTS)]
    async with seats(servers, tmp_path / "logs") as hubs:
        agents = [await hub.join(f"agent-{index}") for index, hub in enumerate(hubs)]
        with anyio.fail_after(120):
            granted = await rounds_of_races(agents)
    assert granted >= ROUNDS
    assert not log_alarms(tmp_path / "logs")


@pytest.mark.postgres_only
async def test_eight_agents_on_three_replicas_reserving_at_once_never_make_two_exclusive_holders(tmp_path: Path):
    from test_replicas import query, replicas, spread

    async with replicas(tmp_path) as hubs, AsyncExitStack() as stack:
        agents = await spread(stack, hubs, [f"agent-{i}" for i in range(AGENTS)])
        with anyio.fail_after(120):
            granted = await rounds_of_races(agents)
        assert granted >= ROUNDS
        assert query(tmp_path, "SELECT COUNT(*) FROM reservation") == [(0,)]


QUICK = ("presence:\n  idle_after_seconds: 1\n  offline_after_seconds: 2\n"
         "reservations:\n  check_every_seconds: 0.3\n  warn_before_seconds: 2\n")


async def test_the_hubs_job_warns_an_idle_holder_then_tells_it_and_a_watcher_of_the_lapse(tmp_path: Path):
    async with running_hub(tmp_path / "hub", QUICK) as hub, AsyncExitStack() as stack:
        alice = await seat(stack, hub, "http-handshake", "alice")
        bob = await seat(stack, hub, "http-handshake", "bob")
        await alice.ok("reserve_paths", paths=["src/**"], ttl_seconds=5)
        await bob.ok("watch_paths", paths=["src/main.py"])
        with anyio.fail_after(20):  # alice says nothing more: idle within a second, warned, then the lease lapses
            told = await bob.ok("wait_for_messages", timeout_seconds=15)
        assert any("src/main.py" in m["content"] and "free" in m["content"] for m in told["messages"]), told
        warning, lapse = [m["content"] for m in await alice.ok("get_messages")
                          if m.get("kind") in ("reservation_lapsing", "reservation_ended")]
        assert "src/**" in warning and "lapses at" in warning
        assert "src/**" in lapse and "lapsed" in lapse
        assert await bob.ok("list_reservations") == []
