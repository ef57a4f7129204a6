"""Hostile input at every edge of a real hub, on each engine: malformed numbers (a 5,000-digit id, '²', 2^64, a
sign) in URLs, headers, forms and tool arguments, and text holding NUL. Each is a clean refusal with a stable
code, nothing is changed, and the hub's log holds no traceback (checked when the hub stops)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import httpx2
import pytest

from dashboard_helpers import example_team, mint_people
from test_dashboard_routes import refusal, signed_in

from network_helpers import events_request, join_all, running_hub

pytestmark = [pytest.mark.anyio, pytest.mark.processes]

NUMBERS = ["9" * 5000, "²", "٣", str(2**64), "-1", "1.5", "0x10", "+7"]


def as_header(value: str) -> bytes:
    """A header value as a client may send it: one byte per character where it can (as servers read headers)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


@pytest.mark.one_engine  # refused at the HTTP edge, before any database work
async def test_malformed_numbers_in_urls_headers_and_forms_are_refused_and_never_answer_500(tmp_path: Path):
    people = mint_people()
    async with running_hub(tmp_path, example_team(people)) as hub, AsyncExitStack() as stack:
        (alice,) = await join_all(stack, hub, "alice")
        answers: dict[str, int] = {}
        forms: dict[str, str] = {}  # a refused form lands back on its page, which says why: the code it shows
        async with httpx2.AsyncClient(base_url=hub.url, follow_redirects=False, timeout=15) as anonymous:
            for raw in NUMBERS:
                for path in (f"/ui/tasks/{raw}", f"/ui/escalations/{raw}/resolve"):
                    answers[f"GET {path[:40]}"] = (await anonymous.get(path)).status_code
                    answers[f"POST {path[:40]}"] = (await anonymous.post(path, data={"csrf": "x"})).status_code
                url, headers, _ = events_request(hub.url, "alice", alice.token, last_event_id=raw)
                headers = {name: as_header(value) for name, value in headers.items()}
                answers[f"/events Last-Event-ID {raw[:20]}"] = (await anonymous.get(url, headers=headers)).status_code
                answers[f"/events ?last_event_id={raw[:20]}"] = (await anonymous.get(
                    url, headers={"Authorization": f"Bearer {alice.token}"},
                    params={"last_event_id": raw})).status_code
        async with signed_in(hub.url, people.boss) as (boss, csrf):
            for raw in NUMBERS:
                for path in (f"/ui/messages?thread={raw}", f"/ui/messages?all=1&before={raw}",
                             f"/ui/audit?before={raw}", f"/ui/tasks/{raw}"):
                    answers[f"signed in GET {path[:40]}"] = (await boss.get(path)).status_code
                forms[f"reply_to={raw[:20]}"] = (await refusal(boss, await boss.post("/ui/messages", data={
                    "csrf": csrf, "to": "alice", "content": "hi", "reply_to": raw})))[1]
                forms[f"/ui/tasks/{raw[:20]}/comment"] = (await refusal(boss, await boss.post(
                    f"/ui/tasks/{raw}/comment", data={"csrf": csrf, "text": "hi"})))[1]
            async with boss.stream("GET", "/ui/events", headers={b"Last-Event-ID": as_header("²")}) as live:
                answers["/ui/events Last-Event-ID ²"] = live.status_code
        broken = {what: status for what, status in answers.items() if status >= 500}
        assert broken == {}, broken
        refused = {what: status for what, status in answers.items() if what.startswith(("/events", "signed in"))}
        assert set(refused.values()) <= {400, 404}, refused
        assert set(forms.values()) == {"invalid"}, forms
        assert (await alice.ok("get_messages")) == []  # no refused form sent anything


@pytest.mark.one_engine  # refused by the tools' schemas, before any database work
async def test_malformed_numbers_in_tool_arguments_are_refused_as_invalid(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        (alice,) = await join_all(stack, hub, "alice")
        assert (await alice.call("register", name="bob", capabilities="[" * 5000)).code == "invalid"
        assert (await alice.call("register", name="bob", capabilities="[" * 500)).code == "invalid"
        for value in (2**64, -1, 0):
            assert (await alice.call("claim_task", task_id=value)).code == "invalid"
            assert (await alice.call("send_message", recipient="alice", content="x", reply_to=value)).code == \
                "invalid"
        # A number of 5,000 digits in the JSON itself, as a client could send it.
        call = ('{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "get_task", "arguments": '
                f'{{"task_id": {"9" * 5000}, "agent_name": "alice", "token": "{alice.token}"}}}}}}')
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": "2025-06-18"}
        async with httpx2.AsyncClient(timeout=15) as http:
            raw = await http.post(hub.url + "/mcp", content=call, headers=headers)
        assert raw.status_code < 500, raw.text[:300]
        assert (await alice.call("list_tasks")).is_error is False  # the hub serves on


async def test_text_with_a_nul_character_is_refused_as_invalid_everywhere_and_nothing_is_stored(tmp_path: Path):
    people = mint_people()
    async with running_hub(tmp_path, example_team(people)) as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        nul = "before\x00after"
        refused = {
            "send_message": await alice.call("send_message", recipient="bob", content=nul),
            "create_task": await alice.call("create_task", title=nul),
            "share_context value": await alice.call("share_context", key="notes", value=nul),
            "share_context key": await alice.call("share_context", key="no\x00tes", value="v"),
            "get_shared_context": await alice.call("get_shared_context", key="no\x00tes"),
            "clear_inbox": await alice.call("clear_inbox", sender=nul),
        }
        assert {tool: reply.code for tool, reply in refused.items()} == dict.fromkeys(refused, "invalid")
        async with signed_in(hub.url, people.boss) as (boss, csrf):
            page = await boss.post("/ui/messages", data={"csrf": csrf, "to": "bob", "content": nul})
            assert (await refusal(boss, page))[1] == "invalid"
        assert await bob.ok("get_messages") == []
        assert await alice.ok("list_tasks") == []
