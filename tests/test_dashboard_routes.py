"""Every dashboard route and refusal over HTTP, against a real hub: the session cookie, CSRF, the headers of every
page, authorization as the matching tool's, the audit, and sessions that end when the member's standing does."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest

import stores
from answers import found
from dashboard_helpers import copy_workflows, example_team, mint_people
from team_table import members, tokens
from team_table.config import parse_team
from team_table.runtime import open_table
from team_table.settings import resolve
from team_table.ui import sessions

from conftest import ManualClock
from network_helpers import EventStream, running_hub, seat

pytestmark = pytest.mark.anyio

PAGES = ["/ui", "/ui/board", "/ui/team", "/ui/messages", "/ui/workflows", "/ui/audit"]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def refusal(client: httpx2.AsyncClient, answer: httpx2.Response) -> tuple[str, str]:
    """A refused action lands on a GET page (never on the POST): where, and the refusal's code shown there."""
    assert answer.status_code == 303, (answer.status_code, answer.text[:300])
    page = await client.get(answer.headers["location"])
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'class="flash refusal" role="alert" data-code="([a-z_]+)"', page.text)
    assert found, page.text[:2000]
    return answer.headers["location"], found.group(1)


@asynccontextmanager
async def signed_in(url: str, token: str) -> AsyncIterator[tuple[httpx2.AsyncClient, str]]:
    """A client holding a dashboard session for `token`, and the session's CSRF token."""
    async with httpx2.AsyncClient(base_url=url, follow_redirects=False, timeout=15) as client:
        form = await client.get("/ui/signin")
        answer = await client.post("/ui/signin", data={"csrf": csrf_of(form.text), "token": token, "next": "/ui"})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui", answer.text
        page = await client.get("/ui")
        assert page.status_code == 200
        yield client, csrf_of(page.text)


