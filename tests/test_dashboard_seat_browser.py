"""The person's seat in a real browser (headless Chromium, Playwright) on a real hub while agents work over MCP:
a refused action never happens later, eight tabs stay live on one stream, live updates keep what the person is
doing, an outage says so, long and bidirectional text stays in its box, tables scroll by keyboard on a phone, the
tab title counts, a question is answered with one tap and reaches the agent's wait, desktop notifications are
opt-in."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx2
import pytest

from answers import found
from dashboard_helpers import hub_for, live, sign_in

from network_helpers import seat

# What a browser does with the pages does not depend on the engine (test_dashboard_routes and test_seat read them
# on both): one pass.
pytestmark = [pytest.mark.anyio, pytest.mark.one_engine, pytest.mark.processes]



async def streams(url: str) -> int:
    async with httpx2.AsyncClient() as client:
        text = (await client.get(url + "/metrics")).text
    return int(float(found(r"^team_table_event_streams ([0-9.]+)$", text, re.M).group(1)))


async def test_a_refused_action_lands_on_a_page_and_never_happens_later(tmp_path: Path):
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        alice, bob = [await seat(stack, hub, "http-handshake", name) for name in ("alice", "bob")]
        task = await alice.ok("create_task", title="Parse the config", assignee="alice")
        await alice.ok("claim_task", task_id=task["id"])
        page = await sign_in(browser, hub.url, people.lena)
        await page.goto(f"{hub.url}/ui/tasks/{task['id']}")
        await live(page)
        await page.select_option("#reassign-to", "bob")
        await alice.ok("update_task", task_id=task["id"], status="done", result="merged")  # meanwhile
        await page.click("form[action$='/reassign'] button")
        refusal = page.locator(".flash.refusal")
        await refusal.wait_for(timeout=10_000)
        assert page.url == f"{hub.url}/ui/tasks/{task['id']}"  # a GET page, not the POST
        assert await refusal.get_attribute("data-code") == "conflict"
        await live(page)
        await alice.ok("update_task", task_id=task["id"], status="pending", reason="one more case")
        await page.locator("#task-head .status-pending").wait_for(timeout=10_000)  # the page heard the reopen
        await alice.ok("comment_task", task_id=task["id"], text="Working on it again.")
        await page.locator("#task-comments >> text=Working on it again.").wait_for(timeout=10_000)
        assert (await alice.ok("get_task", task_id=task["id"]))["assignee"] == "alice"  # never sent again
        assert await refusal.is_visible()  # the refusal stays until dismissed
        await page.click(".flash.refusal [data-dismiss]")
        assert await page.locator(".flash.refusal").count() == 0
        assert page.problems == []


async def test_eight_tabs_share_one_stream_and_stay_live(tmp_path: Path):
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        alice = await seat(stack, hub, "http-handshake", "alice")
        await seat(stack, hub, "http-handshake", "bob")
        first = await sign_in(browser, hub.url, people.boss)
        tabs = [first]
        for _ in range(7):
            tab = await first.context.new_page()
            await tab.goto(hub.url + "/ui")
            await live(tab)
            tabs.append(tab)
        assert await streams(hub.url) == 1  # one stream for the browser, however many tabs
        await alice.ok("send_message", recipient="bob", content="Should we rename the table?")
        for tab in tabs:
            await tab.locator("#escalation-1").wait_for(timeout=10_000)
        ninth = await first.context.new_page()  # and a click still goes through
        await ninth.goto(hub.url + "/ui/board", timeout=10_000)
        await first.click("text=Board")
        await first.wait_for_url(hub.url + "/ui/board", timeout=10_000)
        assert first.problems == []


async def test_without_shared_workers_one_tab_leads_and_relays_to_the_others(tmp_path: Path):
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        alice = await seat(stack, hub, "http-handshake", "alice")
        await seat(stack, hub, "http-handshake", "bob")
        context = await browser.new_context()
        await context.add_init_script("delete window.SharedWorker;")  # as on browsers that have none
        first = await context.new_page()
        await first.goto(hub.url + "/ui")
        await first.fill("#token", people.boss)
        await first.click("form[action='/ui/signin'] button")
        await first.wait_for_url(hub.url + "/ui")
        tabs = [first]
        for _ in range(3):
            tab = await context.new_page()
            await tab.goto(hub.url + "/ui")
            tabs.append(tab)
        for tab in tabs:
            await live(tab)
        assert await streams(hub.url) == 1
        await alice.ok("send_message", recipient="bob", content="Should we rename the column?")
        for tab in tabs:
            await tab.locator("#escalation-1").wait_for(timeout=10_000)
        await first.close()  # the leader goes: another tab takes the stream over
        await alice.ok("send_message", recipient="bob", content="Should we rename the table too?")
        for tab in tabs[1:]:
            await tab.locator("#escalation-2").wait_for(timeout=15_000)


async def test_live_updates_keep_what_the_person_is_doing(tmp_path: Path):
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        alice, bob = [await seat(stack, hub, "http-handshake", name) for name in ("alice", "bob")]
        task = await alice.ok("create_task", title="Parse the config")
        page = await sign_in(browser, hub.url, people.boss)
        await page.goto(f"{hub.url}/ui/tasks/{task['id']}")
        await live(page)
        await page.select_option("#reassign-to", "bob")
        await page.check("#cancel-confirm")
        await page.fill("#comment-text", "Half a thought")
        await page.focus("#comment-text")
        await alice.ok("comment_task", task_id=task["id"], text="An agent's comment.")
        await bob.ok("send_message", recipient="alice", content="unrelated chatter")
        await page.locator("#task-comments >> text=An agent's comment.").wait_for(timeout=10_000)
        assert await page.input_value("#reassign-to") == "bob"
        assert await page.is_checked("#cancel-confirm")
        assert await page.input_value("#comment-text") == "Half a thought"
        assert await page.evaluate("document.activeElement.id") == "comment-text"
        await alice.ok("update_task", task_id=task["id"], status="in_progress")  # the actions part itself changes
        await page.locator("#task-head .status-in_progress").wait_for(timeout=10_000)
        assert await page.input_value("#reassign-to") == "bob" and await page.is_checked("#cancel-confirm")
        # A refused message keeps what was typed, and who it was for.
        await page.goto(hub.url + "/ui/messages")
        await page.select_option("#compose-to", "role:tester")
        await page.fill("#compose-content", "Testers, a long message I do not want to type again.")
        await page.click("form.compose button")
        await page.locator(".flash.refusal").wait_for(timeout=10_000)
        assert await page.input_value("#compose-content") == "Testers, a long message I do not want to type again."
        assert await page.input_value("#compose-to") == "role:tester"
        assert page.problems == []


async def test_an_outage_is_said_and_nothing_needs_you_is_not_claimed(tmp_path: Path):
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        page = await sign_in(browser, hub.url, people.boss)
        assert await page.is_visible("text=Nothing needs you right now")
        await hub.stop()
        await page.locator("#live-status").wait_for(state="visible", timeout=15_000)
        assert "cannot be reached" in await page.inner_text("#live-status")
        assert not await page.is_visible("text=Nothing needs you right now")
        assert await page.is_visible("text=whether anything needs you is unknown")


async def test_long_and_bidirectional_text_stays_in_its_box_and_tables_scroll_by_keyboard(tmp_path: Path):
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        alice, bob = [await seat(stack, hub, "http-handshake", name) for name in ("alice", "bob")]
        long = "x" * 400
        tricky = "\u202eevil.exe\u202c then more"
        task = await alice.ok("create_task", title=f"{long[:150]} {tricky}")
        for n in range(12):
            held = await alice.ok("create_task", title=f"Held {n}")
            await alice.ok("claim_task", task_id=held["id"])
        await alice.ok("send_message", recipient="bob", content=f"Should we {long}?")
        page = await sign_in(browser, hub.url, people.boss)
        card = page.locator("#escalation-1")
        assert await card.evaluate("e => e.scrollWidth <= e.clientWidth")
        await page.goto(hub.url + "/ui/board")
        cell = page.locator(f"#task-{task['id']}")
        assert await cell.evaluate("e => e.scrollWidth <= e.clientWidth")
        isolated = await cell.locator("bdi").first.evaluate("e => getComputedStyle(e).unicodeBidi")
        assert isolated == "isolate"
        await page.set_viewport_size({"width": 390, "height": 844})
        for path in ("/ui/team", f"/ui/tasks/{task['id']}", "/ui/audit"):
            await page.goto(hub.url + path)
            unreachable = await page.evaluate("""() => [...document.querySelectorAll('*')].filter(e => {
                const s = getComputedStyle(e);
                return ['auto', 'scroll'].includes(s.overflowX) && e.scrollWidth > e.clientWidth && e.tabIndex < 0;
            }).map(e => e.tagName + '.' + e.className)""")
            assert unreachable == [], (path, unreachable)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
        await page.goto(hub.url + "/ui/team")
        row = await page.locator("#member-alice").bounding_box()
        assert row["height"] < 400, row  # twelve held tasks: five shown, the rest one link away
        assert await page.is_visible("#member-alice >> text=and 7 more")


async def test_a_question_is_answered_with_one_tap_and_the_title_counts(tmp_path: Path):
    async with AsyncExitStack() as stack:
        hub, browser, people = await hub_for(tmp_path, stack)
        alice = await seat(stack, hub, "http-handshake", "alice")
        page = await sign_in(browser, hub.url, people.boss)
        await page.context.grant_permissions(["notifications"])
        await page.evaluate("""() => { window.shown = [];
            window.Notification = function (title, options) { window.shown.push(title); };
            window.Notification.permission = 'granted';
            window.Notification.requestPermission = () => Promise.resolve('granted'); }""")
        await page.evaluate("document.getElementById('desktop-notify').hidden = false")
        await page.click("#desktop-notify")
        assert await page.evaluate("localStorage.getItem('team-table-desktop')") == "on"
        assert await page.title() == "Needs you · team-table"
        asked = await alice.ok("ask", question="Ship on Friday?", kind="yes_no", timeout_seconds=3600, default="no")
        card = page.locator(f"#question-{asked['id']}")
        await card.wait_for(timeout=10_000)
        assert "Ship on Friday?" in await card.inner_text()
        assert await page.title() == "(1) Needs you · team-table"
        assert await page.evaluate("window.shown") == ["team-table: 1 needs you"]
        assert await page.inner_text("#live-note") == "1 needs you"
        woke: dict = {}

        async def wait() -> None:
            woke.update(await alice.ok("wait_for_messages", timeout_seconds=45))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait)
            await page.click(f"#question-{asked['id']} button[value=yes]")
        assert [m["content"] for m in woke["messages"]] == [f"[ANSWER {asked['id']}] boss: yes"]
        await page.wait_for_selector(f"text=Question {asked['id']} answered (yes)")
        assert "Ship on Friday?" in await page.inner_text("#decided-part")
        assert await page.title() == "Needs you · team-table"
        assert page.problems == []
