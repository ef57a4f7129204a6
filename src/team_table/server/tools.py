"""The tools: the 18 of team-table 0.2.1 (same names and parameters) and the hub's own. Each adapts its arguments
to one domain call; the process's hub comes from the server's lifespan (`Seat`), so these functions are defined
once and shared by every server the process builds."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from team_table import audit, claims, comments, context, escalations, members, messages, reviews, tasks
from team_table.errors import RateLimited, Unauthorized
from team_table.hub import Hub
from team_table.models import Caller
from team_table.server.boundary import answer
from team_table.server.identity import BindingSource, resolve

if TYPE_CHECKING:  # the network hub's; a stdio server never loads them
    from team_table.server.guard import FailedAuth
    from team_table.server.metrics import Metrics

# Runs a sync callable off or on the event loop: inline for stdio, a worker thread for network clients.
Runner = Callable[[Callable[[], Any]], Awaitable[Any]]

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)

MAX_INT = 2**63 - 1  # what the database holds; anything larger is refused as invalid, not crashed on
Name = Annotated[str, Field(description="Your agent name (may be left out when the connection is bound to you).")]
Token = Annotated[str, Field(description="Your token from register (may be left out when bound).")]
TaskId = Annotated[int, Field(ge=1, le=MAX_INT, description="The task's id.")]
MessageId = Annotated[int, Field(ge=1, le=MAX_INT, description="The message's id.")]
EscalationId = Annotated[int, Field(ge=1, le=MAX_INT, description="The escalation's id.")]
TaskIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_INT)]], Field(max_length=100)]


async def inline(work: Callable[[], Any]) -> Any:
    return work()


@dataclass
class Seat:
    """What every tool call of one server reaches: the hub, who the connection is bound to, how to run work."""

    hub: Hub
    binding: BindingSource
    run: Runner = inline
    metrics: Metrics | None = None
    failures: FailedAuth | None = None  # network hubs: failed authentications are throttled per address


def _seat(ctx: Context) -> Seat:
    return ctx.request_context.lifespan_context


async def _call(ctx: Context, tool: str, work: Callable[[Hub], Any]) -> CallToolResult:
    seat = _seat(ctx)
    start = time.perf_counter()
    pinned = seat.hub.pinned()  # the whole call sees one config, even if a reload swaps it meanwhile
    result, outcome = await seat.run(lambda: answer(tool, lambda: work(pinned)))
    if seat.metrics is not None:
        seat.metrics.observe_tool(tool, outcome, time.perf_counter() - start)
    return result


def _who(hub: Hub, ctx: Context, name: str, token: str) -> Caller:
    """The authenticated caller. Over HTTP a failed authentication counts against the client's address, as a bad
    bearer token does, and an address past the limit is told to wait; a valid token is never held up."""
    seat = _seat(ctx)
    try:
        return resolve(hub, seat.binding(ctx), name, token)
    except Unauthorized:
        client = _client(ctx) if seat.failures is not None else None
        if client is not None:
            if wait := seat.failures.blocked(client):
                raise RateLimited(f"Too many failed authentications from this address; try again in {wait:.0f} s.",
                                  wait) from None
            seat.failures.failed(client)
        raise


def _client(ctx: Context) -> str | None:
    request = ctx.request_context.request
    address = getattr(request, "client", None)
    return address.host if address is not None else None


TOOLS: list[tuple[Callable[..., Any], ToolAnnotations]] = []


def tool(annotations: ToolAnnotations) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        TOOLS.append((fn, annotations))
        return fn

    return add


@functools.cache
def built() -> tuple[Tool, ...]:
    """The tools with their schemas, built once per process and shared by every server."""
    return tuple(Tool.from_function(fn, annotations=annotations) for fn, annotations in TOOLS)


@tool(WRITE)
async def register(
    ctx: Context, name: Name = "", role: str = "agent",
    capabilities: Annotated[str | list[str], Field(description='e.g. ["python", "review"] (a JSON array, as a '
                                                               "list or as text)")] = "[]",
    token: Token = "",
) -> CallToolResult:
    """Join the team table once, before anything else. Returns your token: pass it to every other tool.

    Re-registering a name that is at the table needs its current token and issues a new one (the old one
    stops working)."""
    def work(h):
        bound = _seat(ctx).binding(ctx)
        return members.register(h, name or (bound.agent if bound else ""), role, capabilities,
                                token or (bound.token if bound else ""))
    return await _call(ctx, "register", work)


@tool(WRITE)
async def deregister(ctx: Context, name: Name = "", token: Token = "") -> CallToolResult:
    """Leave the table: you become inactive and your token stops working. You may register again later."""
    return await _call(ctx, "deregister", lambda h: members.deregister(h, _who(h, ctx, name, token)))


@tool(READ)
async def list_members(
    ctx: Context, agent_name: Name = "", token: Token = "", include_inactive: bool = False
) -> CallToolResult:
    """See who is at the table: name, role, capabilities, status, presence and last seen."""
    return await _call(ctx, "list_members", lambda h: members.listing(h, include_inactive,
                                                                      caller=_who(h, ctx, agent_name, token)))


@tool(WRITE)
async def heartbeat(ctx: Context, name: Name = "", token: Token = "") -> CallToolResult:
    """Tell the table you are still working (updates last_heartbeat)."""
    return await _call(ctx, "heartbeat", lambda h: members.heartbeat(h, _who(h, ctx, name, token)))


@tool(WRITE)
async def send_message(
    ctx: Context, *, sender: Name = "", token: Token = "", recipient: str, content: str
) -> CallToolResult:
    """Send a direct message to one member (recipient '*' broadcasts to everyone)."""
    return await _call(ctx, "send_message",
                       lambda h: messages.send(h, _who(h, ctx, sender, token), recipient, content))


@tool(WRITE)
async def get_messages(
    ctx: Context, agent_name: Name = "", token: Token = "", include_read: bool = False,
    include_archived: bool = False,
) -> CallToolResult:
    """Read your inbox: unread direct messages and broadcasts, oldest first. Each is returned once, then
    marked read; include_read=true lists read ones too, include_archived=true archived ones."""
    return await _call(ctx, "get_messages", lambda h: messages.inbox(
        h, _who(h, ctx, agent_name, token), include_read, include_archived))


@tool(WRITE)
async def broadcast(ctx: Context, *, sender: Name = "", token: Token = "", content: str) -> CallToolResult:
    """Send one message to every other member at the table."""
    return await _call(ctx, "broadcast", lambda h: messages.broadcast(h, _who(h, ctx, sender, token), content))


@tool(DESTRUCTIVE)
async def delete_message(
    ctx: Context, *, message_id: MessageId, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Delete a message you sent or received (a broadcast: from your inbox only)."""
    return await _call(ctx, "delete_message",
                       lambda h: messages.delete(h, _who(h, ctx, agent_name, token), message_id))


