"""The dashboard's pages (GET): what each one reads, through the same domain calls the tools use, as the
signed-in person (so a page shows what that member's tools would)."""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from team_table import (
    audit,
    board,
    comments,
    conversations,
    escalations,
    limits,
    members,
    questions,
    receipts,
    reservation_views,
    reviews,
    revocations,
    tasks,
)
from team_table.errors import NotFound
from team_table.names import check_name
from team_table.runner import runs
from team_table.store import placeholders
from team_table.task_states import WORKING_SQL
from team_table.ui import wording
from team_table.ui.sessions import Session
from team_table.ui.web import Dashboard, page, path_id


def _number(request: Request, key: str) -> int | None:
    raw = request.query_params.get(key, "")
    return limits.whole(raw, key) if raw else None


@page
async def needs_you(ui: Dashboard, request: Request, session: Session) -> Response:
    caller = session.caller
    if not caller.may("resolve_escalation"):
        return await ui.render(request, "needs_you.html", session, waiting=[], questions=[], decided=[], texts={},
                               threads={}, tasks={}, people=[])

    def read():
        hub = ui.hub.pinned()
        waiting = escalations.listing(hub, caller, "open", oldest_first=True)  # it waited longest
        asked = questions.listing(hub, caller, "open")
        closed = escalations.listing(hub, caller, "resolved")[:20]
        answered = questions.listing(hub, caller, "closed", limit=20)
        ids = [e.message_id for e in waiting + closed if e.message_id is not None]
        found = hub.store.query(f"SELECT id, content, thread_id FROM message WHERE id IN ({placeholders(ids)})",
                                ids) if ids else []
        task_ids = [e.task_id for e in waiting if e.task_id]
        about = {t.id: t for t in tasks.rows_to_tasks(hub, hub.store.query(
            f"{tasks.SELECT} WHERE t.id IN ({placeholders(task_ids)})", task_ids))} if task_ids else {}
        people = [m.name for m in members.listing(hub, caller=caller)] if task_ids else []
        return waiting, asked, _decided(closed, answered), found, about, people

    waiting, asked, decided, found, about, people = await ui.run(read)
    return await ui.render(request, "needs_you.html", session, waiting=waiting, questions=asked, decided=decided,
                           texts={r["id"]: r["content"] for r in found},
                           threads={r["id"]: r["thread_id"] or r["id"] for r in found}, tasks=about, people=people)


def _decided(closed: list, answered: list) -> list[dict]:
    """Escalations resolved and questions closed, the newest first, in the words of the Decided table."""
    rows = [{"what": f"Escalation {e.id} ({e.rule})", "asked_by": e.sender, "by": e.resolved_by or "",
             "decision": e.note or "", "at": e.resolved_at or e.at} for e in closed]
    for q in answered:
        said = {"defaulted": f"{q.answer} (the default: nobody answered by the deadline)",
                "lapsed": "nobody answered by the deadline"}.get(q.status.value, q.answer or "")
        rows.append({"what": f"Question {q.id}: {q.text[:80]}", "asked_by": q.asker, "by": q.answered_by or "",
                     "decision": said, "at": q.answered_at or q.at})
    return sorted(rows, key=lambda r: r["at"], reverse=True)[:30]


