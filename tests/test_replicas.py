"""Scale-out: three `team-table up` processes on one PostgreSQL database, agents spread across them.

Each replica has a folder of its own (HOME, its copy of team.yaml and workflows/, its log) and serves the same
database. What one hub promises, the three promise together: one winner per claim, every message delivered
once, pushes that cross replicas, a replica killed with SIGKILL losing nothing it acknowledged, a database that
goes away answered `unavailable` and recovered from without help, a workflow run neither repeated nor skipped, a
reload audited once, and no need for sticky sessions on /mcp.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, LiteralString, cast
from urllib.parse import urlsplit

import anyio
import httpx2
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from psycopg import sql as psql

import stores
from store_notes import NOTE

from network_helpers import NetHub, _sole, message_ids, running_hub, seat
from network_helpers import events as events_of
from stdio_helpers import Seat

pytestmark = [pytest.mark.anyio, pytest.mark.postgres_only, pytest.mark.processes]

REPLICAS = 3
WORKFLOW = """name: noted
triggers:
  - event: task_created
    do:
      - message:
          to: creator
          text: "[AUTO] task {{ task.id }} is on the board"
"""
ROOMY = "limits:\n  rate: {writes: 5000}\n"  # the tests write faster than a team does


@asynccontextmanager
async def replicas(tmp_path: Path, count: int = REPLICAS, team_yaml: str = ROOMY, workflow: str | None = None,
                   first_start: bool = False) -> AsyncIterator[list[NetHub]]:
    """`count` hubs on one database, started at once (as a deployment starts them), each from its own folder."""
    shared = tmp_path / "replica-0"
    if first_start:
        stores.empty_db(shared)  # not even the schema: the replicas race to migrate it
    started: list[NetHub | None] = [None] * count
    up = [anyio.Event() for _ in range(count)]
    done = anyio.Event()

    async def hold(index: int) -> None:
        folder = tmp_path / f"replica-{index}"
        if workflow is not None:
            (folder / "workflows").mkdir(parents=True, exist_ok=True)
            (folder / "workflows" / "noted.yaml").write_text(workflow)
        async with running_hub(folder, team_yaml, db_folder=shared, within=40) as hub:
            started[index] = hub
            up[index].set()
            await done.wait()

    try:
        async with anyio.create_task_group() as tasks:
            for index in range(count):
                tasks.start_soon(hold, index)
            try:
                with anyio.fail_after(60):
                    for event in up:
                        await event.wait()
                yield [hub for hub in started if hub is not None]
            finally:
                done.set()
    except BaseExceptionGroup as group:  # the test's own failure, out of the clients' and hubs' task groups
        raise _sole(group) from None


def admin() -> psycopg.Connection:
    return psycopg.connect(stores.SERVER, autocommit=True)


def database_of(tmp_path: Path) -> str:
    return urlsplit(stores.table_db(tmp_path / "replica-0")).path.lstrip("/")


def query(tmp_path: Path, sql: LiteralString, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(stores.table_db(tmp_path / "replica-0"), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


async def spread(stack: AsyncExitStack, hubs: list[NetHub], names: list[str], kind: str = "http-handshake"
                 ) -> list[Seat]:
    """One agent per name, the i-th on replica i % len(hubs)."""
    return [await seat(stack, hubs[i % len(hubs)], kind, name) for i, name in enumerate(names)]


async def test_replicas_starting_together_on_an_empty_database_apply_each_migration_once(tmp_path):
    async with replicas(tmp_path, first_start=True) as hubs, httpx2.AsyncClient() as http:
        for hub in hubs:
            ready = await http.get(hub.url + "/readyz")
            assert ready.status_code == 200, ready.text
    applied = query(tmp_path, "SELECT version, COUNT(*) FROM schema_migration GROUP BY version ORDER BY version")
    assert applied and all(count == 1 for _, count in applied), applied


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer with no stickiness: each request goes to the next replica in turn."""

    def __init__(self, hubs: list[NetHub]) -> None:
        self.ports = itertools.cycle([hub.port for hub in hubs])
        self.inner = httpx2.AsyncHTTPTransport()
        self.reached: Counter[int] = Counter()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self.ports)
        self.reached[port] += 1
        request.url = request.url.copy_with(port=port)
        request.headers["host"] = f"127.0.0.1:{port}"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("mode", ["legacy", "auto"], ids=["handshake", "2026"])
