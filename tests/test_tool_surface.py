"""The tool surface, in both protocol eras: every tool is listed with its schema, answers one JSON document in one
text item, and refuses with isError and a stable code. (Behaviour behind the tools is tested once, in the era
today's clients speak.)"""

from __future__ import annotations

import json

import pytest

from stdio_helpers import TOOLS

pytestmark = [pytest.mark.anyio, pytest.mark.both_eras]

HUB_TOOLS = TOOLS | {"list_escalations", "resolve_escalation", "get_task", "comment_task", "next_task",
                     "review_task", "reassign_task", "cancel_task", "wait_for_messages", "get_thread", "catch_up",
                     "message_status", "reserve_paths", "release_paths", "list_reservations", "watch_paths",
                     "break_reservation", "ask", "answer_question"}


async def test_every_tool_is_listed_with_a_description_and_an_object_schema(table):
    agent = await table.connect()
    listed = {tool.name: tool for tool in (await agent.client.list_tools()).tools}
    assert set(listed) == HUB_TOOLS
    for name, tool in listed.items():
        assert tool.description and tool.input_schema["type"] == "object", name
        assert "ctx" not in tool.input_schema.get("properties", {}), name


async def test_every_tool_answers_one_json_document_and_refuses_with_a_code(table):
    lead, bob = await table.join("lead"), await table.join("bob", role="reviewer")
    table.grant("lead", "lead")
    task = await lead.ok("create_task", title="surface", assignee="lead")
    sent = await lead.ok("send_message", recipient="bob", content="hi")
    calls = [  # (tool, arguments, who, expected refusal code or None for success)
        ("list_members", {}, lead, None), ("heartbeat", {}, lead, None),
        ("get_messages", {}, bob, None), ("broadcast", {"content": "all"}, lead, None),
        ("archive_message", {"message_id": sent["id"]}, bob, None),
        ("delete_message", {"message_id": 999}, bob, "not_found"),
        ("clear_inbox", {}, bob, None), ("purge_messages", {"before_date": "2000-01-01"}, lead, None),
        ("list_tasks", {}, lead, None), ("get_task", {"task_id": task["id"]}, lead, None),
        ("claim_task", {"task_id": task["id"]}, lead, None),
        ("comment_task", {"task_id": task["id"], "text": "going"}, lead, None),
        ("update_task", {"task_id": task["id"], "status": "nonsense"}, lead, "invalid"),
        ("update_task", {"task_id": task["id"], "status": "awaiting_review"}, lead, None),
        ("review_task", {"task_id": task["id"], "approve": True}, bob, None),
        ("reassign_task", {"task_id": task["id"], "assignee": "bob"}, lead, "conflict"),
        ("cancel_task", {"task_id": task["id"]}, bob, "forbidden"),
        ("next_task", {}, bob, None), ("share_context", {"key": "k", "value": "v"}, lead, None),
        ("get_shared_context", {"key": "k"}, lead, None), ("get_audit_log", {"limit": 3}, lead, None),
        ("list_escalations", {}, bob, "forbidden"),
        ("resolve_escalation", {"escalation_id": 1, "note": "x"}, lead, "not_found"),
        ("ask", {"question": "Ship?"}, lead, "not_found"),  # nobody but the asker may answer
        ("answer_question", {"question_id": 1, "answer": "yes"}, bob, "forbidden"),
        ("reserve_paths", {"paths": ["src/**"]}, lead, None), ("reserve_paths", {"paths": ["src/a.py"]}, bob,
                                                                                 "conflict"),
        ("watch_paths", {"paths": ["src/a.py"]}, bob, None), ("list_reservations", {"path": "src"}, bob, None),
        ("break_reservation", {"reservation_id": 1, "reason": "r"}, bob, "forbidden"),
        ("release_paths", {}, lead, None), ("reserve_paths", {"paths": ["/etc"]}, bob, "invalid"),
        ("send_message", {"recipient": "bob", "content": ""}, lead, "invalid"),
        ("deregister", {}, bob, None), ("heartbeat", {}, bob, "unauthorized"),
    ]
    for tool, args, who, code in calls:
        reply = await who.call(tool, **args)
        assert isinstance(reply.data, (dict, list)), tool
        if code is None:
            assert not reply.is_error, (tool, reply.data)
        else:
            data = reply.data
            assert reply.is_error and isinstance(data, dict) and data["code"] == code and data["error"], (tool, data)
    raw = await lead.client.call_tool("list_members", {"agent_name": "lead", "token": lead.token})
    assert len(raw.content) == 1 and isinstance(json.loads(raw.content[0].text), list)


async def test_arguments_of_the_wrong_type_or_name_are_invalid_refusals(table):
    alice = await table.join("alice")
    for tool, args in (("claim_task", {"task_id": "one"}), ("claim_task", {"task_id": 2**63}),
                       ("get_audit_log", {"limit": 0}), ("create_task", {"title": "t", "asignee": "bob"})):
        await alice.refused(tool, "invalid", **args)
    unknown = await alice.raw("no_such_tool")
    assert unknown.is_error and unknown.code == "not_found"
