"""The dashboard in a real browser (headless Chromium, Playwright) on a real hub, while agents work over MCP:
signing in and the refusals, a question that needs a person appearing live and being decided, the board moving
as agents claim, a message to a role, revocation ending a session; and the README's pictures."""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from dashboard_helpers import ROOT, hub_for, live, sign_in

from network_helpers import seat

# What a browser does with the pages does not depend on the engine (test_dashboard_routes and test_seat read them
# on both): one pass.
pytestmark = [pytest.mark.anyio, pytest.mark.one_engine, pytest.mark.processes]



async def test_a_person_signs_in_and_everyone_else_is_refused(tmp_path: Path):
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(hub.url + "/ui/board")
        assert page.url.startswith(hub.url + "/ui/signin")  # signed out: to the sign-in page, and back after it
        await page.fill("#token", "not-a-token")
        await page.click("form[action='/ui/signin'] button")
        assert "not valid" in await page.inner_text("[role=alert]")
        assert not [c for c in await context.cookies() if c.get("name") == "team_table_session"]

        await page.fill("#token", people.dan)  # a coder: an agent, not a person
        await page.click("form[action='/ui/signin'] button")
        assert "for the people at the table" in await page.inner_text("[role=alert]")

        await page.fill("#token", people.boss)
        await page.click("form[action='/ui/signin'] button")
        await page.wait_for_url(hub.url + "/ui/board")
        assert "boss" in await page.inner_text("header")
        session = next(c for c in await context.cookies() if c.get("name") == "team_table_session")
        assert session.get("httpOnly") and session.get("sameSite") == "Strict"
        assert people.boss not in str(await context.cookies())  # the token itself is not kept by the browser

        # A form post without the page's CSRF token is refused and changes nothing.
        alice = await seat(stack, hub, "http-handshake", "alice")
        forged = await page.request.post(hub.url + "/ui/messages", form={"to": "alice", "content": "forged"})
        assert forged.status == 401 and "CSRF" in await forged.text()
        assert (await alice.ok("get_messages")) == []

        # Keyboard: the first Tab reaches the skip link, which takes focus to the page.
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.className") == "skip"
        await page.keyboard.press("Enter")
        assert await page.evaluate("document.activeElement.id") == "main"

        await page.click("form[action='/ui/signout'] button")
        await page.wait_for_url(hub.url + "/ui/signin")
        await page.goto(hub.url + "/ui")
        assert page.url.startswith(hub.url + "/ui/signin")


async def test_a_question_appears_live_and_the_persons_decision_reaches_the_agents(tmp_path: Path):
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        alice, bob = [await seat(stack, hub, "http-handshake", name) for name in ("alice", "bob")]
        page = await sign_in(browser, hub.url, people.boss)
        assert "Nothing needs you" in await page.inner_text("main")

        sent = await alice.ok("send_message", recipient="bob", content="Should we drop the legacy table today?")
        assert sent["escalated"] == ["decision"]
        card = page.locator("#escalation-1")  # no reload: the page heard it on boss's push stream
        await card.wait_for(timeout=5_000)
        assert "Should we drop the legacy table today?" in await card.inner_text()
        assert "decision" in await card.inner_text()
        assert "1 needs you" in await page.inner_text("#badge")

        await bob.ok("send_message", recipient="alice", content="Which option do you want, A or B?")
        await page.locator("#escalation-2").wait_for(timeout=5_000)
        lena = await sign_in(browser, hub.url, people.lena)  # another person decides the second one ...
        await lena.fill("#note-2", "A.")
        await lena.click("#resolve-2")
        await lena.wait_for_selector("text=Escalation 2 resolved")
        await page.locator("#escalation-2").wait_for(state="detached", timeout=5_000)  # ... and boss sees it go

        await page.fill("#note-1", "Yes, once the backup has run.")
        await page.click("#resolve-1")
        await page.wait_for_selector("text=Escalation 1 resolved; alice and bob got your decision.")
        assert "Yes, once the backup has run." in await page.inner_text("main")
        assert await page.locator("#badge").count() == 0

        for agent in (alice, bob):
            inbox = await agent.ok("get_messages")
            assert any("Yes, once the backup has run." in m["content"] and m["sender"] == "team-table"
                       for m in inbox), inbox
        assert page.problems == []


async def test_the_board_moves_live_as_agents_claim_and_a_person_comments(tmp_path: Path):
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        alice, bob = [await seat(stack, hub, "http-handshake", name) for name in ("alice", "bob")]
        page = await sign_in(browser, hub.url, people.boss)
        await page.goto(hub.url + "/ui/board")
        await live(page)

        reserved = await alice.ok("create_task", title="Write the docs", assignee="bob")  # an event for bob only
        await page.locator(f"#column-pending #task-{reserved['id']}").wait_for(timeout=5_000)
        task = await alice.ok("create_task", title="Parse the config", kind="code", labels=["parser"])
        await page.locator(f"#column-pending #task-{task['id']}").wait_for(timeout=5_000)
        await alice.ok("claim_task", task_id=task["id"])
        await page.locator(f"#column-in_progress #task-{task['id']}").wait_for(timeout=5_000)
        assert await page.locator(f"#column-pending #task-{task['id']}").count() == 0

        await page.select_option("#filter-assignee", "alice")
        await page.click("form.filters button")
        assert "assignee=alice" in page.url and await page.locator(".task").count() == 1

        await page.click(f"#task-{task['id']} a")
        await page.wait_for_url(f"{hub.url}/ui/tasks/{task['id']}")
        await page.fill("#comment-text", "Please keep the old format readable too.")
        await page.click("form[action$='/comment'] button")
        await page.wait_for_selector("text=Comment added;", timeout=5_000)
        assert "Please keep the old format readable too." in await page.inner_text(".comments")
        detail = await bob.ok("get_task", task_id=task["id"])
        assert [c["author"] for c in detail["comments"]] == ["boss"]
        assert page.problems == []