async def test_an_agent_needs_no_sticky_session_every_request_may_reach_another_replica(tmp_path, mode):
    async with replicas(tmp_path) as hubs, AsyncExitStack() as stack:
        balancer = RoundRobin(hubs)
        http = await stack.enter_async_context(httpx2.AsyncClient(transport=balancer, timeout=30))
        client = await stack.enter_async_context(Client(streamable_http_client(hubs[0].url + "/mcp",
                                                                               http_client=http), mode=mode))
        alice = Seat(client, hubs[0].log)
        await alice.join("alice")
        bob = await seat(stack, hubs[1], "http-handshake", "bob")
        for n in range(6):
            await alice.ok("send_message", recipient="bob", content=f"note {n}")
        got = await bob.ok("get_messages")
        assert [m["content"] for m in got][-6:] == [f"note {n}" for n in range(6)]
        await bob.ok("send_message", recipient="alice", content="thanks")
        waited = await alice.ok("wait_for_messages", timeout_seconds=5)
        assert [m["content"] for m in waited["messages"]] == ["thanks"] and not waited["timed_out"]
        assert len(balancer.reached) == REPLICAS, balancer.reached  # the session really did hop


async def test_the_rate_limit_is_counted_in_the_database_across_replicas(tmp_path):
    async with replicas(tmp_path, team_yaml="") as hubs, AsyncExitStack() as stack:
        first = await seat(stack, hubs[0], "http-handshake", "alice")
        through = [first] + [(await seat(stack, hub, "http-handshake")).as_agent("alice", first.token)
                             for hub in hubs[1:]]
        await seat(stack, hubs[1], "http-handshake", "bob")
        replies = [await through[n % REPLICAS].call("send_message", recipient="bob", content=f"n{n}")
                   for n in range(36)]
        assert [r.code for r in replies].count(None) == 30  # the default: 30 writes a minute, wherever they land
        assert {r.code for r in replies[30:]} == {"rate_limited"}


async def test_writes_racing_on_three_replicas_keep_the_rate_limit_and_one_registration_per_name(tmp_path):
    """Tx.lock at work: the rate count of one agent, and the registration of one name, taken in turn across
    replicas that otherwise write side by side."""
    async with replicas(tmp_path, team_yaml="") as hubs, AsyncExitStack() as stack:
        first = await seat(stack, hubs[0], "http-handshake", "alice")
        await seat(stack, hubs[1], "http-handshake", "bob")
        through = [first] + [(await seat(stack, hub, "http-handshake")).as_agent("alice", first.token)
                             for hub in hubs[1:]]
        codes: list[str | None] = []

        async def send(agent: Seat, n: int) -> None:
            codes.append((await agent.call("send_message", recipient="bob", content=f"n{n}")).code)

        async with anyio.create_task_group() as tasks:
            for n in range(45):
                tasks.start_soon(send, through[n % REPLICAS], n)
        assert codes.count(None) == 30 and set(codes) == {None, "rate_limited"}, Counter(codes)

        newcomers = [await seat(stack, hubs[i % REPLICAS], "http-handshake") for i in range(6)]
        answers = []

        async def register(agent: Seat) -> None:
            answers.append(await agent.raw("register", name="carol"))

        async with anyio.create_task_group() as tasks:
            for agent in newcomers:
                tasks.start_soon(register, agent)
        winners = [a.data["token"] for a in answers if not a.is_error]
        assert len(winners) == 1, [a.data for a in answers]
        assert {a.data["code"] for a in answers if a.is_error} == {"unauthorized"}
        live = query(tmp_path, "SELECT COUNT(*) FROM token WHERE member = 'carol' AND revoked_at IS NULL")
        assert live == [(1,)], "two registrations of one name both hold a live token"


