"""The dashboard at scale: 2,000 tasks and 20,000 messages. Every page stays under 50 KB compressed, the board is
capped per column with every task one link away, search and sort work in the database, older threads are
reachable, and a live update asks only for what changed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx2
import pytest

import stores
from answers import found
from dashboard_helpers import example_team, mint_people
from team_table.config import parse_team
from team_table.runtime import open_table
from team_table.settings import resolve
from test_dashboard_routes import signed_in

from network_helpers import running_hub

pytestmark = [pytest.mark.anyio, pytest.mark.processes]

STATUSES = ["pending"] * 8 + ["in_progress"] * 5 + ["blocked", "awaiting_review"] + ["done"] * 4 + ["cancelled"]
BUDGET = 50 * 1024


def seed(folder: Path, text: str, tasks: int = 2000, messages: int = 20_000) -> None:
    """A table as a busy team leaves it, written straight into the database."""
    team = parse_team(text, "team.yaml")
    with open_table(resolve({"db": stores.table_db(folder)}, {}, team, None), team) as hub:
        now = hub.now()
        with hub.store.write() as conn:
            for name in ("alice", "bob", "carol"):
                conn.execute("INSERT INTO member (name, role, capabilities, status, registered_at, last_heartbeat)"
                             " VALUES (?, 'coder', '[]', 'active', ?, ?)", (name, now, now))
            conn.executemany(
                "INSERT INTO task (title, description, status, priority, creator, assignee, created_at, updated_at,"
                " kind, labels) VALUES (?, ?, ?, ?, 'alice', ?, ?, ?, 'code', ?)",
                [(f"Task number {n} about part {n % 37}", "words " * 40, STATUSES[n % len(STATUSES)],
                  ("low", "medium", "high")[n % 3], ("alice", "bob", "carol", None)[n % 4], now, now,
                  json.dumps([f"area-{n % 7}"])) for n in range(tasks)])
            rows = []
            for n in range(messages):
                thread = n % 400  # 400 threads: a quarter with boss
                a, b = ("boss", "alice") if thread % 4 == 0 else ("alice", "bob")
                rows.append((a if n % 2 else b, b if n % 2 else a, f"Message {n} of thread {thread}: " + "x" * 60,
                             now, thread + 1 if n >= 400 else None))
            conn.executemany("INSERT INTO message (sender, recipient, content, created_at, thread_id)"
                             " VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute("INSERT INTO delivery (agent, message_id, read_at) SELECT recipient, id, ? FROM message",
                         (now,))


async def compressed_size(client: httpx2.AsyncClient, path: str, headers: dict | None = None) -> tuple[int, str]:
    async with client.stream("GET", path, headers={"Accept-Encoding": "gzip", **(headers or {})}) as response:
        assert response.status_code == 200, (path, response.status_code)
        body = (await response.aread()).decode()
        return response.num_bytes_downloaded, body


async def test_two_thousand_tasks_and_twenty_thousand_messages_stay_small_and_reachable(tmp_path: Path):
    people = mint_people()
    text = example_team(people)
    seed(tmp_path, text)
    sizes = {}
    async with running_hub(tmp_path, text) as hub, signed_in(hub.url, people.boss) as (client, _):
        for path in ("/ui", "/ui/board", "/ui/board?column=pending", "/ui/board?sort=newest&label=area-3",
                     "/ui/team", "/ui/messages", "/ui/messages?all=1", "/ui/messages?thread=1", "/ui/tasks/1",
                     "/ui/audit", "/ui/workflows"):
            sizes[path], body = await compressed_size(client, path)
            assert sizes[path] < BUDGET, (path, sizes[path])
        print("compressed page sizes at 2,000 tasks and 20,000 messages:", json.dumps(sizes))

        _, board = await compressed_size(client, "/ui/board")
        assert board.count('class="task ') == 6 * 25  # each column capped
        assert "25 of 800" in board and 'href="/ui/board?&amp;column=pending"' in board
        _, pending = await compressed_size(client, "/ui/board?column=pending&page=8")
        assert pending.count('class="task ') == 100 and "page 8 of 8" in pending  # every task one link away
        _, searched = await compressed_size(client, "/ui/board?q=task+number+1999")
        assert re.findall(r'id="task-(\d+)"', searched) == ["2000"]
        _, urgent = await compressed_size(client, "/ui/board?column=pending")
        first = found(r'class="task priority-(\w+)"', urgent).group(1)
        assert first == "high"  # priority first, by default

        _, threads = await compressed_size(client, "/ui/messages")
        older = re.search(r'href="/ui/messages\?before=(\d+)">Older threads', threads)
        assert older, "the newest 50 threads link to the older ones"
        _, page_two = await compressed_size(client, f"/ui/messages?before={older.group(1)}")
        assert page_two.count('<li class="unread">') + page_two.count("<li><a href=\"/ui/messages?thread=") == 50

        # A live update sends only the parts that changed: nothing changed, almost nothing is sent.
        _, whole = await compressed_size(client, "/ui/board")
        held = ";".join(f"{i}={v}" for i, v in re.findall(r'id="([a-z0-9_-]+)" data-part data-version="(\w+)"', whole))
        update, partial = await compressed_size(client, "/ui/board", {"X-Parts": held})
        assert 'class="task ' not in partial
        print("a live update of the board with nothing changed:", update, "bytes, the page:", sizes["/ui/board"])
        assert update < sizes["/ui/board"] / 4
