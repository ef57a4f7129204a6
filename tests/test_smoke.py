import pytest

pytestmark = [pytest.mark.anyio, pytest.mark.both_eras]


async def test_two_agents_exchange_a_message_and_claim_a_task(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    await alice.ok("send_message", recipient="bob", content="hello bob")
    inbox = await bob.ok("get_messages")
    assert [m["content"] for m in inbox] == ["hello bob"]
    task = await alice.ok("create_task", title="write the parser")
    claimed = await bob.ok("claim_task", task_id=task["id"])
    assert claimed["status"] == "in_progress" and claimed["assignee"] == "bob"