async def test_claims_have_one_winner_and_messages_arrive_once_with_agents_on_three_replicas(tmp_path):
    races = 100
    async with replicas(tmp_path) as hubs, AsyncExitStack() as stack:
        agents = await spread(stack, hubs, [f"agent-{i}" for i in range(8)])
        lead = agents[0]
        ids = [(await lead.ok("create_task", title=f"race {n}"))["id"] for n in range(races)]
        broken = []
        for task_id in ids:
            wins: list[str] = []

            async def claim(agent: Seat, task_id: int = task_id, wins: list[str] = wins) -> None:
                reply = await agent.call("claim_task", task_id=task_id)
                if not reply.is_error:
                    wins.append(agent.name)
                else:
                    assert reply.code == "conflict", reply.data

            async with anyio.create_task_group() as tasks:
                for agent in agents:
                    tasks.start_soon(claim, agent)
            if len(wins) != 1:
                broken.append((task_id, wins))
        assert broken == [], f"{len(broken)} of {races} races broken: {broken[:5]}"
        holders = query(tmp_path, "SELECT assignee, COUNT(*) FROM task GROUP BY assignee")
        assert sum(count for _, count in holders) == races and None not in dict(holders)

        # Every agent writes to every other at once; each reads its inbox through two replicas at the same time.
        async def write(agent: Seat) -> None:
            for other in agents:
                if other is not agent:
                    await agent.ok("send_message", recipient=other.name, content=f"{agent.name}->{other.name}")

        async with anyio.create_task_group() as tasks:
            for agent in agents:
                tasks.start_soon(write, agent)
        readers = [(agent, await seat(stack, hubs[(i + 1) % REPLICAS], "http-2026")) for i, agent in
                   enumerate(agents)]
        for agent, twin in readers:
            twin.as_agent(agent.name, agent.token)
        got: dict[str, list[str]] = {agent.name: [] for agent in agents}

        async def read(reader: Seat) -> None:
            for _ in range(3):
                got[reader.name] += [m["content"] for m in await reader.ok("get_messages")]

        async with anyio.create_task_group() as tasks:
            for agent, twin in readers:
                tasks.start_soon(read, agent)
                tasks.start_soon(read, twin)
        for agent in agents:
            expected = sorted(f"{other.name}->{agent.name}" for other in agents if other is not agent)
            assert sorted(got[agent.name]) == expected, agent.name  # each once: none lost, none twice


async def test_a_push_crosses_replicas_quickly_and_replays_on_any_replica(tmp_path):
    async with replicas(tmp_path) as hubs, AsyncExitStack() as stack:
        alice = await seat(stack, hubs[0], "http-handshake", "alice")
        bob = await seat(stack, hubs[1], "http-handshake", "bob")
        took, sent = [], []
        async with events_of(hubs[1].url, "bob", bob.token) as stream:
            first = stream.connected.id
            for n in range(5):
                began = time.perf_counter()
                sent.append((await alice.ok("send_message", recipient="bob", content=f"ping {n}"))["id"])
                pushed = await stream.next(within=5, skip=("heartbeat", "presence"))
                took.append(time.perf_counter() - began)
                assert pushed.kind == "message" and pushed.data["id"] == sent[-1]
        assert max(took) < 1.0, took  # the figure itself is the benchmark's (tens of ms); this catches a missed wake
        async with events_of(hubs[2].url, "bob", bob.token, last_event_id=first) as again:
            replayed = [event for event in await again.take(5, within=10)]
        assert message_ids([e for e in replayed if e.kind == "message"]) == sent


async def test_a_replica_killed_mid_run_loses_nothing_it_acknowledged_and_its_streams_resume_elsewhere(tmp_path):
    async with replicas(tmp_path, workflow=WORKFLOW) as hubs, AsyncExitStack() as stack:
        doomed, survivor, other = hubs
        writer_on_doomed = await seat(stack, doomed, "http-handshake", "writer")
        writer = (await seat(stack, survivor, "http-handshake")).as_agent("writer", writer_on_doomed.token)
        reader = await seat(stack, other, "http-handshake", "reader")
        acked: list[int] = []
        tasks_made: list[int] = []
        seen_id = ""

        async with events_of(doomed.url, "reader", reader.token) as stream:
            for n in range(20):
                acked.append((await writer_on_doomed.ok("send_message", recipient="reader", content=f"m{n}"))["id"])
                tasks_made.append((await writer_on_doomed.ok("create_task", title=f"t{n}"))["id"])
            while True:  # what the stream on the doomed replica delivered before it died
                event = await stream.next(within=5, skip=("heartbeat", "presence", "task_created"))
                if event.kind == "message":
                    seen_id = event.id
                    if event.data["id"] == acked[9]:
                        break
            doomed.kill()
            await doomed.process.wait()

        for n in range(20, 30):  # the work goes on through a replica that lives
            acked.append((await writer.ok("send_message", recipient="reader", content=f"m{n}"))["id"])
            tasks_made.append((await writer.ok("create_task", title=f"t{n}"))["id"])
        rest = []
        async with events_of(survivor.url, "reader", reader.token, last_event_id=seen_id) as resumed:
            while len(rest) < 20:
                event = await resumed.next(within=10)
                if event.kind == "message":
                    rest.append(event)
        assert message_ids(rest) == acked[10:30], "the stream resumes after the last event it delivered"

        inbox = [m["id"] for m in await reader.ok("get_messages")]
        assert sorted(inbox) == sorted(acked) and len(set(inbox)) == len(inbox)
        with anyio.fail_after(15):  # every task created gets its workflow message exactly once, none skipped
            while True:
                autos = await writer.ok("get_messages", include_read=True)
                if len(autos) >= len(tasks_made):
                    break
                await anyio.sleep(0.2)
        noted = Counter(m["content"] for m in autos)
        assert noted == Counter(f"[AUTO] task {t} is on the board" for t in tasks_made), noted
        runs = query(tmp_path, "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM workflow_run")
        assert runs[0][0] == runs[0][1] == len(tasks_made)
    doomed_log = doomed.log_text()
    assert "Traceback" not in survivor.log_text() + other.log_text(), doomed_log[-500:]


