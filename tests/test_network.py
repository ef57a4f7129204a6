"""The network hub as agents meet it: `team-table up` on a real port, reached over streamable HTTP (both
protocol eras) and legacy SSE; identity bound from the connection; health, metrics and shutdown; many agents
at once; and the connect lines `up` prints."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx2
import pytest
from click.testing import CliRunner
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

import stores
from answers import found
from team_table.cli import main

from conftest import one_variant_on_postgres
from network_helpers import KINDS, HubFiles, events, join_all, mcp_client, running_hub, seat
from stdio_helpers import Seat
from support import deliveries, ring

pytestmark = [pytest.mark.anyio, pytest.mark.processes]

NO_RATE_LIMIT = "limits:\n  rate:\n    writes: 100000\n    window_seconds: 60\n"
AGENTS = 16


@pytest.mark.one_engine  # transports and protocol eras; each engine serves HTTP clients in the other tests here
async def test_clients_of_every_transport_and_era_share_one_table_with_tokens_in_arguments(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        agents = [await seat(stack, hub, kind, f"agent-{kind}") for kind in KINDS]
        # Every agent writes to every other: each pair of transports, in both directions.
        for agent in agents:
            for other in agents:
                if other is not agent:
                    await agent.ok("send_message", recipient=other.name, content=f"{agent.name} to {other.name}")
        for agent in agents:
            inbox = await agent.ok("get_messages")
            assert sorted(m["sender"] for m in inbox) == sorted(a.name for a in agents if a is not agent)
            assert all(m["content"] == f"{m['sender']} to {agent.name}" for m in inbox)
            assert await agent.ok("get_messages") == []

        tasks = [await agents[2].ok("create_task", title=f"work for {agent.name}") for agent in agents]
        for task, agent in zip(tasks, agents, strict=True):
            claimed = await agent.ok("claim_task", task_id=task["id"])
            assert (claimed["status"], claimed["assignee"]) == ("in_progress", agent.name)
        board = await agents[1].ok("list_tasks")
        assert {t["id"]: t["assignee"] for t in board} == {t["id"]: a.name for t, a in zip(tasks, agents, strict=True)}
        for agent in agents:  # the 0.2.1 way: the token is an argument, and a wrong one is refused
            assert (await agent.call("heartbeat", token="not-the-token")).code == "unauthorized"


@pytest.mark.parametrize("kind", one_variant_on_postgres(KINDS))
async def test_a_bearer_token_binds_the_connection_to_its_agent(tmp_path: Path, kind: str):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        client = await stack.enter_async_context(mcp_client(hub.url, kind, bearer=alice.token))
        bound = Seat(client, hub.log)  # no name and no token: the connection says who is calling
        assert "You are alice" in (client.instructions or "") and "register(" not in (client.instructions or "")

        sent = await bound.raw("send_message", recipient="bob", content="no name, no token")
        assert not sent.is_error and sent.data["sender"] == "alice", sent.data
        task = (await bound.raw("create_task", title="bound work")).data
        claimed = await bound.raw("claim_task", task_id=task["id"])
        assert (task["creator"], claimed.data["assignee"]) == ("alice", "alice")
        assert not (await bound.raw("heartbeat", name="alice")).is_error  # its own name is fine

        assert (await bound.raw("get_messages", agent_name="bob")).code == "unauthorized"
        other = await bound.raw("send_message", sender="bob", token=bob.token, recipient="alice", content="as bob")
        assert other.code == "unauthorized"  # another name is refused, even with that name's token
        inbox = await bob.ok("get_messages")
        assert [(m["sender"], m["content"]) for m in inbox] == [("alice", "no name, no token")]
        assert await alice.ok("get_messages") == []


@pytest.mark.one_engine  # reading the settings; TEAM_TABLE_DB naming a PostgreSQL server: test_stdio's launchers
async def test_the_hub_serves_the_network_from_environment_variables_alone(tmp_path: Path):
    """`python -m team_table.server` with TEAM_TABLE_TRANSPORT/PORT/DB/CONFIG, as 0.2.1 was started."""
    async with running_hub(tmp_path, by_env=True) as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob", kind="http-2026")
        await alice.ok("send_message", recipient="bob", content="over the network")
        assert [m["sender"] for m in await bob.ok("get_messages")] == ["alice"]
    assert stores.on_postgres() or Path(hub.files.db).exists()


# ---- operations ---------------------------------------------------------------------------------------

def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text `text` (0 when it is not there)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def test_health_and_readiness_answer_with_their_checks(tmp_path: Path):
    async with running_hub(tmp_path) as hub, httpx2.AsyncClient() as http:
        health = await http.get(hub.url + "/healthz")
        ready = await http.get(hub.url + "/readyz")
    assert (health.status_code, health.json()["status"]) == (200, "ok")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")
    checks = ready.json()["checks"]
    assert {"database", "config", "push"} <= checks.keys() and all(checks.values()), checks


@pytest.mark.one_engine  # the /metrics edge counts in memory, whatever the engine
async def test_metrics_count_tool_calls_latency_streams_and_refusals(tmp_path: Path):
    two_writes = "limits:\n  rate:\n    writes: 2\n    window_seconds: 60\n"
    async with running_hub(tmp_path, two_writes) as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        replies = [await alice.call("send_message", recipient="bob", content=f"note {n}") for n in range(3)]
        assert [r.code for r in replies] == [None, None, "rate_limited"]
        assert (await bob.call("heartbeat", token="not-the-token")).code == "unauthorized"
        async with httpx2.AsyncClient() as http:
            bad = await http.post(hub.url + "/mcp", headers={"Authorization": "Bearer not-a-token"}, json={})
            assert bad.status_code == 401
            async with events(hub.url, "bob", bob.token):
                text = (await http.get(hub.url + "/metrics")).text

    calls = "team_table_tool_calls_total"
    assert metric(text, calls, tool="register", outcome="ok") == 2
    assert metric(text, calls, tool="send_message", outcome="ok") == 2
    assert metric(text, calls, tool="send_message", outcome="rate_limited") == 1
    assert metric(text, calls, tool="heartbeat", outcome="unauthorized") == 1
    assert metric(text, "team_table_tool_duration_seconds_count", tool="send_message") == 3
    assert metric(text, "team_table_tool_duration_seconds_bucket", tool="send_message", le="+Inf") == 3
    assert metric(text, "team_table_rate_limited_total") == 1
    assert metric(text, "team_table_auth_failures_total", route="/mcp") == 2  # the bad bearer token, and the call
    assert metric(text, "team_table_event_streams") == 1


@pytest.mark.parametrize("kind", one_variant_on_postgres(KINDS))
async def test_sigterm_closes_open_streams_and_the_hub_exits_zero_promptly(tmp_path: Path, kind: str):
    """With a push stream and an agent's MCP session (of each kind) open, as they are when an operator stops it."""
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        agent = await seat(stack, hub, kind, "alice")  # its session stays open through the stop
        async with events(hub.url, "alice", agent.token) as stream:
            hub.terminate()
            closed = await stream.next(within=5)
            took = await hub.wait_exit(within=10)
        assert closed.kind == "closed" and closed.data["reason"].startswith("shutdown"), closed
        assert took < 10
        hub.assert_clean_exit()


