"""Questions with answers: an agent asks the people something they answer in one tap (approve or deny, yes or
no, one of several options, a short text), with an optional deadline and default. The question travels as a
message (its thread carries the answer back, so a wait_for_messages of the asker wakes on it); it waits on the
people's Needs you until someone answers or the deadline applies the default.

A permission request of an agent the hub runs is a question too (kind `permission`, asked by the hub on the
agent's behalf, allow or deny, deny by default): its answer reaches the agent's thread, and whoever relays it to
the agent's client waits for it with `wait_for_answer`.
"""

from __future__ import annotations

import json
from datetime import timedelta

import anyio

from team_table import audit, events, limits, members
from team_table.clock import iso
from team_table.delivery import deliver
from team_table.errors import Conflict, Forbidden, Invalid, NotFound
from team_table.event_kinds import K, QuestionAnswered, QuestionAsked
from team_table.hub import Hub
from team_table.models import Caller, Question, QuestionStatus
from team_table.names import HUB_SENDER, check_name
from team_table.store import Tx, placeholders
from team_table.tasks import load as load_task

FIXED = {"approve": ["approve", "deny"], "yes_no": ["yes", "no"], "permission": ["allow", "deny"]}
KINDS = (*FIXED, "choice", "text")
MAX_OPTIONS, OPTION_SIZE, ANSWER_SIZE = 10, 100, 500
MIN_SECONDS, MAX_SECONDS = 1, 7 * 86_400
RECHECK = 1.0  # seconds: a relay looks at its question again even if no event woke it
ANSWERS = "resolve_escalation"  # who may answer: the people who decide escalations


def _options(kind: str, options: list[str] | None) -> list[str]:
    if kind not in KINDS:
        raise Invalid(f"Unknown kind {kind!r}; use one of: approve, yes_no, choice, text.")
    if kind in FIXED:
        return FIXED[kind]
    if kind == "text":
        return []
    chosen = [o.strip() for o in options or [] if isinstance(o, str)]
    if not 2 <= len(chosen) <= MAX_OPTIONS or len(set(chosen)) != len(chosen) \
            or not all(0 < len(o) <= OPTION_SIZE for o in chosen):
        raise Invalid(f"A choice needs 2 to {MAX_OPTIONS} different options of 1 to {OPTION_SIZE} characters.")
    return chosen


def _askable(conn: Tx, hub: Hub, to: str, asker: str) -> list[str]:
    """Who is asked: the people `to` names (a member, or role:NAME), or by default those escalations notify; never
    the asker itself."""
    if not to:
        notify = hub.team.escalation.notify
        names = set(notify.agents) | set(members.holding(conn, hub, notify.roles))
    elif to.startswith("role:"):
        role = to.removeprefix("role:")
        if role not in hub.team.all_roles():
            raise Invalid(f"Unknown role {role!r}.")
        names = set(members.holding(conn, hub, {role}))
    else:
        check_name(to, "to")
        names = {to}
    people = []
    for name in sorted(names - {HUB_SENDER, asker}):
        row = conn.execute("SELECT role FROM member WHERE name = ? AND status = 'active'", (name,)).fetchone()
        if row is not None and ANSWERS in hub.team.granted(hub.roles_of(name, row["role"])):
            people.append(name)
    if not people:
        raise NotFound(f"Nobody who may answer questions (the {ANSWERS} permission: person, lead, admin) is at the "
                       f"table{' as ' + to if to else ''}; ask without `to`, or ask again when one is.")
    return people