class Back:
    """When the database took connections again (monotonic seconds), once it did."""

    at: float | None = None


@asynccontextmanager
async def database_away(tmp_path: Path) -> AsyncIterator[Back]:
    """The table's database refuses connections and every connection to it is dropped (as when its server
    restarts), until the block ends."""
    name = database_of(tmp_path)
    back = Back()
    with admin() as conn:
        conn.execute(psql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(psql.Identifier(name)))
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    try:
        yield back
    finally:
        with admin() as conn:
            conn.execute(psql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(psql.Identifier(name)))
        back.at = time.monotonic()


OUTAGE = 20.0  # seconds: long enough for a reconnect back-off (1, 2, 4, 8, 16 s) to stretch well past the outage


async def test_the_database_going_away_is_refused_unavailable_and_every_replica_writes_again_within_two_seconds(
        tmp_path):
    async with replicas(tmp_path, count=2) as hubs, AsyncExitStack() as stack:
        alice = await seat(stack, hubs[0], "http-handshake", "alice")
        bob = await seat(stack, hubs[1], "http-handshake", "bob")
        # Bound by their bearer tokens, as an agent's client configured by `team-table token` is.
        bound = [await seat(stack, hubs[0], "http-handshake", bearer=alice.token),
                 await seat(stack, hubs[1], "http-handshake", bearer=bob.token)]
        acked: list[int] = []
        refusals: Counter[str] = Counter()
        writable_after: dict[int, float] = {}

        async def keep_writing(index: int, agent: Seat, to: str) -> None:
            while index not in writable_after:
                try:
                    reply = await agent.raw("send_message", recipient=to, content=f"{index} {len(acked)}")
                except Exception as exc:  # the SDK's own failure: the edge answered something else than MCP
                    raise AssertionError(f"a bound call during the outage was not answered as a tool: {exc!r}") \
                        from exc
                if reply.is_error:
                    refusals[reply.code or "?"] += 1
                    assert reply.code == "unavailable", reply.data
                    assert "database" in reply.data["error"]
                else:
                    acked.append(reply.data["id"])
                    if back.at is not None:
                        writable_after[index] = time.monotonic() - back.at
                await anyio.sleep(0.2)

        back = Back()
        with anyio.fail_after(OUTAGE + 60):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(keep_writing, 0, bound[0], "bob")
                tasks.start_soon(keep_writing, 1, bound[1], "alice")
                await anyio.sleep(0.5)
                async with database_away(tmp_path) as back:
                    await anyio.sleep(OUTAGE)
                    async with httpx2.AsyncClient(timeout=30) as http:
                        ready = await http.get(hubs[0].url + "/readyz")
                    assert ready.status_code == 503 and ready.json()["checks"]["database"] is False, ready.text
        assert refusals["unavailable"] > 0, "calls made while the database was away must be refused"
        assert max(writable_after.values()) < 2.5, f"seconds until each replica wrote again: {writable_after}"
        stored = [row[0] for row in query(tmp_path, "SELECT id FROM message")]
        assert set(acked) <= set(stored), "an acknowledged message is lost"
        incomplete = query(tmp_path, "SELECT m.id FROM message m LEFT JOIN delivery d ON d.message_id = m.id"
                                     " WHERE d.message_id IS NULL")
        assert incomplete == [], "a message half-written: no delivery row"
        async with httpx2.AsyncClient() as http:
            for hub in hubs:
                assert (await http.get(hub.url + "/readyz")).status_code == 200