@page
async def board_page(ui: Dashboard, request: Request, session: Session) -> Response:
    query = request.query_params
    wanted = {key: query.get(key, "").strip() for key in ("assignee", "kind", "label", "q")}
    wanted["sort"] = query.get("sort", "") or "priority"
    filters = board.Filters(**wanted)
    only, page_no = query.get("column", ""), _number(request, "page") or 1
    found = await ui.run(lambda: board.read(ui.hub.pinned(), filters, only=only, page=page_no))
    kept = urlencode({k: v for k, v in wanted.items() if v and not (k == "sort" and v == "priority")})
    page_count = max(1, -(-found.counts.get(only, 0) // board.PAGE)) if only else 1
    return await ui.render(request, "board.html", session, board=found, wanted=wanted, only=only, page=page_no,
                           page_count=page_count, query=kept, filtered=any(v for k, v in wanted.items() if k != "sort"))


@page
async def task_page(ui: Dashboard, request: Request, session: Session) -> Response:
    task_id = path_id(request, "task_id")

    def read():
        hub = ui.hub.pinned()
        detail = comments.detail(hub, task_id, caller=session.caller)
        runs = hub.store.query("SELECT * FROM workflow_run WHERE task_id = ? ORDER BY id DESC LIMIT 50", (task_id,))
        people = [m.name for m in members.listing(hub, caller=session.caller)]
        thread = hub.store.query("SELECT thread_id FROM task WHERE id = ?", (task_id,))
        why = reviews.refusal(session.caller, detail, tasks.workers(hub, task_id))
        return (detail, [dict(r) for r in runs], people, thread[0][0] if thread else None, why,
                reservation_views.of_task(hub, task_id))

    detail, runs, people, thread, why, reserved = await ui.run(read)
    if not session.caller.may("review_task"):
        why = wording.lacking(ui.hub.team, "review_task", session.caller.roles)
    return await ui.render(request, "task.html", session, task=detail, runs=runs, people=people, thread=thread,
                           review_refusal=why, reserved=reserved)


@page
async def team(ui: Dashboard, request: Request, session: Session) -> Response:
    def read():
        hub = ui.hub.pinned()
        found = members.listing(hub, caller=session.caller)
        held = defaultdict(list)
        for row in hub.store.query("SELECT id, assignee, status FROM task WHERE assignee IS NOT NULL"
                                   f" AND status IN {WORKING_SQL} ORDER BY id"):
            held[row["assignee"]].append((row["id"], row["status"]))
        paths = reservation_views.held_by(hub, [m.name for m in found])
        hearing = receipts.standing(hub.store.query, [m.name for m in found])
        return found, held, paths, revocations.revoked(hub), hearing, runs.listing(hub)

    found, held, paths, kept_out, hearing, running = await ui.run(read)
    return await ui.render(request, "team.html", session, members=found, held=held, paths=paths, revoked=kept_out,
                           hearing=hearing, runs=running)


@page
async def revoke_confirm(ui: Dashboard, request: Request, session: Session) -> Response:
    name = request.path_params["name"]
    session.caller.require("revoke_tokens")
    check_name(name)
    found = await ui.run(lambda: [m for m in members.listing(ui.hub.pinned(), caller=session.caller)
                                  if m.name == name])
    if not found:
        raise NotFound(f"No member named {name} is at the table.")
    return await ui.render(request, "revoke.html", session, member=found[0])


@page
async def messages_page(ui: Dashboard, request: Request, session: Session) -> Response:
    caller = session.caller
    thread = _number(request, "thread")
    everyone = request.query_params.get("all") == "1"
    before = _number(request, "before")

    def read():
        hub = ui.hub.pinned()
        lines = conversations.read_thread(hub, caller, thread, before=before) if thread else None
        in_thread = bool(lines) and any(caller.name in (m.sender, m.recipient) for m in lines)
        threads = conversations.threads_for(hub, caller, before=before) if not everyone and not thread else []
        traffic = conversations.traffic(hub, caller, before_id=before) if everyone and not thread else []
        people = [m.name for m in members.listing(hub, caller=caller) if m.name != caller.name]
        return lines, in_thread, threads, traffic, people, sorted(hub.team.all_roles())

    lines, in_thread, threads, traffic, people, roles = await ui.run(read)
    return await ui.render(request, "messages.html", session, thread=thread, lines=lines, in_thread=in_thread,
                           threads=threads, before=before,
                           everyone=everyone, traffic=traffic, people=people, roles=roles,
                           may_read_all=caller.may("read_messages"),
                           earlier=lines[0].id if lines and len(lines) == conversations.PAGE else None,
                           older_threads=threads[-1].last_id if len(threads) == 50 else None,
                           older=traffic[-1].id if len(traffic) == conversations.PAGE else None)


@page
async def workflows_page(ui: Dashboard, request: Request, session: Session) -> Response:
    library, reloader = ui.rt.library, ui.rt.reloader
    flows = sorted((library.workflows if library else {}).values(), key=lambda w: w.name)

    def read():
        hub = ui.hub.pinned()
        runs = {w.name: [dict(r) for r in hub.store.query(
            "SELECT * FROM workflow_run WHERE workflow = ? ORDER BY id DESC LIMIT 5", (w.name,))] for w in flows}
        raised = {(r["rule"], r["at"]): r["id"] for r in hub.store.query(
            "SELECT id, rule, at FROM escalation WHERE rule LIKE 'workflow:%' ORDER BY id DESC LIMIT 500")}
        return runs, raised

    runs, raised = await ui.run(read)
    problems = [error for error in (reloader.error if reloader else None, library.error if library else None)
                if error is not None]
    return await ui.render(request, "workflows.html", session, flows=flows, runs=runs, raised=raised,
                           problems=problems, folder=library.folder if library else None)


@page
async def audit_page(ui: Dashboard, request: Request, session: Session) -> Response:
    wanted = {key: request.query_params.get(key, "").strip() for key in ("agent", "action", "since")}
    before = _number(request, "before")
    entries = await ui.run(lambda: audit.entries(ui.hub.pinned(), session.caller, wanted["agent"], wanted["action"],
                                                 wanted["since"], limit=50, before_id=before))
    return await ui.render(request, "audit.html", session, entries=entries, wanted=wanted,
                           older=entries[-1].id if len(entries) == 50 else None)
