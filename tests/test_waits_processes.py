"""Waits and pushes through real processes: over HTTP (both eras), across stdio processes on one database, a wait
whose client hangs up, and channel notifications reaching a bound stdio process and a bound HTTP session."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx2
import pytest

import stores
from team_table import tokens

from conftest import one_variant_on_postgres
from network_helpers import join_all, running_hub, seat
from stdio_helpers import launch, seats

pytestmark = [pytest.mark.anyio, pytest.mark.processes]


STATEFUL = "hub:\n  stateless_http: false\n"  # sessions kept in the process (the default on SQLite only)


def declared(*names: str) -> tuple[str, dict[str, str]]:
    """team.yaml agents with tokens, and the tokens."""
    minted = {name: tokens.mint() for name in names}
    body = "".join(f"  {name}:\n    role: coder\n    token_hashes: [\"{tokens.file_hash(token)}\"]\n"
                   for name, token in minted.items())
    return f"agents:\n{body}", minted


async def woken_after(waiter, sender, recipient: str) -> tuple[float, dict]:
    """Seconds from a send returning to the recipient's wait returning, and the wait's answer."""
    answers: list[tuple[float, dict]] = []
    answered = anyio.Event()

    async def wait() -> None:
        answer = await waiter.ok("wait_for_messages", timeout_seconds=20)
        answers.append((time.monotonic(), answer))
        answered.set()

    async with anyio.create_task_group() as group:
        group.start_soon(wait)
        await anyio.sleep(0.3)
        await sender.ok("send_message", recipient=recipient, content="wake up")
        sent = time.monotonic()
        with anyio.fail_after(10):
            await answered.wait()
    return answers[0][0] - sent, answers[0][1]


@pytest.mark.parametrize("kind", one_variant_on_postgres(["http-handshake", "http-2026"]))
async def test_a_wait_over_http_is_woken_by_the_hubs_own_fanout(tmp_path: Path, kind: str):
    yaml, minted = declared("bob")
    async with running_hub(tmp_path, yaml) as hub, AsyncExitStack() as stack:
        (alice,) = await join_all(stack, hub, "alice")
        bob = await seat(stack, hub, kind, bearer=minted["bob"])
        delay, answer = await woken_after(bob, alice, "bob")
    assert answer["timed_out"] is False and [m["content"] for m in answer["messages"]] == ["wake up"]
    assert delay < 0.5, delay


@pytest.mark.parametrize("kind", one_variant_on_postgres(["http-handshake", "http-2026", "sse"]))
async def test_a_wait_over_http_whose_client_gives_up_takes_nothing(tmp_path: Path, kind: str):
    yaml, minted = declared("bob")
    async with running_hub(tmp_path, yaml) as hub, AsyncExitStack() as stack:
        (alice,) = await join_all(stack, hub, "alice")
        async with AsyncExitStack() as leaving:  # bob's client waits, then gives up and goes
            bob = await seat(leaving, hub, kind, bearer=minted["bob"])
            with anyio.move_on_after(1):
                await bob.call("wait_for_messages", timeout_seconds=20)
            await anyio.sleep(0.3)  # the client's cancellation reaches the hub before the client leaves
        await alice.ok("send_message", recipient="bob", content="while nobody waits")
        await anyio.sleep(0.5)  # had the wait lived on, it would have taken this now
        again = await seat(stack, hub, "http-handshake", bearer=minted["bob"])
        assert [m["content"] for m in await again.ok("get_messages")] == ["while nobody waits"]
    errors = [line for line in hub.log_text().splitlines() if "level=error" in line]
    assert errors == [], "a cancelled wait is no error:\n" + "\n".join(errors)


async def test_a_wait_in_one_stdio_process_is_woken_by_a_message_written_by_another(tmp_path: Path):
    db, home = stores.table_db(tmp_path), tmp_path / "home"
    home.mkdir()
    params = launch("python -m team_table.server", db, home)
    async with seats([(params, "legacy"), (params, "legacy")], tmp_path / "logs") as (alice, bob):
        await alice.join("alice")
        await bob.join("bob")
        delays = []
        for _ in range(3):
            delay, answer = await woken_after(bob, alice, "bob")
            assert [m["content"] for m in answer["messages"]] == ["wake up"]
            delays.append(delay)
    assert sorted(delays)[1] < 0.25, delays  # the median, within the 250 ms a stdio hub promises


async def test_a_bound_stdio_process_pushes_a_channel_note_for_what_another_process_wrote(tmp_path: Path):
    yaml, minted = declared("bob")
    db, home = stores.table_db(tmp_path), tmp_path / "home"
    home.mkdir()
    (home / "team.yaml").write_text(yaml)
    plain = launch("python -m team_table.server", db, home, TEAM_TABLE_CONFIG=str(home / "team.yaml"))
    bound = launch("python -m team_table.server", db, home, TEAM_TABLE_CONFIG=str(home / "team.yaml"),
                   TEAM_TABLE_AGENT="bob", TEAM_TABLE_TOKEN_BOB=minted["bob"])
    async with seats([(plain, "legacy"), (bound, "legacy")], tmp_path / "logs") as (alice, bob):
        capabilities = bob.client.server_capabilities
        assert capabilities.experimental == {"claude/channel": {}} and capabilities.tools.list_changed
        await bob.ok("heartbeat")  # bound: no name or token
        await alice.join("alice")
        sent = await alice.ok("send_message", recipient="bob", content="from the other process")
        note = await bob.next_push(within=5)
        assert note.meta == {"kind": "wake"}
        assert f"alice wrote to you (message {sent['id']})" in note.content
        assert "from the other process" not in note.content  # a pointer, not the body
        assert [m["id"] for m in await bob.ok("get_messages")] == [sent["id"]]  # the push marked nothing read


@pytest.mark.one_engine  # the HTTP stream's notes; the fan-out on PostgreSQL: the waits above
async def test_a_bound_http_session_gets_channel_notes_on_its_stream(tmp_path: Path):
    yaml, minted = declared("bob")
    async with running_hub(tmp_path, yaml + STATEFUL) as hub, AsyncExitStack() as stack:
        (alice,) = await join_all(stack, hub, "alice")
        bob = await seat(stack, hub, "http-handshake", bearer=minted["bob"])
        await bob.ok("heartbeat")
        unbound = await seat(stack, hub, "http-handshake", "carol")
        sent = await alice.ok("send_message", recipient="bob", content="over http")
        note = await bob.next_push(within=5)
        assert f"(message {sent['id']})" in note.content and "over http" not in note.content
        await alice.ok("send_message", recipient="carol", content="for carol")
        await anyio.sleep(0.5)
        assert unbound.pushed == []


async def test_a_hub_served_statelessly_declares_no_channel_over_http_and_its_waits_still_wake(tmp_path: Path):
    yaml, minted = declared("bob")
    async with running_hub(tmp_path, yaml + "hub:\n  stateless_http: true\n") as hub, AsyncExitStack() as stack:
        (alice,) = await join_all(stack, hub, "alice")
        bob = await seat(stack, hub, "http-handshake", bearer=minted["bob"])
        capabilities = bob.client.server_capabilities
        assert not capabilities.experimental, "no stream to push on: promising channels would be a lie"
        async with httpx2.AsyncClient() as http:
            stream = await http.get(hub.url + "/mcp", headers={"Accept": "text/event-stream"})
        assert stream.status_code == 405 and "POST" in stream.headers["allow"]
        answer: list[dict] = []

        async def wait() -> None:
            answer.append(await bob.ok("wait_for_messages", timeout_seconds=10))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait)
            await anyio.sleep(0.3)
            sent = await alice.ok("send_message", recipient="bob", content="still heard")
        assert [m["id"] for m in answer[0]["messages"]] == [sent["id"]] and not answer[0]["timed_out"]


@pytest.mark.one_engine  # the legacy SSE transport; waits on PostgreSQL: the tests above
async def test_a_wait_over_legacy_sse_returns_the_message_and_a_first_wait_ignores_old_events(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        alice = await seat(stack, hub, "http-handshake", "alice")
        bob = await seat(stack, hub, "sse", "bob")
        for n in range(2):
            await alice.ok("send_message", recipient="bob", content=f"old {n}")
        assert len(await bob.ok("get_messages")) == 2  # read: their events must not wake the next wait
        began = time.monotonic()
        quiet = await bob.ok("wait_for_messages", timeout_seconds=2)
        assert quiet == {"messages": [], "timed_out": True} and time.monotonic() - began >= 1.9
        sent = await alice.ok("send_message", recipient="bob", content="already there")
        ready = await bob.ok("wait_for_messages", timeout_seconds=5)  # over SSE: the POST was answered 202 long ago
        assert [m["id"] for m in ready["messages"]] == [sent["id"]] and not ready["timed_out"]