@pytest.mark.one_engine  # cookies and the sign-in's refusals: the HTTP edge
@pytest.mark.processes
async def test_signing_in_sets_only_a_session_cookie_and_refuses_the_rest(tmp_path: Path):
    people = mint_people()
    async with running_hub(tmp_path, example_team(people)) as hub, \
            httpx2.AsyncClient(base_url=hub.url, follow_redirects=False) as anonymous:
        for path in [*PAGES, "/ui/tasks/1"]:
            answer = await anonymous.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/signin"), path
        assert (await anonymous.get("/ui/board")).headers["location"] == "/ui/signin?next=/ui/board"

        form = await anonymous.get("/ui/signin")
        assert form.status_code == 200 and "default-src 'none'" in form.headers["content-security-policy"]
        token = csrf_of(form.text)
        no_csrf = await anonymous.post("/ui/signin", data={"token": people.boss})
        assert no_csrf.status_code == 401 and "CSRF" in no_csrf.text
        assert "team_table_session" not in no_csrf.headers.get("set-cookie", "")
        wrong = await anonymous.post("/ui/signin", data={"csrf": token, "token": "nope"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        agent = await anonymous.post("/ui/signin", data={"csrf": token, "token": people.dan})
        assert agent.status_code == 403 and "for the people at the table" in agent.text
        for elsewhere in ("https://evil.example/ui", "/ui/..//evil.example/x", "/ui\\..\\x", "//evil.example"):
            anonymous.cookies.clear()  # signed out again, and each sign-in uses up its form's token
            token = csrf_of((await anonymous.get("/ui/signin")).text)
            away = await anonymous.post("/ui/signin", data={"csrf": token, "token": people.boss, "next": elsewhere})
            assert away.status_code == 303 and away.headers["location"] == "/ui", elsewhere  # never elsewhere
        anonymous.cookies.clear()
        token = csrf_of((await anonymous.get("/ui/signin")).text)
        other_port = await anonymous.post("/ui/signin", data={"csrf": token, "token": people.boss},
                                          headers={"Origin": "http://127.0.0.1:3000"})
        assert other_port.status_code == 403  # a page on another port of this machine may not sign anyone in
        cookie = next(v for k, v in away.headers.multi_items() if k == "set-cookie" and "team_table_session" in v)
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert people.boss not in cookie and people.boss not in hub.log_text()

        async with signed_in(hub.url, people.boss) as (client, csrf):
            for path in PAGES:
                page = await client.get(path)
                assert page.status_code == 200, (path, page.text[:300])
                assert page.headers["x-frame-options"] == "DENY"
                assert page.headers["referrer-policy"] == "same-origin"
                assert page.headers["x-content-type-options"] == "nosniff"
                assert page.headers["cache-control"] == "no-store"
                assert "script-src 'self'" in page.headers["content-security-policy"]
                assert "<script>" not in page.text and " on" not in re.sub(r"\s+", " ", "".join(
                    re.findall(r"<[a-z]+ [^>]*>", page.text))).replace(" one", "")  # no inline script or handlers
            static = await client.get("/ui/static/ui.js")
            assert static.status_code == 200 and static.headers["x-content-type-options"] == "nosniff"
            assert (await client.get("/ui/static/live-worker.js")).status_code == 200

            foreign = await client.post("/ui/messages", data={"csrf": csrf, "to": "bob", "content": "hi"},
                                        headers={"Origin": "https://evil.example"})
            assert foreign.status_code == 403  # the hub's Origin check, as on every route
            rebinding = await client.get("/ui", headers={"Host": "evil.example"})
            assert rebinding.status_code == 421

            out = await client.post("/ui/signout", data={"csrf": csrf})
            assert out.status_code == 303 and out.headers["location"] == "/ui/signin"
            assert (await client.get("/ui")).status_code == 303  # the session is gone from the hub too

        throttled = httpx2.AsyncClient(base_url=hub.url, follow_redirects=False)
        async with throttled:
            form = await throttled.get("/ui/signin")
            codes = [(await throttled.post("/ui/signin", data={"csrf": csrf_of(form.text), "token": f"guess{n}"}))
                     .status_code for n in range(11)]
            assert 429 in codes and set(codes[:codes.index(429)]) == {401}  # ten guesses a minute (one above)
            assert codes.index(429) == 9


@pytest.mark.processes
async def test_every_action_is_authorized_audited_and_guarded_by_csrf(tmp_path: Path):
    people = mint_people()
    copy_workflows(tmp_path)
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(running_hub(tmp_path, example_team(people)))
        alice, bob = [await seat(stack, hub, "http-handshake", name) for name in ("alice", "bob")]
        boss, boss_csrf = await stack.enter_async_context(signed_in(hub.url, people.boss))
        lena, lena_csrf = await stack.enter_async_context(signed_in(hub.url, people.lena))
        task = await alice.ok("create_task", title="Ship it", kind="code")
        await alice.ok("send_message", recipient="bob", content="Should we ship on Friday?")
        posts = {
            "/ui/escalations/1/resolve": {"note": "Not on a Friday."},
            f"/ui/tasks/{task['id']}/comment": {"text": "ok"},
            f"/ui/tasks/{task['id']}/reassign": {"assignee": "bob"},
            f"/ui/tasks/{task['id']}/cancel": {"confirm": "yes"},
            f"/ui/tasks/{task['id']}/reopen": {"reason": "x"},
            f"/ui/tasks/{task['id']}/review": {"verdict": "approve"},
            "/ui/team/alice/revoke": {},
            "/ui/messages": {"to": "alice", "content": "hello"},
        }
        for path, form in posts.items():  # without the CSRF token, or with another session's: refused
            for csrf in (None, lena_csrf):
                answer = await boss.post(path, data={**form, **({"csrf": csrf} if csrf else {})})
                assert answer.status_code == 401 and "CSRF" in answer.text, (path, answer.status_code)
        assert [m for m in await alice.ok("get_messages") if m["sender"] == "boss"] == []
        assert (await alice.ok("get_task", task_id=task["id"]))["comments"] == []

        # As the matching tool: a person may not revoke an admin (a privileged role the person lacks)...
        refused = await boss.post("/ui/team/root/revoke", data={"csrf": boss_csrf},
                                  headers={"Referer": hub.url + "/ui/team"})
        assert await refusal(boss, refused) == ("/ui/team", "forbidden")
        assert (await lena.get("/ui/team/..%5Cescalations%5C1%5Cresolve%3F/revoke")).status_code == 400
        assert (await lena.get("/ui/team/nobody/revoke")).status_code == 404
        # ... and may decide escalations (with a decision), comment and write.
        empty = await boss.post("/ui/escalations/1/resolve", data={"csrf": boss_csrf, "note": " "},
                                headers={"Referer": hub.url + "/ui"})
        assert await refusal(boss, empty) == ("/ui", "invalid")
        done = await boss.post("/ui/escalations/1/resolve", data={"csrf": boss_csrf, "note": "Not on a Friday."})
        assert done.status_code == 303 and done.headers["location"] == "/ui"
        assert "Escalation 1 resolved" in (await boss.get("/ui")).text  # the notice, shown once
        assert "Escalation 1 resolved" not in (await boss.get("/ui")).text
        again = await boss.post("/ui/escalations/1/resolve", data={"csrf": boss_csrf, "note": "again"})
        assert (await refusal(boss, again))[1] == "conflict"
        assert (await boss.post(f"/ui/tasks/{task['id']}/comment", data={"csrf": boss_csrf, "text": "ok"})
                ).status_code == 303
        blank = await boss.post(f"/ui/tasks/{task['id']}/comment", data={"csrf": boss_csrf, "text": ""},
                                headers={"Referer": f"{hub.url}/ui/tasks/{task['id']}"})
        assert await refusal(boss, blank) == (f"/ui/tasks/{task['id']}", "invalid")
        sent = await boss.post("/ui/messages", data={"csrf": boss_csrf, "to": "role:tester", "content": "x"})
        location, code = await refusal(boss, sent)
        assert code == "not_found"
        nobody = await boss.post("/ui/messages", data={"csrf": boss_csrf, "to": "", "content": "x"})
        assert (await refusal(boss, nobody))[1] == "invalid"
        everyone = await boss.post("/ui/messages", data={"csrf": boss_csrf, "to": "*", "content": "standup at 10"})
        assert everyone.status_code == 303
        assert [m["content"] for m in await alice.ok("get_messages")][-1] == "standup at 10"

        # A lead: reassign, review, cancel (with its confirmation), reopen with a reason, revoke.
        tid = task["id"]
        assert (await lena.post(f"/ui/tasks/{tid}/reassign", data={"csrf": lena_csrf, "assignee": "bob"})
                ).status_code == 303
        unconfirmed = await lena.post(f"/ui/tasks/{tid}/cancel", data={"csrf": lena_csrf})
        assert (await refusal(lena, unconfirmed))[1] == "invalid"
        assert (await alice.ok("get_task", task_id=tid))["status"] == "pending"
        assert (await lena.post(f"/ui/tasks/{tid}/cancel", data={"csrf": lena_csrf, "confirm": "yes"})
                ).status_code == 303
        assert (await refusal(lena, await lena.post(f"/ui/tasks/{tid}/reopen", data={"csrf": lena_csrf,
                                                                                      "reason": ""})))[1] == "invalid"
        assert (await lena.post(f"/ui/tasks/{tid}/reopen", data={"csrf": lena_csrf, "reason": "still needed"})
                ).status_code == 303
        await bob.ok("claim_task", task_id=tid)
        await bob.ok("update_task", task_id=tid, status="awaiting_review")
        bad = await lena.post(f"/ui/tasks/{tid}/review", data={"csrf": lena_csrf, "verdict": "maybe"})
        assert (await refusal(lena, bad))[1] == "invalid"
        assert (await lena.post(f"/ui/tasks/{tid}/review", data={"csrf": lena_csrf, "verdict": "rework",
                                                                  "note": "tests?"})).status_code == 303
        assert (await alice.ok("get_task", task_id=tid))["status"] == "in_progress"
        assert (await lena.get("/ui/messages?all=1")).status_code == 200
        assert (await lena.get(f"/ui/tasks/{tid}")).status_code == 200
        assert (await lena.get("/ui/tasks/999")).status_code == 404
        assert (await lena.get(f"/ui/tasks/{2**63}")).status_code == 400
        assert (await lena.get("/ui/audit?since=yesterday")).status_code == 400
        confirm = await lena.get("/ui/team/alice/revoke")
        assert confirm.status_code == 200 and "Revoke alice" in confirm.text
        assert (await refusal(lena, await lena.post("/ui/team/root/revoke", data={"csrf": lena_csrf})))[1] \
            == "forbidden"  # an admin
        assert (await lena.post("/ui/team/alice/revoke", data={"csrf": lena_csrf})).status_code == 303
        assert (await alice.call("get_messages")).is_error

        log = await lena.get("/ui/audit?agent=lena")
        for action in ("sign_in", "reassign_task", "cancel_task", "review_task", "revoke_tokens"):
            assert action in log.text, action
        newest = int(found(r"<tr><td>(\d+)</td>", (await lena.get("/ui/audit")).text).group(1))
        page = await lena.get(f"/ui/audit?before={newest}")  # paging: the entries older than one
        assert page.status_code == 200 and f"<tr><td>{newest}</td>" not in page.text
        assert f"<tr><td>{newest - 1}</td>" in page.text


@pytest.mark.one_engine  # the page stream; the fan-out on PostgreSQL: test_waits_processes
@pytest.mark.processes
async def test_the_dashboard_stream_tells_of_every_change_and_ends_with_the_session(tmp_path: Path):
    people = mint_people()
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(running_hub(tmp_path, example_team(people)))
        alice = await seat(stack, hub, "http-handshake", "alice")
        await seat(stack, hub, "http-handshake", "bob")
        client, csrf = await stack.enter_async_context(signed_in(hub.url, people.boss))
        assert (await client.get("/events/boss")).status_code == 403  # a session opens no agent's stream
        async with httpx2.AsyncClient(base_url=hub.url) as anonymous:
            assert (await anonymous.get("/ui/events")).status_code == 403
        async with client.stream("GET", "/ui/events") as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            stream = EventStream(response)
            assert (await stream.next()).kind == "connected"
            await alice.ok("send_message", recipient="bob", content="between the two of us")
            changed = await stream.next()
            assert changed.kind == "changed" and changed.data == {"kind": "message"}  # a change, not its content
            out = await client.post("/ui/signout", data={"csrf": csrf})
            assert out.status_code == 303
            assert (await stream.next(within=10)).kind == "ended"  # signed out: the open stream ends too


# A team.yaml reload ending a session: config, not storage (the other dashboard tests run on both engines).
@pytest.mark.one_engine
@pytest.mark.processes
async def test_a_session_ends_when_the_member_is_disabled_in_team_yaml_and_the_workflows_page_shows_errors(
        tmp_path: Path):
    people = mint_people()
    copy_workflows(tmp_path)
    text = example_team(people)
    async with running_hub(tmp_path, text) as hub, signed_in(hub.url, people.boss) as (client, _):
        page = await client.get("/ui/workflows")
        assert "when a task&#39;s status changes (kind code; status awaiting_review)" in page.text
        (tmp_path / "workflows" / "broken.yaml").write_text("name: broken\ntriggers:\n  - event: nope\n")
        (tmp_path / "team.yaml").write_text(text + "\nlimits: [\n")
        with anyio.fail_after(10):
            while True:
                page = await client.get("/ui/workflows")
                if "broken.yaml is invalid" in page.text and "team.yaml is invalid" in page.text:
                    break
                await anyio.sleep(0.2)
        assert "broken.yaml:3" in page.text  # file and line
        (tmp_path / "workflows" / "broken.yaml").unlink()
        disabled = text.replace("    role: person\n", "    role: person\n    enabled: false\n")
        (tmp_path / "team.yaml").write_text(disabled)
        with anyio.fail_after(10):
            while (await client.get("/ui/board")).status_code == 200:
                await anyio.sleep(0.2)
        assert (await client.get("/ui/board")).headers["location"].startswith("/ui/signin")


def test_a_session_expires(tmp_path: Path):
    token = tokens.mint()
    team = parse_team(f"agents:\n  boss:\n    role: person\n    token_hashes: [\"{tokens.file_hash(token)}\"]\n",
                      "team.yaml")
    clock = ManualClock()
    with open_table(resolve({"db": stores.table_db(tmp_path)}, {}, team, None), team, clock) as hub:
        session_id, _ = sessions.open_session(hub, "boss", token)
        assert sessions.find(hub, session_id).caller.name == "boss"
        assert sessions.find(hub, session_id + "x") is None
        clock.advance(sessions.LIFETIME.total_seconds() + 1)
        assert sessions.find(hub, session_id) is None
        assert members.authenticate(hub, "boss", token).name == "boss"  # the token itself still works


@pytest.mark.processes
async def test_a_person_sees_how_far_each_message_got_and_each_agent_hears_the_table(tmp_path: Path):
    import httpx2 as http_client

    people = mint_people()
    async with running_hub(tmp_path, example_team(people)) as hub, AsyncExitStack() as stack, \
            signed_in(hub.url, people.lena) as (client, _csrf):
        alice = await seat(stack, hub, "http-handshake", "alice")
        dan = await seat(stack, hub, "http-handshake", bearer=people.dan)
        asked = await alice.ok("send_message", recipient="dan", content="can you take the parser?",
                               answer_within_seconds=3600)
        async with http_client.AsyncClient(timeout=10) as http:  # a hook shows dan what waits
            shown = await http.post(f"{hub.url}/agents/dan/waiting", headers={"Authorization": f"Bearer {people.dan}"})
        assert shown.status_code == 200 and shown.json()["ids"] == [asked["id"]]
        told = await alice.ok("send_message", recipient="dan", content="and the docs")
        team = (await client.get("/ui/team")).text
        assert re.search(r"2 unread \(oldest <time", team), team  # dan's standing: two waiting, none read
        await dan.ok("get_messages")
        await dan.ok("send_message", recipient="alice", content="on it", reply_to=asked["id"])
        page = (await client.get(f"/ui/messages?all=1&thread={asked['id']}")).text
        receipts = re.findall(r'<span class="receipt receipt-(\w+)"[^>]*><bdi>(\w+)</bdi>: ([^<]*)</span>', page)
        assert ("acted", "dan", "acted (reply)") in receipts, receipts  # the question: answered in its thread
        assert ("read", "alice", "read") not in receipts  # alice has not read the answer yet
        assert any(agent == "alice" and state == "queued" for state, agent, _ in receipts), receipts
        other = (await client.get(f"/ui/messages?all=1&thread={told['id']}")).text
        assert 'receipt-read"' in other and "dan</bdi>: read" in other
        assert "nothing unread" in (await client.get("/ui/team")).text
