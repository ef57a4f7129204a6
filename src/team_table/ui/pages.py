"""The dashboard's pages (GET): what each one reads, through the same domain calls the tools use, as the
signed-in person (so a page shows what that member's tools would)."""

from __future__ import annotations

from collections import defaultdict

from starlette.requests import Request
from starlette.responses import Response

from team_table import audit, comments, conversations, escalations, limits, members, tasks
from team_table.errors import NotFound
from team_table.models import TaskStatus
from team_table.names import check_name
from team_table.store import placeholders
from team_table.ui.sessions import Session
from team_table.ui.web import Dashboard, page, path_id

COLUMNS = [status.value for status in TaskStatus]
CLOSED_SHOWN = 30  # done and cancelled tasks shown on the board (the newest)


def _number(request: Request, key: str) -> int | None:
    raw = request.query_params.get(key, "")
    return limits.whole(raw, key) if raw else None


@page
async def needs_you(ui: Dashboard, request: Request, session: Session) -> Response:
    caller = session.caller

    def read():
        hub = ui.hub.pinned()
        waiting = escalations.listing(hub, caller, "open", oldest_first=True)  # it waited longest
        decided = escalations.listing(hub, caller, "resolved")[:20]
        ids = [e.message_id for e in waiting + decided if e.message_id is not None]
        texts = {r["id"]: r["content"] for r in hub.store.query(
            f"SELECT id, content FROM message WHERE id IN ({placeholders(ids)})", ids)} if ids else {}
        return waiting, decided, texts

    waiting, decided, texts = await ui.run(read)
    return await ui.render(request, "needs_you.html", session, waiting=waiting, decided=decided, texts=texts)


@page
async def board(ui: Dashboard, request: Request, session: Session) -> Response:
    wanted = {key: request.query_params.get(key, "") for key in ("assignee", "kind", "label")}
    everything = await ui.run(lambda: tasks.listing(ui.hub.pinned(), caller=session.caller))
    shown = [t for t in everything
             if (not wanted["assignee"] or t.assignee == wanted["assignee"])
             and (not wanted["kind"] or t.kind == wanted["kind"])
             and (not wanted["label"] or wanted["label"] in t.labels)]
    columns: dict[str, list] = {status: [] for status in COLUMNS}
    for task in shown:
        columns[task.status.value].append(task)
    counts = {status: len(column) for status, column in columns.items()}
    for closed in ("done", "cancelled"):
        columns[closed] = sorted(columns[closed], key=lambda t: t.updated_at, reverse=True)[:CLOSED_SHOWN]
    choices = {"assignee": sorted({t.assignee for t in everything if t.assignee}),
               "kind": sorted({t.kind for t in everything if t.kind}),
               "label": sorted({label for t in everything for label in t.labels})}
    return await ui.render(request, "board.html", session, columns=columns, counts=counts, wanted=wanted,
                           choices=choices, total=len(shown))


@page
async def task_page(ui: Dashboard, request: Request, session: Session) -> Response:
    task_id = path_id(request, "task_id")

    def read():
        hub = ui.hub.pinned()
        detail = comments.detail(hub, task_id, caller=session.caller)
        runs = hub.store.query("SELECT * FROM workflow_run WHERE task_id = ? ORDER BY id DESC LIMIT 50", (task_id,))
        people = [m.name for m in members.listing(hub, caller=session.caller)]
        return detail, [dict(r) for r in runs], people

    detail, runs, people = await ui.run(read)
    return await ui.render(request, "task.html", session, task=detail, runs=runs, people=people)


@page
async def team(ui: Dashboard, request: Request, session: Session) -> Response:
    def read():
        hub = ui.hub.pinned()
        found = members.listing(hub, caller=session.caller)
        held = defaultdict(list)
        for row in hub.store.query("SELECT id, assignee, status FROM task WHERE assignee IS NOT NULL"
                                   " AND status IN ('in_progress', 'blocked', 'awaiting_review') ORDER BY id"):
            held[row["assignee"]].append((row["id"], row["status"]))
        return found, held

    found, held = await ui.run(read)
    return await ui.render(request, "team.html", session, members=found, held=held)


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
        lines = conversations.read_thread(hub, caller, thread) if thread else None
        in_thread = bool(lines) and any(caller.name in (m.sender, m.recipient) for m in lines)
        threads = conversations.threads_for(hub, caller) if not everyone else []
        traffic = conversations.traffic(hub, caller, before_id=before) if everyone else []
        people = [m.name for m in members.listing(hub, caller=caller) if m.name != caller.name]
        return lines, in_thread, threads, traffic, people, sorted(hub.team.all_roles())

    lines, in_thread, threads, traffic, people, roles = await ui.run(read)
    return await ui.render(request, "messages.html", session, thread=thread, lines=lines, in_thread=in_thread,
                           threads=threads,
                           everyone=everyone, traffic=traffic, people=people, roles=roles,
                           may_read_all=caller.may("read_messages"),
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