# ---- many agents at once ------------------------------------------------------------------------------

async def sixteen(stack: AsyncExitStack, hub) -> list[Seat]:
    """Sixteen agents, each with its own client session; the transports and eras take turns."""
    kinds = list(KINDS)
    return [await seat(stack, hub, kinds[i % len(kinds)], f"agent-{i:02}") for i in range(AGENTS)]


@pytest.mark.one_engine  # on PostgreSQL: test_replicas, agents on three replicas
async def test_sixteen_agents_over_http_exchange_messages_in_a_ring_each_delivered_exactly_once(tmp_path: Path):
    per_agent = 30
    async with running_hub(tmp_path, NO_RATE_LIMIT) as hub, AsyncExitStack() as stack:
        agents = await sixteen(stack, hub)
        inboxes: dict[int, list[dict]] = {index: [] for index in range(AGENTS)}

        async def send(index: int, target: int, n: int) -> int:
            me = agents[index]
            return (await me.ok("send_message", recipient=agents[target].name, content=f"{me.name}#{n}"))["id"]

        async def read(index: int) -> list[int]:
            got = await agents[index].ok("get_messages")
            inboxes[index] += got
            return [m["id"] for m in got]

        done = await ring(AGENTS, per_agent, send, read, within=60)

    assert deliveries(done["sent"], done["received"], AGENTS * per_agent)["exactly_once"]
    for index in range(AGENTS):
        sender = agents[index - 1].name
        got = [m["content"] for m in inboxes[index]]
        assert got == [f"{sender}#{n}" for n in range(per_agent)], agents[index].name  # each once, oldest first


