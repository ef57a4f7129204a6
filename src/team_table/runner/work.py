"""What waits for the agents the hub runs, derived from the database in this one place; and the first prompt of a
run, which says what waited.

Work waits for an agent when it has a task reserved for it (pending, its dependencies done) or in progress (its
own, or sent back by review), a review asked of it, or messages it has neither read nor acted on (the hub's notice
of a task assigned is acted on when the agent claims the task). Agents whose `run:` says `next_task: true`
are also started for free pending tasks their roles or capabilities fit (one task each, so a free task starts one
agent, not all who could take it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from team_table import receipts, templates
from team_table.claims import WAITING_ON_OTHERS, kinds_for
from team_table.config.agents import AgentSpec
from team_table.delivery_states import UNREAD
from team_table.hub import Hub
from team_table.store import Tx, placeholders
from team_table.task_states import S, by_priority

# A message waits for an agent while it is unread and not acted on (a notice about a task it then claimed or moved
# is answered by that: receipts.py).
WAITS = f"{UNREAD} AND d.acted_at IS NULL"
PROMPT_ITEMS = 20  # at most this many items are listed in a prompt (then "and N more")
FREE_LOOKED_AT = 500  # free tasks considered in one pass, highest priority first

DEFAULT_PROMPT = """You are {{ agent }} ({{ roles | join(", ") }}) on the team table, a coordination hub you reach \
through the MCP tools of the server named team-table. The table started you because work waits for you:
{% for item in items %}- {{ item.text }}
{% endfor %}
Do that work with the table's tools: catch_up for the whole picture; next_task or claim_task, then update_task \
(done, or awaiting_review, with a result) for tasks; review_task for reviews; get_messages and send_message for \
messages. When nothing is left for you, stop: the table starts you again when new work arrives."""


@dataclass(frozen=True)
class Item:
    """One thing that waits for an agent."""

    kind: str  # task, rework, review, messages, free
    id: int | None  # the task's id; for messages, the newest unread one's
    title: str
    text: str  # what the prompt says of it

    @property
    def key(self) -> str:
        """What names it across looks: new work has a new key (a new message: a new newest id)."""
        return f"{self.kind}:{self.id}"


OWN = ("task", "rework", "review", "messages")  # what an agent holds, as opposed to free tasks it could take


def fingerprint(items: list[Item]) -> frozenset[str]:
    return frozenset(item.key for item in items)


def waiting(hub: Hub, agents: Mapping[str, AgentSpec]) -> dict[str, list[Item]]:
    """For each agent named, what waits for it (a few reads in all, whatever the number of agents)."""
    names = sorted(agents)
    found: dict[str, list[Item]] = {name: [] for name in names}
    if not names:
        return found
    marks, query = placeholders(names), hub.store.query
    for row in query(f"SELECT id, title, status, assignee, review_rounds FROM task WHERE assignee IN ({marks})"
                     f" AND (status = '{S.IN_PROGRESS}' OR (status = '{S.PENDING}' AND NOT {WAITING_ON_OTHERS}))"
                     " ORDER BY id", names):
        found[row["assignee"]].append(_own_task(row))
    for row in query(f"SELECT id, title, reviewer FROM task WHERE reviewer IN ({marks})"
                     f" AND status = '{S.AWAITING_REVIEW}' ORDER BY id", names):
        found[row["reviewer"]].append(Item("review", row["id"], row["title"],
                                           f"task {row['id']} ({row['title']}) waits for your review"))
    for row in query(f"SELECT d.agent, COUNT(*) AS n, MAX(d.message_id) AS newest FROM delivery d"
                     f" {hub.store.dialect.unread_index} WHERE d.agent IN ({marks}) AND {WAITS} GROUP BY d.agent",
                     names):
        count = row["n"]
        found[row["agent"]].append(Item("messages", row["newest"], "",
                                        f"{count} unread message{'s' if count != 1 else ''} (get_messages)"))
    takers = [name for name in names if (run := agents[name].run) is not None and run.next_task and not found[name]]
    if takers:
        _share_free_tasks(hub, agents, takers, found)
    return found


def _own_task(row) -> Item:
    task_id, title = row["id"], row["title"]
    if row["status"] == S.PENDING:
        return Item("task", task_id, title, f"task {task_id} ({title}) is reserved for you: claim_task it")
    if row["review_rounds"]:
        return Item("rework", task_id, title, f"task {task_id} ({title}) was sent back by review: get_task shows "
                                              "the notes; rework it")
    return Item("task", task_id, title, f"task {task_id} ({title}) is yours, in progress")


def _share_free_tasks(hub: Hub, agents: Mapping[str, AgentSpec], takers: list[str],
                      found: dict[str, list[Item]]) -> None:
    """Each free pending task (highest priority, then oldest, first) to the first taker it fits, one each."""
    fits = {name: kinds_for(agents[name].all_roles, agents[name].capabilities) for name in takers}
    free = hub.store.query(
        f"SELECT id, title, kind FROM task WHERE status = '{S.PENDING}' AND assignee IS NULL"
        f" AND NOT {WAITING_ON_OTHERS} ORDER BY {by_priority()}, id LIMIT ?", (FREE_LOOKED_AT,))
    left = list(takers)
    for row in free:
        taker = next((name for name in left if not row["kind"] or row["kind"] in fits[name]), None)
        if taker is None:
            continue
        left.remove(taker)
        found[taker].append(Item("free", row["id"], row["title"],
                                 f"task {row['id']} ({row['title']}) is free and fits you: next_task claims it"))
        if not left:
            return


def own(items: list[Item]) -> list[Item]:
    """The work an agent holds (what a stall is judged by), without the free tasks it could take."""
    return [item for item in items if item.kind in OWN]


def prompt(source: str | None, agent: str, roles: tuple[str, ...], items: list[Item], *, run: int, resumed: bool,
           hub_url: str) -> str:
    """A run's first input: the configured template (or the built-in text), with what waits."""
    listed = [asdict(item) for item in items[:PROMPT_ITEMS]]
    if len(items) > PROMPT_ITEMS:
        listed.append({"kind": "more", "id": None, "title": "",
                       "text": f"and {len(items) - PROMPT_ITEMS} more (catch_up lists them)"})
    variables: dict[str, Any] = {"agent": agent, "roles": list(roles), "items": listed, "run": run,
                                 "resumed": resumed, "hub": hub_url}
    return templates.render(source, DEFAULT_PROMPT, variables)


def mark_surfaced(conn: Tx, hub: Hub, agent: str, items: list[Item], *, run_id: int, via: str = "run") -> None:
    """The work a run starts with, in its prompt, counts as surfaced to the agent: kept on the run's record, and the
    unread messages it was told of (up to the newest the prompt counted) get their `surfaced` receipt. The one call
    site: the transaction that starts the run (issue 17's receipts)."""
    conn.execute("UPDATE agent_run SET surfaced = ? WHERE id = ? AND agent = ?",
                 (json.dumps({"via": via, "items": [asdict(item) for item in items]}, separators=(",", ":")),
                  run_id, agent))
    newest = max((item.id for item in items if item.kind == "messages" and item.id is not None), default=None)
    if newest is not None:
        ids = [row[0] for row in conn.execute(f"SELECT d.message_id FROM delivery d WHERE d.agent = ? AND {WAITS}"
                                              " AND d.message_id <= ?", (agent, newest))]
        receipts.surfaced(conn, hub.now(), agent, ids, receipts.Shown(via))