def ask(hub: Hub, caller: Caller, text: str, kind: str = "text", options: list[str] | None = None, to: str = "",
        timeout_seconds: float | None = None, default: str = "", task_id: int | None = None,
        details: dict | None = None) -> Question:
    """Ask the people; returns the question (its message_id is the thread the answer will arrive in)."""
    caller.require("send")
    if kind == "permission" and caller.name != HUB_SENDER:
        raise Forbidden("Permission questions are asked by the hub for the agents it runs; ask with another kind.")
    limits.text(text, hub.team.limits.sizes.message, "question")
    chosen = _options(kind, options)
    default = default.strip()
    if default and chosen and default not in chosen:
        raise Invalid(f"The default must be one of the options: {', '.join(chosen)}.")
    limits.text(default, ANSWER_SIZE, "default", required=False)
    if timeout_seconds is not None and not MIN_SECONDS <= timeout_seconds <= MAX_SECONDS:
        raise Invalid(f"timeout_seconds is between {MIN_SECONDS} and {MAX_SECONDS} (a week).")
    if default and timeout_seconds is None:
        raise Invalid("A default applies when the deadline passes: give timeout_seconds too.")
    now_at = hub.clock.now()
    now = iso(now_at)
    deadline = iso(now_at + timedelta(seconds=timeout_seconds)) if timeout_seconds is not None else None
    with hub.store.write() as conn:
        task = load_task(conn, task_id) if task_id else None
        people = _askable(conn, hub, to, caller.name)
        if caller.name != HUB_SENDER:
            limits.take(conn, hub, caller, "send_message")
        row = conn.execute(
            "INSERT INTO question (at, asker, kind, text, options, asked, default_answer, deadline, task_id, details)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (now, caller.name, kind, text, json.dumps(chosen), json.dumps(people), default or None, deadline,
             task_id, json.dumps(details) if details else None)).fetchone()
        qid = row["id"]
        words = _asking(qid, caller.name, text, chosen, deadline, default, task.title if task else None, task_id)
        root = None
        for person in people:
            sent = deliver(conn, now, caller.name, person, words, thread_id=root)
            root = root or sent.id
        conn.execute("UPDATE question SET message_id = ? WHERE id = ?", (root, qid))
        events.emit(conn, now, K.QUESTION, QuestionAsked(id=qid, asker=caller.name, kind=kind, status="open"),
                    to=people[0])
        audit.record(conn, now, caller.name, "ask", "question", qid,
                     {"kind": kind, "asked": people, "deadline": deadline, "task_id": task_id})
        return _load(conn, qid)


def _asking(qid: int, asker: str, text: str, options: list[str], deadline: str | None, default: str,
            title: str | None, task_id: int | None) -> str:
    about = f" about task {task_id} ({title})" if task_id else ""
    answers = " / ".join(options) if options else "a short text"
    until = f" Deadline {deadline}" + (f": then '{default}' applies." if default else ": then it lapses.") \
        if deadline else ""
    return (f"[QUESTION {qid}] {asker} asks{about}: {text}\nAnswer ({answers}) on the dashboard's Needs you, or "
            f"with answer_question({qid}, ...).{until}")


def answer(hub: Hub, caller: Caller, question_id: int, given: str) -> Question:
    """A person's answer: recorded with who gave it, and sent to the asker in the question's thread."""
    caller.require(ANSWERS)
    given = given.strip() if isinstance(given, str) else ""
    now = hub.now()
    with hub.store.write() as conn:
        found = conn.execute("SELECT * FROM question WHERE id = ?", (question_id,)).fetchone()
        if found is None:
            raise NotFound(f"No question {question_id}.")
        options = json.loads(found["options"])
        if options and given not in options:
            raise Invalid(f"Answer question {question_id} with one of: {', '.join(options)}.")
        limits.text(given, ANSWER_SIZE, "answer")
        if not conn.execute("UPDATE question SET status = 'answered', answer = ?, answered_by = ?, answered_at = ?"
                            " WHERE id = ? AND status = 'open'", (given, caller.name, now, question_id)).rowcount:
            raise Conflict(f"Question {question_id} was already {found['status']}"
                           + (f" ({found['answer']!r}, by {found['answered_by']})." if found["answer"] else "."))
        _close(conn, found, now, caller.name, f"[ANSWER {question_id}] {caller.name}: {given}")
        audit.record(conn, now, caller.name, "answer_question", "question", question_id, {"answer": given})
        return _load(conn, question_id)


def _close(conn: Tx, row, now: str, by: str, words: str) -> None:
    """Tell the asker (in the question's thread), mark the question's messages read for every person asked, and
    say that it closed (a relay waiting for it, and every open Needs you page, hear it)."""
    details = json.loads(row["details"]) if row["details"] else {}
    to = row["asker"] if row["asker"] != HUB_SENDER else details.get("agent")
    sender = by if by != to else HUB_SENDER
    if to:
        deliver(conn, now, sender, to, words, reply_to=row["message_id"])
    if row["message_id"]:
        conn.execute("UPDATE delivery SET read_at = COALESCE(read_at, ?) WHERE message_id IN (SELECT id FROM message"
                     " WHERE (id = ? OR thread_id = ?) AND sender = ?)",
                     (now, row["message_id"], row["message_id"], row["asker"]))
    events.emit(conn, now, K.QUESTION_ANSWERED, QuestionAnswered(id=row["id"], by=by), to=to or by)


