"""Answers with a bound: get_messages returns one page (PAGE_MESSAGES, PAGE_CHARACTERS of content), still a plain
JSON array as in 0.2.1; what it does not return stays unread for the next call; a wait says how many more wait,
catch_up counts them all; readers racing for one inbox each take different messages, each exactly once."""

from __future__ import annotations

import anyio
import pytest

from team_table.delivery import deliver
from team_table.messages import PAGE_CHARACTERS, PAGE_MESSAGES

pytestmark = pytest.mark.anyio

BACKLOG = 2 * PAGE_MESSAGES + 50


def backlog(table, to: str, count: int, size: int = 10) -> list[int]:
    """`count` messages to `to`, written at once (as a long absence leaves them)."""
    hub = table.hub
    with hub.store.write() as tx:
        return [deliver(tx, hub.now(), "carol", to, f"{n:0{size}d}").id for n in range(count)]


async def test_get_messages_returns_a_page_and_leaves_the_rest_unread_for_the_next_call(table):
    bob = await table.join("bob")
    await table.join("carol")
    sent = backlog(table, "bob", BACKLOG)
    pages = []
    while page := await bob.ok("get_messages"):
        assert isinstance(page, list)  # the 0.2.1 answer: one JSON array of messages
        pages.append([m["id"] for m in page])
    assert [len(p) for p in pages] == [PAGE_MESSAGES, PAGE_MESSAGES, 50]
    assert [i for p in pages for i in p] == sent  # oldest first, each once, none lost


async def test_a_page_is_bounded_by_the_size_of_its_messages_too(table):
    bob = await table.join("bob")
    await table.join("carol")
    sent = backlog(table, "bob", 40, size=10_000)
    first = await bob.ok("get_messages")
    assert len(first) == PAGE_CHARACTERS // 10_000
    assert [m["id"] for m in first + await bob.ok("get_messages")] == sent


async def test_a_wait_says_how_many_more_wait_and_catch_up_counts_them_all(table):
    bob = await table.join("bob")
    await table.join("carol")
    backlog(table, "bob", BACKLOG)
    summary = await bob.ok("catch_up")
    assert summary["unread"] == BACKLOG
    waited = await bob.ok("wait_for_messages", timeout_seconds=5)
    assert len(waited["messages"]) == PAGE_MESSAGES and waited["more"] == BACKLOG - PAGE_MESSAGES
    assert (await bob.ok("catch_up"))["unread"] == BACKLOG - PAGE_MESSAGES  # catch_up reads nothing
    rest = await bob.ok("get_messages")
    waited = await bob.ok("wait_for_messages", timeout_seconds=5)
    assert len(rest) == PAGE_MESSAGES and len(waited["messages"]) == 50 and "more" not in waited


async def test_include_read_returns_the_newest_page(table):
    bob = await table.join("bob")
    await table.join("carol")
    sent = backlog(table, "bob", BACKLOG)
    everything = await bob.ok("get_messages", include_read=True)
    assert [m["id"] for m in everything] == sent[-PAGE_MESSAGES:]
    assert len(await bob.ok("get_messages")) == PAGE_MESSAGES  # the older ones are still unread


async def test_readers_racing_for_one_inbox_take_each_message_exactly_once(table):
    await table.join("carol")
    bob = await table.join("bob")
    readers = [bob] + [await table.connect() for _ in range(2)]
    for reader in readers[1:]:
        reader.name, reader.token = bob.name, bob.token
    sent = backlog(table, "bob", BACKLOG)
    got: list[int] = []

    async def drain(reader) -> None:
        while page := await reader.ok("get_messages"):
            got.extend(m["id"] for m in page)

    async with anyio.create_task_group() as tasks:
        for reader in readers:
            tasks.start_soon(drain, reader)
    assert sorted(got) == sent
