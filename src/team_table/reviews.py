"""Reviews: a task awaiting review is approved (done) or sent back to its author with a note."""

from __future__ import annotations

from team_table import audit, events, limits, notices, receipts, task_paths
from team_table.errors import Conflict, Forbidden, Invalid
from team_table.event_kinds import K, TaskUpdated
from team_table.hub import Hub
from team_table.models import Caller, Task
from team_table.task_states import TaskStatus
from team_table.tasks import load, load_for_update, workers


def refusal(caller: Caller, task: Task, worked: set[str]) -> str | None:
    """Why `caller` may not give a verdict on `task` (awaiting review), or None when it may."""
    if not caller.may("review_task"):
        return f"Reviewing needs the review_task permission, which {caller.name} lacks."
    if task.reviewer and task.reviewer != caller.name:
        return f"Task {task.id} is for {task.reviewer} to review."
    if caller.name == task.assignee or caller.name in worked:
        return f"{caller.name} worked on task {task.id}; someone who did not reviews it."
    return None


def review(hub: Hub, caller: Caller, task_id: int, approve: bool, note: str = "") -> Task:
    """The verdict of the task's reviewer (or, with none named, of anyone with review_task but its author)."""
    caller.require("review_task")
    limits.text(note, hub.team.limits.sizes.task_result, "review note", required=False)
    if not approve and not note.strip():
        raise Invalid("Sending work back needs a note saying what to change.")
    now = hub.now()
    with hub.store.write() as conn:
        task = load_for_update(conn, hub, task_id)
        if task.status != TaskStatus.AWAITING_REVIEW:
            raise Conflict(f"Task {task_id} is {task.status}, not awaiting_review: there is nothing to review.")
        why = refusal(caller, task, workers(conn, task_id))
        if why:
            raise Forbidden(why)
        status = TaskStatus.DONE if approve else TaskStatus.IN_PROGRESS
        conn.execute("UPDATE task SET status = ?, updated_at = ?, review_rounds = review_rounds + ? WHERE id = ?",
                     (status.value, now, 0 if approve else 1, task_id))
        if approve:
            task_paths.free(conn, hub, task_id, now, by=caller.name, because=f"task {task_id} is done")
        if note:
            conn.execute("INSERT INTO task_comment (task_id, author, text, at) VALUES (?, ?, ?, ?)",
                         (task_id, caller.name, f"{'Approved' if approve else 'Changes requested'}: {note}", now))
        audit.record(conn, now, caller.name, "review_task", "task", task_id,
                     {"approve": approve, "note": note, "status": status.value})
        events.emit(conn, now, K.TASK_UPDATED, TaskUpdated(
            id=task_id, status=status.value, was=TaskStatus.AWAITING_REVIEW.value, assignee=task.assignee,
            by=caller.name, review="approved" if approve else "rework",
            round=task.review_rounds + (0 if approve else 1), note=note), exclude=caller.name)
        receipts.acted_on_task(conn, now, caller.name, task_id, receipts.Acted.REVIEW)
        if not approve:
            notices.sent_back(conn, hub, now, task.model_dump(), caller.name, note)
        return load(conn, task_id)