@tool(WRITE)
async def archive_message(
    ctx: Context, *, message_id: MessageId, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Archive a message out of your inbox; get_messages(include_archived=true) still lists it."""
    return await _call(ctx, "archive_message",
                       lambda h: messages.archive(h, _who(h, ctx, agent_name, token), message_id))


@tool(WRITE)
async def clear_inbox(
    ctx: Context, agent_name: Name = "", token: Token = "", before_date: str = "", sender: str = ""
) -> CallToolResult:
    """Archive your whole inbox, or only messages older than before_date (ISO 8601) and/or from sender."""
    return await _call(ctx, "clear_inbox", lambda h: messages.clear(
        h, _who(h, ctx, agent_name, token), before_date, sender))


@tool(DESTRUCTIVE)
async def purge_messages(
    ctx: Context, *, agent_name: Name = "", token: Token = "", before_date: str
) -> CallToolResult:
    """Delete everyone's messages older than before_date (ISO 8601) for good. Admin or lead only."""
    return await _call(ctx, "purge_messages",
                       lambda h: messages.purge(h, _who(h, ctx, agent_name, token), before_date))


@tool(WRITE)
async def create_task(
    ctx: Context, *, title: str, creator: Name = "", token: Token = "", description: str = "",
    assignee: str = "", priority: str = "medium", kind: str = "",
    parent_id: Annotated[int, Field(ge=1, le=MAX_INT)] | None = None,
    depends_on: TaskIds | None = None, reviewer: str = "", labels: list[str] | None = None,
) -> CallToolResult:
    """Post a task on the board (pending). assignee reserves it for one member; priority low|medium|high.
    Optional: kind (code, review, qa...), parent_id, depends_on (task ids that must be done first),
    reviewer, labels."""
    return await _call(ctx, "create_task", lambda h: tasks.create(
        h, _who(h, ctx, creator, token), title, description, assignee, priority, kind=kind,
        parent_id=parent_id, depends_on=depends_on, reviewer=reviewer, labels=labels))


@tool(READ)
async def list_tasks(
    ctx: Context, agent_name: Name = "", token: Token = "", status: str = "", assignee: str = ""
) -> CallToolResult:
    """The task board, oldest first; filter by status (pending, in_progress, blocked, awaiting_review, done,
    cancelled) and assignee."""
    return await _call(ctx, "list_tasks", lambda h: tasks.listing(h, status, assignee,
                                                                  caller=_who(h, ctx, agent_name, token)))


@tool(WRITE)
async def claim_task(ctx: Context, *, task_id: TaskId, agent_name: Name = "", token: Token = "") -> CallToolResult:
    """Take a pending task: it becomes in_progress with you as assignee. Exactly one claimer wins."""
    return await _call(ctx, "claim_task", lambda h: claims.claim(h, _who(h, ctx, agent_name, token), task_id))


@tool(WRITE)
async def update_task(
    ctx: Context, *, task_id: TaskId, status: str, agent_name: Name = "", token: Token = "", result: str = "",
    reason: str = "",
) -> CallToolResult:
    """Move a task you created or are doing: pending, in_progress, blocked, awaiting_review, done, cancelled;
    result says what came of it. Reopening a done task (status pending) needs a reason."""
    return await _call(ctx, "update_task", lambda h: tasks.update(
        h, _who(h, ctx, agent_name, token), task_id, status, result, reason))


@tool(WRITE)
async def share_context(
    ctx: Context, *, agent_name: Name = "", token: Token = "", key: str, value: str
) -> CallToolResult:
    """Set a key on the shared board for everyone to read. Keys 'yourname/...' are yours alone."""
    return await _call(ctx, "share_context",
                       lambda h: context.share(h, _who(h, ctx, agent_name, token), key, value))


@tool(READ)
async def get_shared_context(
    ctx: Context, agent_name: Name = "", token: Token = "", key: str = ""
) -> CallToolResult:
    """Read one shared key, or every entry when key is left out."""
    return await _call(ctx, "get_shared_context",
                       lambda h: context.read(h, _who(h, ctx, agent_name, token), key))


@tool(READ)
async def get_audit_log(
    ctx: Context, requester: Name = "", token: Token = "", agent_name: str = "", action: str = "", since: str = "",
    limit: Annotated[int, Field(ge=1, le=audit.MAX_LIMIT)] = 50,
) -> CallToolResult:
    """Who changed what, newest first; filter by agent_name, action, since (ISO 8601); limit 1..200.
    Admin and lead read everything; others read entries about themselves."""
    return await _call(ctx, "get_audit_log", lambda h: audit.entries(
        h, _who(h, ctx, requester, token), agent_name, action, since, limit))


@tool(READ)
async def list_escalations(
    ctx: Context, requester: Name = "", token: Token = "", status: str = "open"
) -> CallToolResult:
    """Messages waiting for a person's decision (status open, resolved, or '' for all), newest first.
    For people, leads and admins (the resolve_escalation permission)."""
    return await _call(ctx, "list_escalations", lambda h: escalations.listing(
        h, _who(h, ctx, requester, token), status))


@tool(WRITE)
async def resolve_escalation(
    ctx: Context, *, escalation_id: EscalationId, note: str = "", requester: Name = "", token: Token = ""
) -> CallToolResult:
    """Record your decision on an escalation; its sender and the agent are told, and auto-replies resume."""
    return await _call(ctx, "resolve_escalation", lambda h: escalations.resolve(
        h, _who(h, ctx, requester, token), escalation_id, note))


@tool(READ)
async def get_task(ctx: Context, *, task_id: TaskId, agent_name: Name = "", token: Token = "") -> CallToolResult:
    """One task with its comments, subtasks, dependencies and history."""
    return await _call(ctx, "get_task", lambda h: comments.detail(h, task_id, caller=_who(h, ctx, agent_name, token)))


@tool(WRITE)
async def comment_task(
    ctx: Context, *, task_id: TaskId, text: str, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Add a comment to a task; its creator, assignee and reviewer are told."""
    return await _call(ctx, "comment_task",
                       lambda h: comments.comment(h, _who(h, ctx, agent_name, token), task_id, text))


@tool(WRITE)
async def next_task(ctx: Context, agent_name: Name = "", token: Token = "") -> CallToolResult:
    """Claim the best task for you, atomically: reserved for you or free, dependencies done, a kind that fits
    your roles or capabilities; highest priority, then oldest. With nothing to do: {"task": null, "reason"}."""
    def work(h):
        found = claims.next_task(h, _who(h, ctx, agent_name, token))
        return found if found is not None else {"task": None, "reason": claims.NOTHING_TO_DO}
    return await _call(ctx, "next_task", work)


@tool(WRITE)
async def review_task(
    ctx: Context, *, task_id: TaskId, approve: bool, note: str = "", agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Give your verdict on a task awaiting review: approve (done) or send it back (in_progress) with a note."""
    return await _call(ctx, "review_task", lambda h: reviews.review(
        h, _who(h, ctx, agent_name, token), task_id, approve, note))


@tool(WRITE)
async def reassign_task(
    ctx: Context, *, task_id: TaskId, assignee: str, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Give a task to another member (its creator, or a lead)."""
    return await _call(ctx, "reassign_task", lambda h: tasks.reassign(
        h, _who(h, ctx, agent_name, token), task_id, assignee))


@tool(DESTRUCTIVE)
async def cancel_task(ctx: Context, *, task_id: TaskId, agent_name: Name = "", token: Token = "") -> CallToolResult:
    """Cancel a task and its subtasks (what is done stays done). Returns the tasks cancelled."""
    return await _call(ctx, "cancel_task", lambda h: tasks.cancel(h, _who(h, ctx, agent_name, token), task_id))
