"""What is shown of reservations beside the tools: catch_up's lines, the dashboard's Team page and task page."""

from __future__ import annotations

import json

from team_table.hub import Hub
from team_table.models import Holder, Reservation
from team_table.reservations import at, epoch, in_the_way, record
from team_table.store import placeholders
from team_table.task_states import TO_DO_SQL


def held_by(hub: Hub, agents: list[str]) -> dict[str, list[Reservation]]:
    """The live reservations of each of these members (the Team page)."""
    if not agents:
        return {}
    found: dict[str, list[Reservation]] = {}
    for row in hub.store.query(f"SELECT * FROM reservation WHERE agent IN ({placeholders(agents)})"
                               " AND expires > ? ORDER BY agent, id", [*agents, epoch(hub)]):
        found.setdefault(row["agent"], []).append(record(row))
    return found


def of_task(hub: Hub, task_id: int) -> list[Reservation]:
    """The live reservations tied to a task (the dashboard's task page)."""
    return [record(r) for r in hub.store.query("SELECT * FROM reservation WHERE task_id = ? AND expires > ?"
                                               " ORDER BY id", (task_id, epoch(hub)))]


def for_catch_up(hub: Hub, agent: str, shown: int = 5) -> dict:
    """The agent's live reservations, and what stands in its way: the paths it watches, and the declared paths of
    its open tasks that others hold ("#7 needs src/api/**: alice holds src/** until 10:32:05Z"). Keys only when
    there is something to say."""
    clock, query = epoch(hub), hub.store.query
    mine = query("SELECT * FROM reservation WHERE agent = ? AND expires > ? ORDER BY id", (agent, clock))
    held = [r["pattern"] + ("" if r["exclusive"] else " (shared)") + (f" task {r['task_id']}" if r["task_id"] else "")
            + f" until {_clock_time(r['expires'])}" for r in mine]
    blocked = []
    for watch_row in query("SELECT pattern, exclusive FROM reservation_watch WHERE agent = ? AND expires > ?"
                           " ORDER BY id", (agent, clock)):
        holders = in_the_way(query, agent, watch_row["pattern"], bool(watch_row["exclusive"]), clock)
        blocked.append(f"watching {watch_row['pattern']}: {_who_holds(holders)}")
    for task in query(f"SELECT id, paths FROM task WHERE assignee = ? AND paths != '[]' AND status IN {TO_DO_SQL}"
                      " ORDER BY id", (agent,)):
        for pattern in json.loads(task["paths"]):
            holders = in_the_way(query, agent, pattern, True, clock)
            if holders:
                blocked.append(f"#{task['id']} needs {pattern}: {_who_holds(holders)}")
    return {**({"reservations": held[:shown]} if held else {}), **({"conflicts": blocked[:shown]} if blocked else {})}


def _clock_time(seconds: float) -> str:
    return at(seconds)[11:19] + "Z"


def _who_holds(holders: list[Holder]) -> str:
    if not holders:
        return "free now"
    first = holders[0]
    task = f" (task {first.task_id})" if first.task_id else ""
    more = f" and {len(holders) - 1} more" if len(holders) > 1 else ""
    return f"{first.agent} holds {first.pattern}{task} until {first.expires_at[11:19]}Z{more}"
