"""The dashboard shows what each agent holds: the Team page lists every member's reserved paths, a task's page the
paths it declares and what is reserved for it, over HTTP against a real hub."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import httpx2
import pytest

from answers import found
from dashboard_helpers import example_team, mint_people

from network_helpers import running_hub, seat

pytestmark = [pytest.mark.anyio, pytest.mark.processes]


async def signed_in_client(stack: AsyncExitStack, url: str, token: str) -> httpx2.AsyncClient:
    client = await stack.enter_async_context(httpx2.AsyncClient(base_url=url, follow_redirects=False, timeout=15))
    form = await client.get("/ui/signin")
    csrf = found(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = await client.post("/ui/signin", data={"csrf": csrf, "token": token, "next": "/ui"})
    assert answer.status_code == 303, answer.text
    return client


async def test_the_team_page_and_a_task_page_show_the_paths_each_agent_holds(tmp_path: Path):
    people = mint_people()
    async with running_hub(tmp_path, example_team(people)) as hub, AsyncExitStack() as stack:
        dan = (await seat(stack, hub, "http-handshake")).as_agent("dan", people.dan)
        task = await dan.ok("create_task", title="the api", paths=["src/api/**", "docs/api.md"])
        await dan.ok("claim_task", task_id=task["id"])
        await dan.ok("reserve_paths", paths=["proto/**"], exclusive=False, reason="reading the schema")
        boss = await signed_in_client(stack, hub.url, people.boss)

        team = (await boss.get("/ui/team")).text
        section = team[team.index('id="reserved-paths"'):]
        for shown in ("dan", "src/api/**", "docs/api.md", "proto/**", "shared", "reading the schema",
                      f'href="/ui/tasks/{task["id"]}"'):
            assert shown in section, shown
        page = (await boss.get(f"/ui/tasks/{task['id']}")).text
        paths = page[page.index("<h2>Paths</h2>"):page.index("<h2>Description</h2>")]
        assert "src/api/**" in paths and "docs/api.md" in paths and "dan" in paths and "proto/**" not in paths

        await dan.ok("update_task", task_id=task["id"], status="done")
        page = (await boss.get(f"/ui/tasks/{task['id']}")).text
        assert "Nothing is reserved for this task now." in page
        await dan.ok("release_paths")
        assert "Nobody holds a path." in (await boss.get("/ui/team")).text