@pytest.mark.one_engine  # on PostgreSQL: test_replicas, claims on three replicas
async def test_sixteen_agents_claiming_the_same_tasks_over_http_get_exactly_one_winner_each(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        agents = await sixteen(stack, hub)
        tasks = [await agents[0].ok("create_task", title=f"job {n}") for n in range(10)]
        outcomes: dict[int, list[tuple[str, str | None]]] = {task["id"]: [] for task in tasks}

        async def claim_all(agent: Seat) -> None:
            for task in tasks:
                reply = await agent.call("claim_task", task_id=task["id"])
                outcomes[task["id"]].append((agent.name, reply.code))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for agent in agents:
                    group.start_soon(claim_all, agent)
        board = {t["id"]: t for t in await agents[0].ok("list_tasks")}

    for task_id, results in outcomes.items():
        winners = [name for name, code in results if code is None]
        assert len(winners) == 1, (task_id, results)
        assert sorted(code for _, code in results if code is not None) == ["conflict"] * (AGENTS - 1)
        assert (board[task_id]["status"], board[task_id]["assignee"]) == ("in_progress", winners[0])


# ---- the lines `up` prints ----------------------------------------------------------------------------

def written_server(client: str, home: Path, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The hub's URL and headers as the client reads them from what `connect` wrote (its variables expanded)."""
    import json
    import tomllib

    if client == "codex":
        entry = tomllib.loads((home / ".codex" / "config.toml").read_text())["mcp_servers"]["team-table"]
        return entry["url"], {"Authorization": f"Bearer {env[entry['bearer_token_env_var']]}"}
    file = home / (".claude.json" if client == "claude-code" else ".gemini/settings.json")
    entry = json.loads(file.read_text())["mcpServers"]["team-table"]
    [(variable, value)] = env.items()
    expanded = {k: v.replace("${" + variable + "}", value) for k, v in entry["headers"].items()}
    assert "${" not in json.dumps(expanded)
    return entry["url"], expanded


async def test_up_prints_a_connect_line_that_works_as_printed(tmp_path: Path):
    files = HubFiles(tmp_path / "hub")
    files.config.write_text("agents:\n  alice:\n    role: coder\n")
    minted = CliRunner().invoke(main, ["token", "alice", "--config", str(files.config), "--db", str(files.db)],
                                catch_exceptions=False)
    lines = minted.output.splitlines()
    token = lines[next(i for i, line in enumerate(lines) if line.startswith("Token for alice")) + 2].strip()
    digest = found(r"sha256:[0-9a-f]{64}", minted.output).group(0)
    team = f'agents:\n  alice:\n    role: coder\n    token_hashes: ["{digest}"]\n'

    async with running_hub(files.folder, team) as hub, AsyncExitStack() as stack:
        assert any(hub.url in line for line in hub.printed[:3]), hub.printed
        line = next(x for x in hub.printed if " connect claude-code alice" in x).split("#")[0].split()
        assert any(f"alice ({'coder'}): its client reads its token from TEAM_TABLE_TOKEN_ALICE" in x
                   for x in hub.printed)
        env = {"TEAM_TABLE_TOKEN_ALICE": token}  # what the user exports
        for client, mode in (("claude-code", "legacy"), ("codex", "auto"), ("gemini", "legacy")):
            home = tmp_path / client
            home.mkdir()
            args = ["connect", client, *line[line.index("connect") + 2:]]  # the line, with each client named
            done = CliRunner().invoke(main, [*args, "--config", str(files.config)], env={"HOME": str(home)},
                                      catch_exceptions=False)
            assert done.exit_code == 0, done.output
            url, headers = written_server(client, home, env)
            assert url == hub.url + "/mcp"
            http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers))
            session = await stack.enter_async_context(Client(streamable_http_client(url, http_client=http),
                                                             mode=mode))
            agent = Seat(session, hub.log)
            sent = await agent.raw("send_message", recipient="bob", content=f"hello from {client}")
            assert not sent.is_error and sent.data["sender"] == "alice", (client, sent.data)
            beat = (await agent.raw("heartbeat")).data
            assert (beat["status"], beat["name"]) == ("ok", "alice"), beat


@pytest.mark.sqlite_only
async def test_a_send_waiting_for_another_process_s_write_lock_never_holds_up_the_event_loop(tmp_path: Path):
    """The hub does its database work on the event loop when it need not wait; a write whose lock another process
    holds goes to a worker thread instead, so health checks and reads keep being answered, and the write lands
    once the lock is free."""
    import sqlite3

    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack, httpx2.AsyncClient() as http:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        other = sqlite3.connect(hub.files.db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process's write, in progress
        try:
            async with anyio.create_task_group() as tasks:
                sent: list = []

                async def send() -> None:
                    sent.append(await alice.ok("send_message", recipient="bob", content="after the lock"))

                tasks.start_soon(send)
                with anyio.fail_after(2):  # the busy timeout is 5 s: on the event loop, these would wait it out
                    assert (await http.get(hub.url + "/healthz")).status_code == 200
                    assert await bob.ok("get_messages") == []
                assert not sent
                other.execute("COMMIT")
        finally:
            other.close()
        assert [m["content"] for m in await bob.ok("get_messages")] == ["after the lock"]
        assert sent[0]["id"] > 0