async def test_a_replica_holding_push_streams_lives_through_a_long_database_outage_and_streams_on(tmp_path):
    from team_table import events
    from team_table.store import open_store

    async with replicas(tmp_path, count=2) as hubs, AsyncExitStack() as stack:
        alice = await seat(stack, hubs[1], "http-handshake", "alice")
        bob = await seat(stack, hubs[0], "http-handshake", "bob")
        async with events_of(hubs[0].url, "bob", bob.token) as stream:
            with anyio.fail_after(OUTAGE + 60):
                async with database_away(tmp_path):
                    for _ in range(int(OUTAGE / 2)):  # calls on the stream's replica meet the outage too
                        assert (await bob.call("list_tasks")).code == "unavailable"
                        await anyio.sleep(1.0)
                # The moment the server is back another process commits an event for bob: the stream's replica
                # hears of it at once, while its own connections may still be coming back.
                other = open_store(stores.table_db(tmp_path / "replica-0"))
                try:
                    with other.write() as tx:
                        events.emit(tx, "now", NOTE, cast(Any, {"n": "back"}), to="bob")
                finally:
                    other.close()
                note = await stream.next(within=20, skip=("heartbeat", "presence"))
                assert note.kind == "note" and note.data == {"n": "back"}, note
                while (reply := await alice.call("send_message", recipient="bob", content="after")).is_error:
                    assert reply.code == "unavailable", reply.data
                    await anyio.sleep(0.1)
                pushed = await stream.next(within=20, skip=("heartbeat", "presence"))
                assert pushed.kind == "message" and pushed.data["id"] == reply.data["id"], pushed
        assert hubs[0].process.returncode is None, f"the replica exited:\n{hubs[0].log_text()[-1500:]}"
        assert [m["content"] for m in await bob.ok("get_messages")] == ["after"]
        async with httpx2.AsyncClient() as http:
            assert (await http.get(hubs[0].url + "/readyz")).status_code == 200


def frozen_in_a_transaction(tmp_path: Path, pid: int) -> list[tuple]:
    """The sessions of hub process `pid` that sit inside a transaction that wrote (it holds locks)."""
    return query(tmp_path, "SELECT pid, backend_xid::text FROM pg_stat_activity WHERE application_name = %s"
                           " AND state LIKE 'idle in transaction%%' AND backend_xid IS NOT NULL",
                 (f"team-table {pid}",))


async def test_a_replica_frozen_inside_a_transaction_costs_the_others_at_most_the_lock_timeout(tmp_path):
    from team_table.store.postgres import IDLE_IN_TRANSACTION, LOCK_TIMEOUT

    async with replicas(tmp_path) as hubs, AsyncExitStack() as stack:
        doomed, first, second = hubs
        await seat(stack, first, "http-handshake", "sink")
        writers = [await seat(stack, doomed, "http-handshake", f"w{i}") for i in range(4)]
        alice = await seat(stack, first, "http-handshake", "alice")
        bob = await seat(stack, second, "http-handshake", "bob")
        through_first = [(await seat(stack, first, "http-handshake")).as_agent(w.name, w.token) for w in writers]
        stop = anyio.Event()

        async def write(agent: Seat) -> None:
            while not stop.is_set():
                await agent.call("send_message", recipient="sink", content="load")

        async with anyio.create_task_group() as load:  # its calls to the frozen replica end once it is woken
            for writer in writers:
                load.start_soon(write, writer)
            frozen = []
            # A SIGSTOP lands wherever the process is: stop it until it is caught inside a write transaction.
            for attempt in range(200):
                await anyio.sleep(0.02 + 0.01 * (attempt % 7))
                doomed.process.send_signal(signal.SIGSTOP)
                await anyio.sleep(0.1)  # what the server was running for it finishes
                frozen = frozen_in_a_transaction(tmp_path, doomed.process.pid)
                if frozen:
                    break
                doomed.process.send_signal(signal.SIGCONT)
            stop.set()
            try:
                assert frozen, "the replica was never stopped inside a transaction"
                frozen_at = time.monotonic()
                await _others_write_on(alice, bob, through_first, LOCK_TIMEOUT)
                # The server ends the frozen session after IDLE_IN_TRANSACTION: its locks go, and every writer writes
                # again through another replica.
                with anyio.fail_after(IDLE_IN_TRANSACTION + 15):
                    while frozen_in_a_transaction(tmp_path, doomed.process.pid):
                        await anyio.sleep(0.5)
                    released = time.monotonic() - frozen_at
                    for agent in through_first:
                        await agent.ok("send_message", recipient="sink", content="after")
                assert released < IDLE_IN_TRANSACTION + 5, released
            finally:
                doomed.process.send_signal(signal.SIGCONT)
        with anyio.fail_after(15):  # the woken replica finds its session ended, and serves again
            while (reply := await writers[0].call("send_message", recipient="sink", content="awake")).is_error:
                assert reply.code in ("unavailable", "busy"), reply.data
                await anyio.sleep(0.2)