def expire_due(hub: Hub) -> list[int]:
    """Questions whose deadline passed: the default applies (said so, to the asker), or they lapse."""
    now = hub.now()
    if not hub.store.query("SELECT 1 FROM question WHERE status = 'open' AND deadline IS NOT NULL AND deadline <= ?"
                           " LIMIT 1", (now,)):
        return []
    done = []
    with hub.store.write() as conn:
        for row in conn.execute("SELECT * FROM question WHERE status = 'open' AND deadline IS NOT NULL"
                                " AND deadline <= ? ORDER BY id", (now,)).fetchall():
            default = row["default_answer"]
            status = QuestionStatus.DEFAULTED if default else QuestionStatus.LAPSED
            if not conn.execute("UPDATE question SET status = ?, answer = ?, answered_by = ?, answered_at = ?"
                                " WHERE id = ? AND status = 'open'",
                                (status.value, default, HUB_SENDER, now, row["id"])).rowcount:
                continue
            words = (f"[ANSWER {row['id']}] Nobody answered by the deadline: the default '{default}' applies."
                     if default else f"[NO ANSWER {row['id']}] Nobody answered by the deadline, and there was no "
                                     "default: decide without it, or ask again.")
            _close(conn, row, now, HUB_SENDER, words)
            audit.record(conn, now, HUB_SENDER, "question_deadline", "question", row["id"],
                         {"status": status.value, "answer": default})
            done.append(row["id"])
    return done


def next_deadline(hub: Hub) -> str | None:
    rows = hub.store.query("SELECT MIN(deadline) FROM question WHERE status = 'open' AND deadline IS NOT NULL")
    return rows[0][0] if rows else None


def _load(source: Tx | Hub, question_id: int) -> Question:
    rows = source.store.query("SELECT * FROM question WHERE id = ?", (question_id,)) if isinstance(source, Hub) \
        else source.execute("SELECT * FROM question WHERE id = ?", (question_id,)).fetchall()
    if not rows:
        raise NotFound(f"No question {question_id}.")
    return _question(rows[0])


def _question(row) -> Question:
    return Question(**{**dict(row), "options": json.loads(row["options"]), "asked": json.loads(row["asked"]),
                       "details": json.loads(row["details"]) if row["details"] else None})


def get(hub: Hub, caller: Caller, question_id: int) -> Question:
    """One question: for its asker and for the people who may answer."""
    found = _load(hub, question_id)
    if found.asker != caller.name and not caller.may(ANSWERS):
        raise Forbidden(f"Question {question_id} is {found.asker}'s; only it and the people may read it.")
    return found


def listing(hub: Hub, caller: Caller, status: str = "open", *, limit: int = 200) -> list[Question]:
    """Questions, the oldest open first (or the newest closed first); for the people who may answer."""
    caller.require(ANSWERS)
    if status not in ("open", "closed", ""):
        raise Invalid("status is open, closed, or empty for all.")
    where = {"open": " WHERE status = 'open'", "closed": " WHERE status != 'open'", "": ""}[status]
    order = "id" if status == "open" else "id DESC"
    return [_question(r) for r in hub.store.query(f"SELECT * FROM question{where} ORDER BY {order} LIMIT ?",
                                                  (limit,))]


def by_ids(hub: Hub, ids: list[int]) -> list[Question]:
    if not ids:
        return []
    return [_question(r) for r in hub.store.query(f"SELECT * FROM question WHERE id IN ({placeholders(ids)})", ids)]


def ask_permission(hub: Hub, agent: str, tool: str, description: str, preview: str = "", *,
                   task_id: int | None = None, timeout_seconds: float = 300, default: str = "deny") -> Question:
    """A permission request of an agent the hub runs, as a question to the people (asked by the hub)."""
    text = f"{agent} asks to use {tool}: {description}"[: hub.team.limits.sizes.message]
    return ask(hub, hub.itself(), text, "permission", to="", timeout_seconds=timeout_seconds, default=default,
               task_id=task_id, details={"agent": agent, "tool": tool, "description": description,
                                         "input": preview[:2000]})


async def wait_for_answer(hub: Hub, fanout, run, question_id: int, seconds: float) -> Question:
    """The question once it is closed (answered, defaulted or lapsed), or as it is after `seconds`: what relays
    an answer back to where the question came from (a client's permission prompt) waits on."""
    sub = fanout.subscribe(HUB_SENDER, everything=True)
    try:
        with anyio.move_on_after(seconds):
            while True:
                found = await run(lambda: _load(hub, question_id))
                if found.status != QuestionStatus.OPEN:
                    return found
                with anyio.move_on_after(RECHECK):  # woken by the answer's event; looked at again in any case
                    while True:
                        event = await sub.queue.get()
                        if event is None or (event.kind == K.QUESTION_ANSWERED
                                             and event.data.get("id") == question_id):
                            break
        return await run(lambda: _load(hub, question_id))
    finally:
        fanout.unsubscribe(sub)
