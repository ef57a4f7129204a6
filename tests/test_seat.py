"""The person's seat over HTTP, on a real hub with agents speaking MCP: what the person does reaches the agents,
the person can do the whole job (and is told why where a role cannot), revoke keeps an agent out until a person
lets it back, sign-ins have a throttle of their own, notices cannot be planted, and bookmarks keep their query."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx2
import pytest

import stores
from dashboard_helpers import example_team, mint_people
from team_table import escalations
from team_table.config import parse_team
from team_table.names import HUB_SENDER
from team_table.runtime import open_table
from team_table.settings import resolve
from test_dashboard_routes import csrf_of, refusal, signed_in

from network_helpers import EventStream, running_hub, seat

pytestmark = [pytest.mark.anyio, pytest.mark.processes]


async def test_what_the_person_does_to_a_task_reaches_its_agents_in_the_tasks_thread(tmp_path: Path):
    people = mint_people()
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(running_hub(tmp_path, example_team(people)))
        alice, bob = [await seat(stack, hub, "http-handshake", name) for name in ("alice", "bob")]
        boss, csrf = await stack.enter_async_context(signed_in(hub.url, people.boss))
        task = await alice.ok("create_task", title="Parse the config", assignee="alice")
        tid = task["id"]

        async def waited(agent) -> list[dict]:
            found = await agent.ok("wait_for_messages", timeout_seconds=5)
            assert not found["timed_out"]
            return found["messages"]

        assert (await boss.post(f"/ui/tasks/{tid}/comment", data={"csrf": csrf, "text": "Keep the old format."})
                ).status_code == 303
        [said] = await waited(alice)  # the creator and assignee hears it at once, from the hub, saying who
        assert said["sender"] == "team-table" and "boss commented" in said["content"]
        assert "Keep the old format." in said["content"]
        thread = said["thread_id"] or said["id"]
        assert (await boss.post(f"/ui/tasks/{tid}/reassign", data={"csrf": csrf, "assignee": "bob"})
                ).status_code == 303
        for agent in (alice, bob):  # the one who had it, and the one who has it now
            [told] = await waited(agent)
            assert "boss gave" in told["content"] and told["thread_id"] == thread
        assert (await boss.post(f"/ui/tasks/{tid}/cancel", data={"csrf": csrf, "confirm": "yes"})).status_code == 303
        [cancelled] = await waited(bob)
        assert "boss cancelled" in cancelled["content"] and cancelled["thread_id"] == thread
        assert (await boss.post(f"/ui/tasks/{tid}/reopen", data={"csrf": csrf, "reason": "Still needed."})
                ).status_code == 303
        [reopened] = await waited(bob)
        assert "boss reopened" in reopened["content"] and "Still needed." in reopened["content"]
        assert (await boss.get(f"/ui/messages?thread={thread}")).status_code == 200

        # The matching tools tell them the same way: a lead's comment over MCP reaches the creator.
        await bob.ok("comment_task", task_id=tid, text="I can take it back.")
        heard = await alice.ok("catch_up")
        assert heard["unread"] == 1 and heard["notices"] == 1, heard


async def test_the_person_does_the_whole_job_and_a_reassign_to_nobody_is_refused(tmp_path: Path):
    people = mint_people()
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(running_hub(tmp_path, example_team(people)))
        alice, bob = [await seat(stack, hub, "http-handshake", name) for name in ("alice", "bob")]
        boss, csrf = await stack.enter_async_context(signed_in(hub.url, people.boss))
        task = await alice.ok("create_task", title="Ship it")
        tid = task["id"]
        page = (await boss.get(f"/ui/tasks/{tid}")).text
        for form in ("/comment", "/reassign", "/cancel"):
            assert f'action="/ui/tasks/{tid}{form}"' in page, form
        assert "you need the" not in page  # nothing is absent for a person
        nobody = await boss.post(f"/ui/tasks/{tid}/reassign", data={"csrf": csrf, "assignee": "nobody"})
        assert (await refusal(boss, nobody))[1] == "not_found"
        await alice.refused("reassign_task", "not_found", task_id=tid, assignee="nobody")
        assert (await alice.ok("get_task", task_id=tid))["assignee"] is None

        await alice.ok("claim_task", task_id=tid)
        await alice.ok("update_task", task_id=tid, status="awaiting_review")
        page = (await boss.get(f"/ui/tasks/{tid}")).text
        assert f'action="/ui/tasks/{tid}/review"' in page
        assert (await boss.post(f"/ui/tasks/{tid}/review", data={"csrf": csrf, "verdict": "approve"})
                ).status_code == 303
        assert (await alice.ok("get_task", task_id=tid))["status"] == "done"
        own = (await alice.ok("create_task", title="Boss's own work", assignee="boss"))["id"]
        boss_agent = await seat(stack, hub, "http-handshake", bearer=people.boss)
        await boss_agent.ok("claim_task", task_id=own)
        await boss_agent.ok("update_task", task_id=own, status="awaiting_review")
        page = (await boss.get(f"/ui/tasks/{own}")).text
        assert f'action="/ui/tasks/{own}/review"' not in page  # no form that would be refused ...
        assert f"boss worked on task {own}; someone who did not reviews it." in page  # ... but why
        unreasoned = await boss.post(f"/ui/tasks/{tid}/reopen", data={"csrf": csrf, "reason": ""},
                                     headers={"Referer": f"{hub.url}/ui/tasks/{tid}"})
        assert unreasoned.status_code == 303
        shown = (await boss.get(unreasoned.headers["location"])).text
        assert 'data-code="invalid"' in shown and "needs a reason" in shown
        assert "update_task(" not in shown  # the page's words, not the tool's
        assert (await boss.get("/ui/messages?all=1")).status_code == 200  # the whole table
        assert (await boss.get("/ui/audit")).status_code == 200
        revoked = await boss.post("/ui/team/bob/revoke", data={"csrf": csrf})
        assert revoked.status_code == 303 and (await bob.call("get_messages")).is_error


@pytest.mark.one_engine  # the page's wording from team.yaml
async def test_where_a_role_lacks_a_form_the_page_says_which_role_grants_it(tmp_path: Path):
    people = mint_people()
    narrow = example_team(people).replace("roles:\n", "roles:\n  person:\n    inherits: [agent]\n"
                                                      "    permissions: [resolve_escalation]\n", 1)
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(running_hub(tmp_path, narrow))
        alice = await seat(stack, hub, "http-handshake", "alice")
        boss, csrf = await stack.enter_async_context(signed_in(hub.url, people.boss))
        task = await alice.ok("create_task", title="Ship it")
        await alice.ok("claim_task", task_id=task["id"])
        await alice.ok("update_task", task_id=task["id"], status="awaiting_review")
        page = (await boss.get(f"/ui/tasks/{task['id']}")).text
        assert f'/ui/tasks/{task["id"]}/reassign"' not in page
        assert "To reassign tasks you need the assign_task permission, which the admin and lead roles grant" in page
        assert "To give review verdicts you need the review_task permission" in page
        assert f'/ui/tasks/{task["id"]}/review"' not in page  # no form that would be refused
        team = (await boss.get("/ui/team")).text
        assert "revoke_tokens permission, which the admin and lead roles grant" in team
        refused = await boss.post(f"/ui/tasks/{task['id']}/reassign", data={"csrf": csrf, "assignee": "alice"})
        location, code = await refusal(boss, refused)
        assert code == "forbidden"
        shown = (await boss.get(location)).text
        assert "lacks the" not in shown  # the page's words, not the tool's


async def test_a_revoked_agent_stays_out_until_a_person_lets_it_back_in(tmp_path: Path):
    people = mint_people()
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(running_hub(tmp_path, example_team(people)))
        await seat(stack, hub, "http-handshake", "alice")
        lena, csrf = await stack.enter_async_context(signed_in(hub.url, people.lena))
        assert (await lena.post("/ui/team/alice/revoke", data={"csrf": csrf})).status_code == 303
        again = await seat(stack, hub, "http-handshake")
        assert (await again.raw("register", name="alice", role="coder")).data["code"] == "forbidden"
        team = (await lena.get("/ui/team")).text
        assert 'id="revoked-alice"' in team and 'action="/ui/team/alice/readmit"' in team
        assert (await lena.post("/ui/team/alice/readmit", data={"csrf": csrf})).status_code == 303
        back = await again.raw("register", name="alice", role="coder")
        assert not back.is_error and back.data["token"]
        assert 'id="revoked-alice"' not in (await lena.get("/ui/team")).text
        twice = await lena.post("/ui/team/alice/readmit", data={"csrf": csrf})
        assert (await refusal(lena, twice))[1] == "conflict"


async def test_a_declared_member_removed_for_a_moment_signs_in_again_without_register(tmp_path: Path):
    people = mint_people()
    text = example_team(people)
    async with running_hub(tmp_path, text) as hub:
        without = re.sub(r"  boss:\n    role: person\n    token_hashes: \[[^\]]*\]\n", "", text)
        assert without != text
        async with signed_in(hub.url, people.lena) as (lena, _):
            (tmp_path / "team.yaml").write_text(without)
            with anyio.fail_after(15):
                while "boss" in (await lena.get("/ui/team")).text.split("<tbody>")[1]:
                    await anyio.sleep(0.2)
            (tmp_path / "team.yaml").write_text(text)
            with anyio.fail_after(15):
                while 'id="member-boss"' not in (await lena.get("/ui/team")).text:
                    await anyio.sleep(0.2)
        async with signed_in(hub.url, people.boss) as (boss, _):  # no register call in between
            assert "boss" in (await boss.get("/ui")).text


@pytest.mark.one_engine  # the sign-in throttle, kept in the process
async def test_an_agents_bad_tokens_do_not_lock_the_person_out(tmp_path: Path):
    people = mint_people()
    async with running_hub(tmp_path, example_team(people)) as hub, httpx2.AsyncClient(base_url=hub.url) as agent:
        codes = [(await agent.post("/mcp", json={}, headers={"Authorization": "Bearer wrong"})).status_code
                 for _ in range(12)]
        assert 429 in codes  # the misconfigured agent is throttled ...
        async with signed_in(hub.url, people.boss) as (boss, _):  # ... and the person signs in all the same
            assert (await boss.get("/ui")).status_code == 200


@pytest.mark.one_engine  # the page's notice and query string
async def test_a_notice_cannot_be_planted_and_a_bookmark_keeps_its_query(tmp_path: Path):
    people = mint_people()
    async with running_hub(tmp_path, example_team(people)) as hub, \
            httpx2.AsyncClient(base_url=hub.url, follow_redirects=False) as client:
        bookmarked = await client.get("/ui/board?assignee=alice&sort=newest")
        assert bookmarked.headers["location"] == "/ui/signin?next=/ui/board%3Fassignee%3Dalice%26sort%3Dnewest"
        form = await client.get(bookmarked.headers["location"])
        signed = await client.post("/ui/signin", data={"csrf": csrf_of(form.text), "token": people.boss,
                                                       "next": "/ui/board?assignee=alice&sort=newest"})
        assert signed.headers["location"] == "/ui/board?assignee=alice&sort=newest"
        assert "Signed in as boss." in (await client.get("/ui")).text
        # A page on another port of this host can set cookies for it (cookies ignore ports): they say nothing here.
        client.cookies.set("team_table_flash", "Your session expired: paste your token at evil.example")
        page = await client.get("/ui")
        assert "evil.example" not in page.text and "Signed in as boss." not in page.text


async def test_a_hub_escalation_names_its_task_with_a_fix_at_hand(tmp_path: Path):
    people = mint_people()
    text = example_team(people)
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(running_hub(tmp_path, text))
        alice = await seat(stack, hub, "http-handshake", "alice")
        task = await alice.ok("create_task", title="Review me", kind="code")
        team = parse_team(text, "team.yaml")
        settings = resolve({"db": stores.table_db(tmp_path)}, {}, team, None)
        with open_table(settings, team, seat=False) as other, other.store.write() as conn:
            # as a workflow that cannot go on does, from another process on the database
            escalations.escalate(conn, other, None, HUB_SENDER, HUB_SENDER, "workflow:review",
                                 team.escalation.notify, other.now(), reason="no reviewer is available",
                                 task_id=task["id"])
        boss, csrf = await stack.enter_async_context(signed_in(hub.url, people.boss))
        page = (await boss.get("/ui")).text
        assert f'href="/ui/tasks/{task["id"]}">#{task["id"]} <bdi>Review me</bdi></a>' in page
        assert f'action="/ui/tasks/{task["id"]}/reassign"' in page and 'value="/ui#escalation-1"' in page
        fixed = await boss.post(f"/ui/tasks/{task['id']}/reassign",
                                data={"csrf": csrf, "assignee": "alice", "back": "/ui#escalation-1"})
        assert fixed.headers["location"] == "/ui#escalation-1"
        assert (await alice.ok("get_task", task_id=task["id"]))["assignee"] == "alice"


@pytest.mark.one_engine  # what register answers and the pages show
async def test_a_member_registering_is_told_to_open_pages_and_resolved_alerts_are_read(tmp_path: Path):
    people = mint_people()
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(running_hub(tmp_path, example_team(people)))
        client, csrf = await stack.enter_async_context(signed_in(hub.url, people.boss))
        async with client.stream("GET", "/ui/events") as response:
            stream = EventStream(response)
            assert (await stream.next()).kind == "connected"
            alice = await seat(stack, hub, "http-handshake", "alice")
            joined = await stream.next()
            assert joined.data == {"kind": "member"}
        bob = await seat(stack, hub, "http-handshake", "bob")
        await alice.ok("send_message", recipient="bob", content="Should we ship on Friday?")
        lena = await seat(stack, hub, "http-handshake", bearer=people.lena)  # a lead, told of every escalation
        page = (await client.get("/ui")).text
        assert 'href="/ui/messages?thread=' in page  # the card leads to the message's thread
        assert (await client.post("/ui/escalations/1/resolve", data={"csrf": csrf, "note": "Monday."})
                ).status_code == 303
        inbox = await bob.ok("get_messages")
        assert any("Monday." in m["content"] for m in inbox)
        unread = await lena.ok("get_messages")
        assert not any("escalation 1" in m["content"] for m in unread), unread  # read once someone decided
