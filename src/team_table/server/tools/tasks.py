"""Tools of tasks: posting, the board, claiming (one, or the best for you), updating, details and comments,
reviews, reassigning and cancelling. A task's creator may reassign or cancel it, so whoever may create tasks
lists those two."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult

from team_table import claims, comments, reviews, tasks
from team_table.server.tools.calls import call, who
from team_table.server.tools.params import Id, Name, TaskId, TaskIds, Token
from team_table.server.tools.registry import DESTRUCTIVE, READ, WRITE, tool


@tool("create_task", WRITE, needs=("create_task",), identity="creator")
async def create_task(
    ctx: Context, *, title: str, creator: Name = "", token: Token = "", description: str = "",
    assignee: str = "", priority: str = "medium", kind: str = "", parent_id: Id | None = None,
    depends_on: TaskIds | None = None, reviewer: str = "", labels: list[str] | None = None,
    paths: list[str] | None = None,
) -> CallToolResult:
    """Post a task (pending). assignee reserves it; priority low|medium|high; kind (code, review, qa...);
    parent_id; depends_on: task ids to be done first; reviewer; labels; paths its claimer will reserve."""
    return await call(ctx, lambda h: tasks.create(
        h, who(h, ctx, creator, token), title, description, assignee, priority, kind=kind,
        parent_id=parent_id, depends_on=depends_on, reviewer=reviewer, labels=labels, paths=paths))


@tool("list_tasks", READ)
async def list_tasks(
    ctx: Context, agent_name: Name = "", token: Token = "", status: str = "", assignee: str = ""
) -> CallToolResult:
    """The task board, oldest first; filter by status and assignee."""
    return await call(ctx, lambda h: tasks.listing(h, status, assignee, caller=who(h, ctx, agent_name, token)))


@tool("claim_task", WRITE, needs=("claim_task",))
async def claim_task(ctx: Context, *, task_id: TaskId, agent_name: Name = "", token: Token = "") -> CallToolResult:
    """Take a pending task: it becomes in_progress with you as assignee. Exactly one claimer wins."""
    return await call(ctx, lambda h: claims.claim(h, who(h, ctx, agent_name, token), task_id))


@tool("next_task", WRITE, needs=("claim_task",))
async def next_task(ctx: Context, agent_name: Name = "", token: Token = "") -> CallToolResult:
    """Claim the best task for you: reserved for you or free, dependencies done, a kind that fits you, highest
    priority first; {"task": null} when there is none."""
    def work(h):
        found = claims.next_task(h, who(h, ctx, agent_name, token))
        return found if found is not None else {"task": None, "reason": claims.NOTHING_TO_DO}
    return await call(ctx, work)


@tool("update_task", WRITE, needs=("update_task", "update_any_task"))
async def update_task(
    ctx: Context, *, task_id: TaskId, status: str, agent_name: Name = "", token: Token = "", result: str = "",
    reason: str = "",
) -> CallToolResult:
    """Move a task you created or are doing (pending, in_progress, blocked, awaiting_review, done, cancelled)
    with a result; reopening a done task (pending) needs a reason."""
    return await call(ctx, lambda h: tasks.update(h, who(h, ctx, agent_name, token), task_id, status, result,
                                                  reason))


@tool("get_task", READ)
async def get_task(ctx: Context, *, task_id: TaskId, agent_name: Name = "", token: Token = "") -> CallToolResult:
    """One task with its comments, subtasks, dependencies and history."""
    return await call(ctx, lambda h: comments.detail(h, task_id, caller=who(h, ctx, agent_name, token)))


@tool("comment_task", WRITE, needs=("comment_task",))
async def comment_task(
    ctx: Context, *, task_id: TaskId, text: str, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Add a comment to a task; its creator, assignee and reviewer are told."""
    return await call(ctx, lambda h: comments.comment(h, who(h, ctx, agent_name, token), task_id, text))


@tool("review_task", WRITE, needs=("review_task",))
async def review_task(
    ctx: Context, *, task_id: TaskId, approve: bool, note: str = "", agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Give your verdict on a task awaiting review: approve (done) or send it back (in_progress) with a note."""
    return await call(ctx, lambda h: reviews.review(h, who(h, ctx, agent_name, token), task_id, approve, note))


@tool("reassign_task", WRITE, needs=("assign_task", "create_task"))
async def reassign_task(
    ctx: Context, *, task_id: TaskId, assignee: str, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Give a task to another member (its creator, or a lead)."""
    return await call(ctx, lambda h: tasks.reassign(h, who(h, ctx, agent_name, token), task_id, assignee))


@tool("cancel_task", DESTRUCTIVE, needs=("cancel_task", "create_task"))
async def cancel_task(ctx: Context, *, task_id: TaskId, agent_name: Name = "", token: Token = "") -> CallToolResult:
    """Cancel a task and its subtasks (what is done stays done). Returns the tasks cancelled."""
    return await call(ctx, lambda h: tasks.cancel(h, who(h, ctx, agent_name, token), task_id))
