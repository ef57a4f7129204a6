"""The task model workflows build on: kinds, trees, dependencies, reviews, comments, next_task, cancel."""

from __future__ import annotations

import anyio
import pytest

pytestmark = pytest.mark.anyio


async def test_a_task_carries_kind_parent_dependencies_reviewer_and_labels(table):
    lead = await table.join("lead")
    parent = await lead.ok("create_task", title="feature")
    first = await lead.ok("create_task", title="schema", parent_id=parent["id"])
    task = await lead.ok("create_task", title="parser", kind="code", parent_id=parent["id"],
                         depends_on=[first["id"]], reviewer="rita", labels=["backend", "p1"])
    assert (task["kind"], task["parent_id"], task["depends_on"], task["reviewer"], task["labels"]) == \
        ("code", parent["id"], [first["id"]], "rita", ["backend", "p1"])
    for key in ("id", "title", "description", "status", "priority", "creator", "assignee", "result"):
        assert key in task  # the 0.2.1 keys stay
    await lead.refused("create_task", "not_found", title="orphan", parent_id=999)
    await lead.refused("create_task", "not_found", title="waits on nothing", depends_on=[999])


async def test_a_task_is_not_claimable_until_its_dependencies_are_done(table):
    lead = await table.join("lead")
    coder = await table.join("coder")
    first = await lead.ok("create_task", title="schema")
    second = await lead.ok("create_task", title="parser", depends_on=[first["id"]])
    refusal = await coder.refused("claim_task", "conflict", task_id=second["id"])
    assert str(first["id"]) in refusal["error"]
    await coder.ok("claim_task", task_id=first["id"])
    await coder.ok("update_task", task_id=first["id"], status="done")
    assert (await coder.ok("claim_task", task_id=second["id"]))["status"] == "in_progress"


async def test_next_task_takes_the_reserved_then_the_most_urgent_then_the_oldest_fitting_task(table):
    lead = await table.join("lead")
    coder = await table.join("coder", role="coder", capabilities='["python"]')
    await lead.ok("create_task", title="a review", kind="review", priority="high")  # not for a coder
    low = await lead.ok("create_task", title="old low", priority="low")
    high = await lead.ok("create_task", title="python high", kind="python", priority="high")
    mine = await lead.ok("create_task", title="reserved", assignee="coder", priority="low")
    blocked_by = await lead.ok("create_task", title="first", priority="low", assignee="lead")
    await lead.ok("create_task", title="waits", priority="high", depends_on=[blocked_by["id"]])
    order = [(await coder.ok("next_task"))["id"] for _ in range(3)]
    assert order == [mine["id"], high["id"], low["id"]]
    nothing = await coder.ok("next_task")  # an empty queue is an answer, not a failure
    assert nothing["task"] is None and nothing["reason"]


async def test_next_task_gives_one_task_to_one_of_many_agents_at_once(table):
    lead = await table.join("lead")
    agents = [await table.join(f"agent{n}") for n in range(6)]
    task = await lead.ok("create_task", title="only one")
    replies = []

    async def grab(agent):
        replies.append(await agent.call("next_task"))

    async with anyio.create_task_group() as group:
        for agent in agents:
            group.start_soon(grab, agent)
    assert not any(r.is_error for r in replies)
    winners = [r.data for r in replies if r.data.get("id") is not None]
    assert len(winners) == 1 and winners[0]["id"] == task["id"]
    assert all(r.data == {"task": None, "reason": r.data["reason"]} for r in replies if r.data is not winners[0])


async def test_review_approves_or_sends_back_with_a_note_and_only_the_named_reviewer_may(table):
    lead = await table.join("lead")
    coder = await table.join("coder", role="coder")
    rita = await table.join("rita", role="reviewer")
    rob = await table.join("rob", role="reviewer")
    task = await lead.ok("create_task", title="parser", reviewer="rita", assignee="coder")
    await coder.ok("claim_task", task_id=task["id"])
    await rita.refused("review_task", "conflict", task_id=task["id"], approve=True)  # not awaiting review
    await coder.ok("update_task", task_id=task["id"], status="awaiting_review")
    await rob.refused("review_task", "forbidden", task_id=task["id"], approve=True)
    await coder.refused("review_task", "forbidden", task_id=task["id"], approve=True)  # no review_task permission
    await rita.refused("review_task", "invalid", task_id=task["id"], approve=False)  # a rejection needs a note
    back = await rita.ok("review_task", task_id=task["id"], approve=False, note="handle empty input")
    assert back["status"] == "in_progress" and back["assignee"] == "coder"
    await coder.ok("update_task", task_id=task["id"], status="awaiting_review")
    assert (await rita.ok("review_task", task_id=task["id"], approve=True))["status"] == "done"
    story = await coder.ok("get_task", task_id=task["id"])
    assert [c["text"] for c in story["comments"]] == ["Changes requested: handle empty input"]
    assert [h["action"] for h in story["history"]].count("review_task") == 2


async def test_an_author_cannot_review_their_own_work(table):
    lead = await table.join("lead")
    rita = await table.join("rita", role="reviewer")
    task = await lead.ok("create_task", title="self review")
    await rita.ok("claim_task", task_id=task["id"])
    await rita.ok("update_task", task_id=task["id"], status="awaiting_review")
    await rita.refused("review_task", "forbidden", task_id=task["id"], approve=True)


async def test_cancel_takes_the_subtree_and_leaves_done_work_done(table):
    lead = await table.join("lead")
    other = await table.join("other")
    root = await lead.ok("create_task", title="root")
    done = await lead.ok("create_task", title="done child", parent_id=root["id"])
    await lead.ok("update_task", task_id=done["id"], status="done")
    child = await lead.ok("create_task", title="child", parent_id=root["id"])
    grandchild = await lead.ok("create_task", title="grandchild", parent_id=child["id"])
    await other.refused("cancel_task", "forbidden", task_id=root["id"])
    cancelled = await lead.ok("cancel_task", task_id=root["id"])
    assert sorted(t["id"] for t in cancelled) == sorted([root["id"], child["id"], grandchild["id"]])
    board = {t["id"]: t["status"] for t in await lead.ok("list_tasks")}
    assert board[done["id"]] == "done" and board[grandchild["id"]] == "cancelled"


async def test_reassign_and_comment_and_get_task_tell_the_whole_story(table):
    lead = await table.join("lead")
    ann = await table.join("ann")
    ben = await table.join("ben")
    parent = await lead.ok("create_task", title="parent")
    task = await lead.ok("create_task", title="job", parent_id=parent["id"], assignee="ann")
    await ben.refused("reassign_task", "forbidden", task_id=task["id"], assignee="ben")
    moved = await lead.ok("reassign_task", task_id=task["id"], assignee="ben")
    assert moved["assignee"] == "ben"
    await ann.ok("comment_task", task_id=task["id"], text="ben knows this code better")
    await ann.refused("comment_task", "invalid", task_id=task["id"], text="  ")
    await ann.refused("comment_task", "not_found", task_id=999, text="lost")
    story = await ben.ok("get_task", task_id=parent["id"])
    assert [c["id"] for c in story["children"]] == [task["id"]]
    detail = await ben.ok("get_task", task_id=task["id"])
    assert detail["comments"][0]["author"] == "ann"
    assert [h["action"] for h in detail["history"]] == ["create_task", "reassign_task", "comment_task"]
