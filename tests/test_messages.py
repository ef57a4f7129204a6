"""Messages (docs/compatibility.md §4, §6): exactly-once reads, per-reader broadcasts, archive, clear, purge, rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.anyio


class HandClock:
    """A clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return self.moment.timestamp()

    def tick(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


async def contents(agent, **flags) -> list[str]:
    return [m["content"] for m in await agent.ok("get_messages", **flags)]


async def everything(agent) -> list[str]:
    return await contents(agent, include_read=True, include_archived=True)


async def test_a_message_is_returned_once_then_not_again(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    sent = await alice.ok("send_message", recipient="bob", content="hello")
    assert {"id", "sender", "recipient", "content", "created_at"} <= sent.keys()
    assert (sent["sender"], sent["recipient"], sent["content"]) == ("alice", "bob", "hello")
    inbox = await bob.ok("get_messages")
    # What get_messages returns it has just marked read, and says so.
    assert [(m["id"], m["read"], m["archived_at"]) for m in inbox] == [(sent["id"], True, None)]
    assert await bob.ok("get_messages") == []


async def test_messages_come_oldest_first(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    for text in ("one", "two", "three"):
        await alice.ok("send_message", recipient="bob", content=text)
    assert await contents(bob) == ["one", "two", "three"]


async def test_include_read_returns_read_messages_marked_read(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    await alice.ok("send_message", recipient="bob", content="first")
    await bob.ok("get_messages")
    await alice.ok("send_message", recipient="bob", content="second")
    inbox = await bob.ok("get_messages", include_read=True)
    assert [(m["content"], m["read"]) for m in inbox] == [("first", True), ("second", True)]
    assert await contents(bob) == []  # the second was marked read by that call
    assert [(m["content"], m["read"]) for m in await bob.ok("get_messages", include_read=True)] == [
        ("first", True), ("second", True)]


async def test_nobody_else_sees_a_direct_message(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    carol = await table.join("carol")
    await alice.ok("send_message", recipient="bob", content="for bob only")
    assert await everything(carol) == []
    assert await everything(alice) == []
    assert await contents(bob) == ["for bob only"]


async def test_a_broadcast_reaches_every_other_member_once_and_not_the_sender(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    carol = await table.join("carol")
    sent = await alice.ok("broadcast", content="stand-up")
    assert sent["recipient"] == "*" and sent["sender"] == "alice"
    for reader in (bob, carol):
        assert await contents(reader) == ["stand-up"]
        assert await contents(reader) == []
    assert await everything(alice) == []


async def test_send_message_to_star_is_a_broadcast(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    carol = await table.join("carol")
    sent = await alice.ok("send_message", recipient="*", content="to all")
    assert sent["recipient"] == "*"
    assert await contents(bob) == ["to all"]
    assert await contents(carol) == ["to all"]
    assert await everything(alice) == []
    log = await alice.ok("get_audit_log", action="broadcast")
    assert [e["target_id"] for e in log] == [str(sent["id"])]


@pytest.mark.parametrize("tool", ["archive_message", "delete_message"])
async def test_archiving_or_deleting_a_broadcast_hides_it_for_that_reader_only(table, tool):
    alice = await table.join("alice")
    bob = await table.join("bob")
    carol = await table.join("carol")
    sent = await alice.ok("broadcast", content="news")
    await bob.ok(tool, message_id=sent["id"])
    assert await contents(bob, include_read=True) == []
    assert await contents(carol) == ["news"]


@pytest.mark.parametrize("tool", ["archive_message", "delete_message"])
async def test_an_admin_reader_archiving_or_deleting_a_broadcast_hides_it_for_itself_only(table, tool):
    alice = await table.join("alice")
    boss = await table.join("boss")
    carol = await table.join("carol")
    table.grant("boss", "admin")
    sent = await alice.ok("broadcast", content="news")
    await boss.ok(tool, message_id=sent["id"])
    assert await contents(boss, include_read=True) == []
    assert await contents(carol) == ["news"]


async def test_clearing_an_inbox_hides_a_broadcast_for_that_reader_only(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    carol = await table.join("carol")
    await alice.ok("broadcast", content="news")
    assert (await bob.ok("clear_inbox"))["archived_count"] == 1
    assert await contents(bob, include_read=True) == []
    assert await contents(carol) == ["news"]


@pytest.mark.parametrize("recipient", ["", "bad name!", "-bob", "x" * 65, "**"])
async def test_an_invalid_recipient_is_refused_and_nothing_is_stored(table, recipient):
    alice = await table.join("alice")
    await alice.refused("send_message", "invalid", recipient=recipient, content="hi")
    assert await alice.ok("get_audit_log", action="send_message") == []


@pytest.mark.parametrize("content", ["", "   \n", "x" * 10_001])
@pytest.mark.parametrize("tool", ["send_message", "broadcast"])
async def test_blank_or_over_long_content_is_refused_and_nothing_is_stored(table, tool, content):
    alice = await table.join("alice")
    bob = await table.join("bob")
    args = {"recipient": "bob"} if tool == "send_message" else {}
    await alice.refused(tool, "invalid", content=content, **args)
    assert await everything(bob) == []


async def test_content_of_exactly_ten_thousand_characters_is_accepted(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    await alice.ok("send_message", recipient="bob", content="x" * 10_000)
    assert len((await bob.ok("get_messages"))[0]["content"]) == 10_000


@pytest.mark.parametrize("tool", ["archive_message", "delete_message"])
async def test_a_third_member_may_not_archive_or_delete_a_direct_message(table, tool):
    alice = await table.join("alice")
    bob = await table.join("bob")
    carol = await table.join("carol")
    sent = await alice.ok("send_message", recipient="bob", content="private")
    await carol.refused(tool, "forbidden", message_id=sent["id"])
    assert await contents(bob) == ["private"]


@pytest.mark.parametrize("deleter", ["alice", "bob"])
async def test_the_sender_or_recipient_may_delete_a_direct_message_and_it_leaves_the_inbox(table, deleter):
    agents = {"alice": await table.join("alice"), "bob": await table.join("bob")}
    sent = await agents["alice"].ok("send_message", recipient="bob", content="oops")
    assert (await agents[deleter].ok("delete_message", message_id=sent["id"]))["id"] == sent["id"]
    assert await everything(agents["bob"]) == []


async def test_an_archived_message_leaves_the_inbox_and_include_archived_lists_it(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    sent = await alice.ok("send_message", recipient="bob", content="keep")
    assert (await bob.ok("archive_message", message_id=sent["id"]))["id"] == sent["id"]
    assert await contents(bob, include_read=True) == []
    archived = await bob.ok("get_messages", include_read=True, include_archived=True)
    assert [m["content"] for m in archived] == ["keep"]
    assert archived[0]["archived_at"]


async def test_clear_inbox_archives_everything_and_counts_it(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    for text in ("a", "b"):
        await alice.ok("send_message", recipient="bob", content=text)
    assert await bob.ok("clear_inbox") == {"archived_count": 2, "agent_name": "bob"}
    assert await contents(bob, include_read=True) == []
    assert await everything(bob) == ["a", "b"]


async def test_clear_inbox_filters_by_date_and_by_sender(table_with):
    clock = HandClock()
    async with table_with(clock=clock) as table:
        alice = await table.join("alice")
        bob = await table.join("bob")
        carol = await table.join("carol")
        await alice.ok("send_message", recipient="bob", content="old from alice")
        await carol.ok("send_message", recipient="bob", content="old from carol")
        clock.tick(hours=1)
        await alice.ok("send_message", recipient="bob", content="new from alice")
        cut = (clock.moment - timedelta(minutes=30)).isoformat()
        assert (await bob.ok("clear_inbox", before_date=cut, sender="alice"))["archived_count"] == 1
        assert await contents(bob) == ["old from carol", "new from alice"]
        await alice.ok("send_message", recipient="bob", content="later")
        assert (await bob.ok("clear_inbox", before_date=cut))["archived_count"] == 1
        assert (await bob.ok("clear_inbox", sender="alice"))["archived_count"] == 2
        assert await contents(bob, include_read=True) == []


async def test_clear_inbox_refuses_a_bad_sender_name(table):
    bob = await table.join("bob")
    await bob.refused("clear_inbox", "invalid", sender="bad name!")


@pytest.mark.parametrize("tool", ["clear_inbox", "purge_messages"])
async def test_a_bad_before_date_is_refused(table, tool):
    alice = await table.join("alice")
    bob = await table.join("bob")
    table.grant("bob", "admin")
    await alice.ok("send_message", recipient="bob", content="stays")
    await bob.refused(tool, "invalid", before_date="next tuesday")
    assert await contents(bob) == ["stays"]


async def test_purge_messages_is_for_admin_or_lead_only(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    await alice.ok("send_message", recipient="bob", content="stays")
    await alice.refused("purge_messages", "forbidden", before_date="2999-01-01")
    assert await contents(bob) == ["stays"]


@pytest.mark.parametrize("role", ["admin", "lead"])
async def test_purge_messages_deletes_everyones_older_messages(table_with, role):
    clock = HandClock()
    async with table_with(clock=clock) as table:
        alice = await table.join("alice")
        bob = await table.join("bob")
        await alice.ok("send_message", recipient="bob", content="old")
        await alice.ok("broadcast", content="old news")
        clock.tick(days=2)
        await alice.ok("send_message", recipient="bob", content="new")
        table.grant("alice", role)
        cut = (clock.moment - timedelta(days=1)).isoformat()
        assert await alice.ok("purge_messages", before_date=cut) == {"purged_count": 2, "before_date": cut}
        assert await everything(bob) == ["new"]


async def test_the_thirty_first_write_in_a_minute_is_refused_and_stores_nothing(table_with):
    clock = HandClock()
    async with table_with(clock=clock) as table:
        alice = await table.join("alice")
        bob = await table.join("bob")
        writes = [
            ("send_message", {"recipient": "bob", "content": "direct"}),
            ("broadcast", {"content": "all"}),
            ("create_task", {"title": "task"}),
            ("share_context", {"key": "k", "value": "v"}),
        ]
        for i in range(30):
            tool, args = writes[i % 4]
            await alice.ok(tool, **args)
            clock.tick(seconds=1)
        inbox_before = await everything(bob)
        tasks_before = await alice.ok("list_tasks")
        refusals = [
            await alice.refused("send_message", "rate_limited", recipient="bob", content="too many"),
            await alice.refused("broadcast", "rate_limited", content="too many"),
            await alice.refused("create_task", "rate_limited", title="too many"),
            await alice.refused("share_context", "rate_limited", key="extra", value="too many"),
        ]
        for refusal in refusals:
            assert isinstance(refusal["retry_after"], int | float) and 0 < refusal["retry_after"] <= 60
        assert await everything(bob) == inbox_before
        assert await alice.ok("list_tasks") == tasks_before
        await bob.refused("get_shared_context", "not_found", key="extra")
        await bob.ok("send_message", recipient="alice", content="bob has his own budget")


async def test_the_rate_limit_window_slides(table_with):
    clock = HandClock()
    async with table_with(clock=clock) as table:
        alice = await table.join("alice")
        await table.join("bob")
        for _ in range(30):
            await alice.ok("send_message", recipient="bob", content="x")
        refusal = await alice.refused("send_message", "rate_limited", recipient="bob", content="x")
        assert refusal["retry_after"] == pytest.approx(60, abs=1)
        clock.tick(seconds=61)
        await alice.ok("send_message", recipient="bob", content="x")
