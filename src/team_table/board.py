"""The board as a person reads it: tasks by status, filtered, searched and sorted in the database, each column
capped (the newest or most urgent first) and paged, so a table of thousands of tasks reads as quickly as one of
ten."""

from __future__ import annotations

import json
from dataclasses import dataclass

from team_table.errors import Invalid
from team_table.hub import Hub
from team_table.models import Task
from team_table.task_states import TaskStatus, by_priority
from team_table.tasks import SELECT, rows_to_tasks

COLUMNS = [status.value for status in TaskStatus]
SORTS = {
    "priority": f"{by_priority('t.priority')}, t.id DESC",
    "newest": "t.id DESC",
    "oldest": "t.id",
    "updated": "t.updated_at DESC, t.id DESC",
}
CAP = 25  # cards per column on the board
PAGE = 100  # cards per page of one column


@dataclass(frozen=True)
class Filters:
    assignee: str = ""
    kind: str = ""
    label: str = ""
    q: str = ""  # words of the title, or a task number
    sort: str = "priority"

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise Invalid(f"Sort by one of: {', '.join(SORTS)}.")
        for value in (self.assignee, self.kind, self.label, self.q):
            if len(value) > 200:
                raise Invalid("A filter is at most 200 characters.")

    def where(self) -> tuple[list[str], list]:
        where, params = [], []
        if self.assignee:
            where.append("t.assignee = ?")
            params.append(self.assignee)
        if self.kind:
            where.append("t.kind = ?")
            params.append(self.kind)
        if self.label:  # labels are kept as a JSON list: the label, quoted as JSON, inside it
            where.append("t.labels LIKE ? ESCAPE '!'")
            params.append("%" + _like(json.dumps(self.label)) + "%")
        if self.q.strip():
            words = self.q.strip()
            if words.lstrip("#").isdigit() and len(words) < 19:
                where.append("(t.id = ? OR LOWER(t.title) LIKE ? ESCAPE '!')")
                params += [int(words.lstrip("#")), "%" + _like(words.lower()) + "%"]
            else:
                where.append("LOWER(t.title) LIKE ? ESCAPE '!'")
                params.append("%" + _like(words.lower()) + "%")
        return where, params


def _like(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


@dataclass(frozen=True)
class Board:
    columns: dict[str, list[Task]]
    counts: dict[str, int]
    choices: dict[str, list[str]]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def read(hub: Hub, filters: Filters, *, only: str = "", page: int = 1) -> Board:
    """The board: each column's count and its first cards (CAP of them; with `only`, one column, PAGE a page)."""
    if only and only not in COLUMNS:
        raise Invalid(f"Unknown column {only!r}; one of: {', '.join(COLUMNS)}.")
    if not 1 <= page <= 10_000:
        raise Invalid("page must be between 1 and 10000.")
    where, params = filters.where()
    clause = (" AND " + " AND ".join(where)) if where else ""
    counts = dict.fromkeys(COLUMNS, 0)
    for row in hub.store.query(f"SELECT t.status, COUNT(*) FROM task t WHERE 1 = 1{clause} GROUP BY t.status",
                               params):
        counts[row[0]] = row[1]
    columns: dict[str, list[Task]] = {}
    for status in [only] if only else COLUMNS:
        size, skip = (PAGE, (page - 1) * PAGE) if only else (CAP, 0)
        rows = hub.store.query(f"{SELECT} WHERE t.status = ?{clause} ORDER BY {SORTS[filters.sort]}"
                               " LIMIT ? OFFSET ?", (status, *params, size, skip)) if counts[status] else []
        columns[status] = rows_to_tasks(hub, rows)
    return Board(columns, counts, choices(hub))


def choices(hub: Hub) -> dict[str, list[str]]:
    """What the filters offer: the assignees, kinds and labels on the board."""
    labels: set[str] = set()
    for row in hub.store.query("SELECT DISTINCT labels FROM task WHERE labels != '[]'"):
        labels.update(json.loads(row[0]))
    return {"assignee": [r[0] for r in hub.store.query(
                "SELECT DISTINCT assignee FROM task WHERE assignee IS NOT NULL ORDER BY assignee")],
            "kind": [r[0] for r in hub.store.query("SELECT DISTINCT kind FROM task WHERE kind != '' ORDER BY kind")],
            "label": sorted(labels)}