async def _others_write_on(alice: Seat, bob: Seat, through_first: list[Seat], lock_timeout: float) -> None:
    """Writes that need nothing the frozen replica holds go through at once; one that needs what it holds (its
    agents' rate counts) is answered within the lock timeout: done, or refused busy, never held for ever."""
    with anyio.fail_after(30):
        for n in range(5):
            began = time.monotonic()
            await alice.ok("send_message", recipient="bob", content=f"a{n}")
            await bob.ok("send_message", recipient="alice", content=f"b{n}")
            assert time.monotonic() - began < 2, "a write that needs nothing the frozen replica holds waited"
        outcomes: dict[str, str] = {}

        async def try_once(agent: Seat) -> None:
            began = time.monotonic()
            reply = await agent.call("send_message", recipient="sink", content="from elsewhere")
            took = time.monotonic() - began
            assert took < lock_timeout + 3, (agent.name, took)
            outcomes[agent.name] = reply.code or "ok"

        async with anyio.create_task_group() as tasks:
            for agent in through_first:
                tasks.start_soon(try_once, agent)
        assert set(outcomes.values()) <= {"ok", "busy"}, outcomes


async def test_a_reload_is_applied_by_every_replica_and_audited_once(tmp_path):
    before = "agents:\n  alice: {role: coder}\n"
    after = "agents:\n  alice: {role: coder}\n  carol: {role: reviewer}\n"
    async with replicas(tmp_path, team_yaml=before) as hubs:
        for index in range(REPLICAS):  # as a deployment tool rolls the same file out to each host
            (tmp_path / f"replica-{index}" / "team.yaml").write_text(after)
        with anyio.fail_after(10):
            while not all("reloaded" in hub.log_text() and "carol" in hub.log_text() for hub in hubs):
                await anyio.sleep(0.2)
        await anyio.sleep(1.5)  # time for a late second audit entry, if any replica were to write one
        reloads = query(tmp_path, "SELECT COUNT(*) FROM audit WHERE action = 'config_reloaded'")
        assert reloads == [(1,)], reloads


async def test_the_jobs_of_a_replica_killed_with_sigkill_are_taken_over_within_their_lease(tmp_path):
    from team_table.jobs import MIN_LEASE

    def holder(job: str) -> int | None:
        rows = query(tmp_path, "SELECT owner FROM job_lease WHERE name = %s", (job,))
        return int(rows[0][0].split("-")[0]) if rows else None

    async with replicas(tmp_path, workflow=WORKFLOW) as hubs, AsyncExitStack() as stack:
        writer = await seat(stack, hubs[0], "http-handshake", "writer")
        await writer.ok("create_task", title="before")  # the workflows job takes its lease to handle it
        by_pid = {hub.process.pid: hub for hub in hubs}
        with anyio.fail_after(10):
            while holder("workflows") not in by_pid:
                await anyio.sleep(0.2)
        doomed = by_pid[holder("workflows") or 0]  # the loop above waited for a holder among them
        doomed.kill()
        await doomed.process.wait()
        killed_at = time.monotonic()
        living = [hub for hub in hubs if hub is not doomed]
        writer = (await seat(stack, living[0], "http-handshake")).as_agent("writer", writer.token)
        task = await writer.ok("create_task", title="after")
        with anyio.fail_after(MIN_LEASE + 10):
            while holder("workflows") == doomed.process.pid:
                await anyio.sleep(0.2)
            while not any(f"task {task['id']} is" in m["content"] for m in
                          await writer.ok("get_messages", include_read=True)):
                await anyio.sleep(0.2)
        took = time.monotonic() - killed_at
        assert holder("workflows") in {hub.process.pid for hub in living}
        assert took < MIN_LEASE + 5, took
