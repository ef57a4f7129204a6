"""Concurrency claims under real concurrency: one hub process per agent, all on one SQLite file."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest

import stores
from team_table.store import open_store

from stdio_helpers import Reply, Seat, launch, log_alarms, seats
from support import deliveries, ring

# Several hub processes on one SQLite file: its locks. The same guarantees on PostgreSQL are test_replicas' (claims,
# messages around, the rate limit and one registration across replicas, replicas starting on an empty database).
pytestmark = [pytest.mark.anyio, pytest.mark.sqlite_only, pytest.mark.processes]

AGENTS = 8
ERAS = ["legacy", "2026-07-28"]  # the agents' clients alternate: old handshake and 2026 protocol
RATE_LIMIT = 30  # writes per sender per minute, the default (docs/compatibility.md §6)


def table_of(tmp_path: Path, count: int = AGENTS):
    """`count` hub processes on one database file, as `count` agents' clients start them.

    The database exists before they start: first start on a new file is its own test, below.
    """
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    db = stores.table_db(tmp_path)
    open_store(db).close()
    servers = [(launch("python -m team_table.server", db, home), ERAS[i % 2]) for i in range(count)]
    return seats(servers, tmp_path / "logs")


async def seat_agents(hubs: list[Seat]) -> list[Seat]:
    for index, hub in enumerate(hubs):
        await hub.join(f"agent-{index}")
    return hubs


async def all_at_once(hubs: list[Seat], tool: str, *, as_seated: bool = True, **args) -> list[Reply]:
    """Every hub gets the same call at the same moment (as its seated agent, or with `args` alone)."""
    replies: list[Reply | None] = [None] * len(hubs)

    async def one(index: int) -> None:
        hub = hubs[index]
        replies[index] = await (hub.call(tool, **args) if as_seated else hub.raw(tool, **args))

    async with anyio.create_task_group() as tg:
        for index in range(len(hubs)):
            tg.start_soon(one, index)
    return [r for r in replies if r is not None]


async def test_of_eight_processes_claiming_one_task_exactly_one_wins_every_time(tmp_path):
    rounds = 20
    async with table_of(tmp_path) as hubs:
        agents = await seat_agents(hubs)
        with anyio.fail_after(40):
            task_ids = [(await agents[0].ok("create_task", title=f"task {n}"))["id"] for n in range(rounds)]
            winners = {}
            for task_id in task_ids:
                replies = await all_at_once(agents, "claim_task", task_id=task_id)
                won = [(agent.name, reply.data) for agent, reply in zip(agents, replies, strict=True)
                       if not reply.is_error]
                assert len(won) == 1, f"task {task_id}: winners {[name for name, _ in won]}"
                refusals = [reply.data for reply in replies if reply.is_error]
                assert all(r["code"] == "conflict" for r in refusals), refusals
                winner, task = won[0]
                assert (task["status"], task["assignee"]) == ("in_progress", winner)
                winners[task_id] = winner
            board = await agents[-1].ok("list_tasks")
    assert {t["id"]: (t["status"], t["assignee"]) for t in board} == {
        task_id: ("in_progress", winner) for task_id, winner in winners.items()
    }
    assert not log_alarms(tmp_path / "logs")


async def test_messages_sent_around_a_ring_of_processes_arrive_exactly_once(tmp_path):
    per_sender = 25  # under the rate limit of 30 writes a minute
    async with table_of(tmp_path) as hubs:
        agents = await seat_agents(hubs)
        items: dict[int, dict[int, dict]] = {i: {} for i in range(len(agents))}  # by reader, by id

        async def send(index: int, target: int, n: int) -> int:
            agent = agents[index]
            return (await agent.ok("send_message", recipient=agents[target].name, content=f"{agent.name} #{n}"))["id"]

        async def read(index: int) -> list[int]:
            got = await agents[index].ok("get_messages")
            items[index].update((m["id"], m) for m in got)
            return [m["id"] for m in got]

        done = await ring(len(agents), per_sender, send, read, within=40)
        with anyio.fail_after(20):
            leftovers = [await agent.ok("get_messages") for agent in agents]
            everything = [await agent.ok("get_messages", include_read=True) for agent in agents]
    check = deliveries(done["sent"], done["received"], len(agents) * per_sender)
    assert check["exactly_once"], check  # none twice, none lost, none to the wrong agent
    for index in range(len(agents)):
        assert {m["sender"] for m in items[index].values()} == {agents[index - 1].name}
        assert leftovers[index] == []
        assert sorted(m["id"] for m in everything[index]) == sorted(done["sent"][index])
        assert all(m["read"] for m in everything[index])
    assert not log_alarms(tmp_path / "logs")


async def test_one_agent_writing_through_two_processes_gets_one_rate_limit(tmp_path):
    writes = RATE_LIMIT + 1
    async with table_of(tmp_path, count=2) as (first, second):
        await first.join("pat")
        second.as_agent("pat", first.token)
        replies: list[tuple[str, Reply]] = []

        async def write(hub: Seat, numbers: range) -> None:
            for n in numbers:
                kind = ("send_message", "create_task", "share_context")[n % 3]
                args = {"send_message": {"recipient": "pat", "content": f"note {n}"},
                        "create_task": {"title": f"task {n}"},
                        "share_context": {"key": f"pat/key-{n}", "value": str(n)}}[kind]
                replies.append((kind, await hub.call(kind, **args)))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(write, first, range(0, writes, 2))
                tg.start_soon(write, second, range(1, writes, 2))
            inbox = await second.ok("get_messages")
            board = await first.ok("list_tasks")
            shared = await second.ok("get_shared_context")
    codes = Counter(reply.code for _, reply in replies)
    assert codes == {None: RATE_LIMIT, "rate_limited": writes - RATE_LIMIT}, codes
    done = Counter(kind for kind, reply in replies if not reply.is_error)
    assert (len(inbox), len(board), len(shared)) == (
        done["send_message"], done["create_task"], done["share_context"])
    assert not log_alarms(tmp_path / "logs")


async def test_eight_processes_registering_one_new_name_at_once_seat_exactly_one(tmp_path):
    async with table_of(tmp_path) as hubs:
        with anyio.fail_after(30):
            for round_ in range(5):
                name = f"newcomer-{round_}"
                replies = await all_at_once(hubs, "register", as_seated=False, name=name)
                tokens = [reply.data["token"] for reply in replies if not reply.is_error]
                assert len(tokens) == 1, f"{name}: {len(tokens)} registrations won"
                refusals = [reply.data for reply in replies if reply.is_error]
                assert all(r["code"] in ("unauthorized", "conflict") for r in refusals), refusals
                # The winner's token works from any other process; the table holds the name once.
                members = await hubs[round_].as_agent(name, tokens[0]).ok("list_members")
                assert [m["name"] for m in members].count(name) == 1
    assert not log_alarms(tmp_path / "logs")


# A hub process up to the point where it opens its database, held there until told to go.
OPEN_WHEN_TOLD = (
    "import sys; from pathlib import Path; from team_table.store import is_url, open_store; "
    "print('ready', flush=True); sys.stdin.readline(); "
    "open_store(sys.argv[1] if is_url(sys.argv[1]) else Path(sys.argv[1])).close()"
)


@pytest.mark.parametrize("where", ["new folder", "new file"])
def test_hub_processes_opening_a_new_database_at_the_same_moment_all_start(tmp_path, where):
    """Every agent's client starts its hub when the team starts, so the first open (and its migrations, on
    PostgreSQL: replicas starting together) is contested."""
    if stores.on_postgres() and where == "new file":
        pytest.skip("one case on PostgreSQL: a new, empty database")
    for round_ in range(6):
        folder = tmp_path / f"round-{round_}"
        if where == "new file":
            folder.mkdir()
        db = stores.empty_db(folder) if stores.on_postgres() else folder / "team.db"
        hubs = [subprocess.Popen([sys.executable, "-c", OPEN_WHEN_TOLD, str(db)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
                for _ in range(AGENTS)]
        try:
            for hub in hubs:  # each has imported the store and waits (EOF here would mean it died)
                assert hub.stdout.readline().strip() == "ready", hub.communicate(timeout=60)[1]
            for hub in hubs:
                hub.stdin.write("go\n")
                hub.stdin.flush()
            failures = [err.strip().splitlines()[-1] for hub in hubs
                        if (err := hub.communicate(timeout=60)[1]) and hub.returncode != 0]
        finally:
            for hub in hubs:
                if hub.poll() is None:
                    hub.kill()
                    hub.wait()
        assert failures == [], f"round {round_}: {len(failures)} of {AGENTS} hubs failed to start: {failures}"