async def test_a_message_to_a_role_reaches_its_members_also_without_javascript(tmp_path: Path):
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        alice, bob = [await seat(stack, hub, "http-handshake", name) for name in ("alice", "bob")]
        context = await browser.new_context(java_script_enabled=False)  # every action is a plain form post
        page = await context.new_page()
        await page.goto(hub.url + "/ui/messages")
        await page.fill("#token", people.boss)
        await page.click("form[action='/ui/signin'] button")
        await page.wait_for_url(hub.url + "/ui/messages")
        await page.select_option("#compose-to", "role:reviewer")
        await page.fill("#compose-content", "Reviewers: task 1 is ready for you.")
        await page.click("form.compose button")
        await page.wait_for_selector("text=Sent to every reviewer")

        assert [m["content"] for m in await bob.ok("get_messages")] == ["Reviewers: task 1 is ready for you."]
        assert await alice.ok("get_messages") == []  # a coder is not a reviewer
        reply = await bob.ok("get_messages", include_read=True)
        await bob.ok("send_message", recipient="boss", content="On it.", reply_to=reply[0]["id"])
        await page.goto(hub.url + "/ui/messages")
        await page.click("text=Reviewers: task 1 is ready for you.")
        assert "On it." in await page.inner_text(".thread")


async def test_revoking_the_persons_token_ends_the_session(tmp_path: Path):
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        boss = await sign_in(browser, hub.url, people.boss)
        lena = await sign_in(browser, hub.url, people.lena)  # a lead: may revoke, with a confirmation step
        await lena.goto(hub.url + "/ui/team")
        await lena.click("#revoke-boss")
        await lena.wait_for_url(hub.url + "/ui/team/boss/revoke")
        await lena.click("form.danger button")
        await lena.wait_for_selector("text=boss has left the table")

        await boss.wait_for_url(f"{hub.url}/ui/signin*", timeout=5_000)  # live: the stream said "revoked"
        await boss.goto(hub.url + "/ui/board")
        assert boss.url.startswith(hub.url + "/ui/signin")
        await boss.fill("#token", people.boss)
        await boss.click("form[action='/ui/signin'] button")
        assert "not valid" in await boss.inner_text("[role=alert]")


async def test_pictures_of_the_example_team(tmp_path: Path):
    """Needs you, the board and a task page on the example team, as the README shows them (written to docs/
    with TEAM_TABLE_SCREENSHOTS=1); the pages also read well at phone width."""
    out = ROOT / "docs" if os.environ.get("TEAM_TABLE_SCREENSHOTS") else tmp_path / "docs"
    out.mkdir(exist_ok=True)
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        alice, bob, carol = [await seat(stack, hub, "http-handshake", name) for name in ("alice", "bob", "carol")]
        parse = await alice.ok("create_task", title="Parse team.yaml with line numbers", kind="code",
                               labels=["config"], priority="high",
                               description="Every problem names its file, line and key.")
        docs = await alice.ok("create_task", title="Document the dashboard", kind="docs", labels=["ui"])
        await alice.ok("create_task", title="Profile the fan-out under 200 waiters", kind="code", priority="low")
        await alice.ok("claim_task", task_id=parse["id"])
        await alice.ok("update_task", task_id=parse["id"], status="awaiting_review", result="PR #12")
        await carol.ok("claim_task", task_id=docs["id"])
        await bob.ok("comment_task", task_id=parse["id"], text="Looking at it now.")
        await alice.ok("send_message", recipient="bob", content="Should we keep the 0.2.1 table names?")
        await carol.ok("send_message", recipient="alice", content="Which option do you want: A or B for the CLI?")
        await bob.ok("ask", question="May I merge PR #12 once its tests pass?", kind="approve", timeout_seconds=3600,
                     default="deny")

        page = await sign_in(browser, hub.url, people.boss)
        await page.locator("#escalation-2").wait_for()
        await page.locator("#question-1").wait_for()
        await page.screenshot(path=str(out / "needs-you.png"), full_page=True)
        await page.goto(hub.url + "/ui/board")
        await page.screenshot(path=str(out / "board.png"))
        await page.goto(f"{hub.url}/ui/tasks/{parse['id']}")
        await page.screenshot(path=str(out / "task.png"), full_page=True)
        for name in ("needs-you.png", "board.png", "task.png"):
            assert (out / name).stat().st_size > 10_000
        assert page.problems == []

        await page.set_viewport_size({"width": 390, "height": 844})
        for path in ("/ui", "/ui/board", f"/ui/tasks/{parse['id']}", "/ui/team", "/ui/messages"):
            await page.goto(hub.url + path)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a phone"
