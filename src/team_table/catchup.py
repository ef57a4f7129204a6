"""catch_up: one compact answer for an agent coming back to work, instead of reading every inbox and board.

Headers, not bodies: unread messages grouped by thread (who, how many, the first words of the latest), the
tasks that are the agent's or changed for it since its last catch_up, its escalations, its path reservations and
the reservations of others in its way (when there are any), and who is active.
Nothing is marked read; the time of the call is kept as the next one's "since".
"""

from __future__ import annotations

from team_table import members, presence, reservation_views
from team_table.delivery_states import UNREAD
from team_table.hub import Hub
from team_table.message_kinds import TASK_NOTICES
from team_table.models import Caller
from team_table.store import placeholders
from team_table.task_states import TO_DO_SQL, S

HEAD = 80  # characters of a message shown
TITLE = 32  # characters of a task title shown
THREADS = 4  # threads shown with a header (the latest); the others are counted by sender
SUMMARIZED = 500  # the newest unread messages the headers are made from (a larger backlog is counted, not read)


def _short(text: str, size: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


def catch_up(hub: Hub, caller: Caller) -> dict:
    """What changed for the caller since its last catch_up (since it joined, the first time)."""
    me = caller.name
    row = hub.store.query("SELECT caught_up_at, registered_at FROM member WHERE name = ?", (me,))
    since = (row[0]["caught_up_at"] or row[0]["registered_at"]) if row else ""
    now = hub.now()
    answer = {"since": since, **_unread(hub, me), **_tasks(hub, me, since),
              **_escalations(hub, me, since), **reservation_views.for_catch_up(hub, me),
              "active": [m.name for m in members.listing(hub) if m.presence == presence.ACTIVE and m.name != me]}
    with hub.store.write() as conn:
        conn.execute("UPDATE member SET caught_up_at = ? WHERE name = ?", (now, me))
    return answer


def _unread(hub: Hub, me: str) -> dict:
    """Unread messages by thread: a header for the busiest threads, the latest first among equals ("#12 bob (3):
    first words"), and the rest counted by sender. The hub's notices about tasks are only counted: the tasks and
    reviews below say the same."""
    unread = (f" FROM delivery d {hub.store.dialect.unread_index} JOIN message m ON m.id = d.message_id"
              f" WHERE d.agent = ? AND {UNREAD}")
    rows = hub.store.query("SELECT m.id, COALESCE(m.thread_id, m.id) AS thread, m.sender, m.kind,"
                           f" SUBSTR(m.content, 1, {4 * HEAD}) AS content{unread} ORDER BY m.id DESC LIMIT ?",
                           (me, SUMMARIZED))[::-1]
    count, notices = len(rows), sum(r["kind"] in TASK_NOTICES for r in rows)
    if count == SUMMARIZED:  # a backlog: counted whole, its newest summarized
        kinds = sorted(TASK_NOTICES)
        count, notices = hub.store.query(f"SELECT COUNT(*), COUNT(CASE WHEN m.kind IN ({placeholders(kinds)})"
                                         f" THEN 1 END){unread}", (*kinds, me))[0]
    threads: dict[int, dict] = {}
    for r in rows:
        if r["kind"] in TASK_NOTICES:
            continue
        thread = threads.setdefault(r["thread"], {"senders": [], "n": 0})
        if r["sender"] not in thread["senders"]:
            thread["senders"].append(r["sender"])
        thread["n"] += 1
        thread["last"], thread["at"] = _short(r["content"], HEAD), r["id"]
    latest = sorted(threads.items(), key=lambda item: (item[1]["n"], item[1]["at"]), reverse=True)
    shown = [f"#{tid} {', '.join(t['senders'])}" + (f" ({t['n']})" if t["n"] > 1 else "") + f": {t['last']}"
             for tid, t in latest[:THREADS]]
    more: dict[str, int] = {}
    for _, t in latest[THREADS:]:
        for sender in t["senders"]:
            more[sender] = more.get(sender, 0) + 1
    return {"unread": count, **({"notices": notices} if notices else {}), "threads": shown,
            **({"more_threads": more} if more else {})}


def _tasks(hub: Hub, me: str, since: str) -> dict:
    """The caller's open tasks ("#7 in_progress: title"), reviews waiting for it, and its others that changed."""
    def rows(sql: str, *params) -> list:
        return hub.store.query(sql, params)

    mine = rows(f"SELECT id, status, title FROM task WHERE assignee = ? AND status IN {TO_DO_SQL} ORDER BY id", me)
    review = rows(f"SELECT id, title FROM task WHERE reviewer = ? AND status = '{S.AWAITING_REVIEW}' ORDER BY id", me)
    changed = rows("SELECT id, status FROM task WHERE updated_at > ? AND (creator = ? OR assignee = ?)"
                   f" AND NOT (assignee = ? AND status IN {TO_DO_SQL}) ORDER BY id",
                   since, me, me, me)
    return {"tasks": [f"#{r['id']} {r['status']}: {_short(r['title'], TITLE)}" for r in mine],
            "review": [f"#{r['id']}: {_short(r['title'], TITLE)}" for r in review],
            "changed": [f"#{r['id']} {r['status']}" for r in changed]}


def _escalations(hub: Hub, me: str, since: str) -> dict:
    """The caller's open escalations, and those decided since ("#3 boss: the note")."""
    open_ = hub.store.query("SELECT id, rule FROM escalation WHERE status = 'open' AND (sender = ? OR agent = ?)"
                            " ORDER BY id", (me, me))
    decided = hub.store.query("SELECT id, resolved_by, note FROM escalation WHERE status = 'resolved'"
                              " AND resolved_at > ? AND (sender = ? OR agent = ?) ORDER BY id", (since, me, me))
    return {"escalations": [f"#{r['id']} open ({r['rule']})" for r in open_]
            + [f"#{r['id']} {r['resolved_by']}: {_short(r['note'] or 'resolved', HEAD)}" for r in decided]}
