"""The tools: the 18 of team-table 0.2.1 (same names and parameters) and the hub's own. Each adapts its arguments
to one domain call; the process's hub comes from the server's lifespan (`Seat`), so these functions are defined
once and shared by every server the process builds."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ToolAnnotations
from mcp.types import Tool as MCPTool
from pydantic import Field

from team_table import (
    audit,
    catchup,
    claims,
    comments,
    context,
    escalations,
    members,
    messages,
    questions,
    receipts,
    reservations,
    reviews,
    roles,
    tasks,
    waiting,
)
from team_table.errors import Forbidden, TeamTableError, Unauthorized
from team_table.fanout import Fanout
from team_table.hub import Hub
from team_table.limits import MAX_INT
from team_table.models import Caller
from team_table.server.auth_failures import route_of
from team_table.server.boundary import answer, attempt, refusal
from team_table.server.identity import BindingSource, resolve

if TYPE_CHECKING:  # the network hub's; a stdio server never loads them
    from team_table.server.auth_failures import FailedAuth
    from team_table.server.connections import Connections
    from team_table.server.metrics import Metrics
    from team_table.wake.waker import Waker

# Runs a sync callable off or on the event loop: inline for stdio, a worker thread for network clients.
Runner = Callable[[Callable[[], Any]], Awaitable[Any]]

# Only what differs from the defaults the spec gives the hints (not read-only, destructive, open world).
READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(destructive_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(open_world_hint=False)

Name = Annotated[str, Field(description="Your agent name (may be left out when the connection is bound to you).")]
Token = Annotated[str, Field(description="Your token from register (may be left out when bound).")]
TaskId = Annotated[int, Field(ge=1, le=MAX_INT)]
MessageId = Annotated[int, Field(ge=1, le=MAX_INT)]
EscalationId = Annotated[int, Field(ge=1, le=MAX_INT)]
TaskIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_INT)]], Field(max_length=100)]
Paths = Annotated[list[str], Field(description='gitignore-style, from the repository root: ["src/api/**"]')]


async def inline(work: Callable[[], Any]) -> Any:
    return work()


@dataclass
class Seat:
    """What every tool call of one server reaches: the hub, who the connection is bound to, how to run work."""

    hub: Hub
    fanout: Fanout
    binding: BindingSource
    run: Runner = inline
    metrics: Metrics | None = None
    failures: FailedAuth | None = None  # network hubs: failed authentications are throttled per address
    connections: Connections | None = None  # the bound ones, and their pushes (while the server runs)
    waker: Waker | None = None  # the process's ways to wake agents (none in a bare test server)
    takes: waiting.Takes = field(init=False)  # the waits' takes of messages, grouped per turn of the event loop

    def __post_init__(self) -> None:
        self.takes = waiting.Takes(self.hub, self.run)


def _seat(ctx: Context) -> Seat:
    return ctx.request_context.lifespan_context


async def _call(ctx: Context, tool: str, work: Callable[[Hub], Any]) -> CallToolResult:
    seat = _seat(ctx)
    start = time.perf_counter()
    pinned = seat.hub.pinned()  # the whole call sees one config, even if a reload swaps it meanwhile
    result, outcome = await seat.run(lambda: answer(tool, lambda: work(pinned)))
    _observe(seat, tool, outcome, start)
    return result


def _observe(seat: Seat, tool: str, outcome: str, start: float) -> None:
    if seat.metrics is not None:
        seat.metrics.observe_tool(tool, outcome, time.perf_counter() - start)


def _who(hub: Hub, ctx: Context, name: str, token: str) -> Caller:
    """The authenticated caller. Over HTTP a failed authentication is counted (in /metrics, and against the client's
    address, as a bad bearer token is), and an address past the limit is told to wait; a valid token is never held
    up."""
    seat = _seat(ctx)
    try:
        return resolve(hub, seat.binding(ctx.headers), name, token)
    except Unauthorized as exc:
        request = ctx.request_context.request
        address = getattr(request, "client", None)
        if seat.failures is None or request is None or address is None:
            raise
        raise seat.failures.refused(route_of(request.url.path), address.host, exc) from None


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


# Each tool's identity parameter (the others' is agent_name); with a bound connection it and `token` go unsaid.
IDENTITY = {"register": "name", "deregister": "name", "heartbeat": "name", "send_message": "sender",
            "broadcast": "sender", "create_task": "creator", "get_audit_log": "requester",
            "list_escalations": "requester", "resolve_escalation": "requester"}
# What a member's roles must permit for a bound connection to list a tool (any one of them); the others are
# every member's. A task's creator may reassign or cancel it, so whoever may create tasks sees those two.
NEEDS: dict[str, tuple[str, ...]] = {
    "send_message": ("send",), "broadcast": ("broadcast",), "create_task": ("create_task",),
    "claim_task": ("claim_task",), "next_task": ("claim_task",), "update_task": ("update_task", "update_any_task"),
    "share_context": ("write_context", "write_others_context"), "purge_messages": ("purge",),
    "review_task": ("review_task",), "comment_task": ("comment_task",),
    "list_escalations": ("resolve_escalation",), "resolve_escalation": ("resolve_escalation",),
    "answer_question": ("resolve_escalation",), "ask": ("send",),
    "reassign_task": ("assign_task", "create_task"), "cancel_task": ("cancel_task", "create_task"),
    "reserve_paths": ("reserve_paths",), "watch_paths": ("reserve_paths",),
    "break_reservation": ("break_reservations",),
}
UNBOUND_ONLY = frozenset({"register"})  # a bound connection is an agent already


def listed_for(granted: frozenset[str]) -> frozenset[str]:
    """The tools a bound connection with these permissions lists."""
    names = set()
    for tool in built():
        needs = NEEDS.get(tool.name)
        if tool.name not in UNBOUND_ONLY and (needs is None or any(roles.allows(granted, a) for a in needs)):
            names.add(tool.name)
    return frozenset(names)


def _plain_schema(schema: dict, drop: set[str]) -> dict:
    """A tool's input schema without `drop`ped parameters, in fewer words (every client pays for them in tokens):
    no titles (they repeat the names), no bounds of ids (the hub checks them), no empty defaults (not being
    required says it), `X | None = None` as an optional X."""
    properties = {name: _plain_value(spec) for name, spec in schema.get("properties", {}).items()
                  if name not in drop}
    plain = {k: v for k, v in schema.items() if k not in ("title", "properties", "required")}
    plain["properties"] = properties
    required = [name for name in schema.get("required", []) if name not in drop]
    if required:
        plain["required"] = required
    return plain


def _plain_value(spec: dict) -> dict:
    choices = spec.get("anyOf")
    if choices and {"type": "null"} in choices and spec.get("default", "absent") is None:
        rest = [choice for choice in choices if choice != {"type": "null"}]
        if len(rest) == 1:
            spec = {**{k: v for k, v in spec.items() if k not in ("anyOf", "default")}, **rest[0]}
    ids = spec.get("maximum") == MAX_INT  # an id: its bounds are the hub's to check
    spec = {k: v for k, v in spec.items() if k != "title" and not (ids and k in ("minimum", "maximum"))
            and not (k == "default" and v in ("", None, False))}  # an empty default says only "optional"
    if isinstance(spec.get("items"), dict):
        spec["items"] = _plain_value(spec["items"])
    return spec


@functools.cache
def listing(granted: frozenset[str] | None) -> tuple[MCPTool, ...]:
    """What tools/list answers: every tool for an unbound connection (granted None); for a bound one, the tools
    its permissions allow, without the identity and token parameters it never passes."""
    found = []
    for tool in built():
        if granted is not None and tool.name not in listed_for(granted):
            continue
        drop = set() if granted is None else {IDENTITY.get(tool.name, "agent_name"), "token"}
        found.append(MCPTool(name=tool.name, description=" ".join((tool.description or "").split()),
                             input_schema=_plain_schema(tool.parameters, drop), annotations=tool.annotations))
    return tuple(found)


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
        bound = _seat(ctx).binding(ctx.headers)
        if bound is not None:  # hidden from its tool list, and refused: its answer would carry the token
            raise Forbidden(f"This connection is bound to {bound.agent or 'an agent'}: register is for connections "
                            "that are not. Call the other tools without name or token; a new token comes from the "
                            f"operator (`team-table token {bound.agent or 'NAME'}`).")
        return members.register(h, name, role, capabilities, token)
    return await _call(ctx, "register", work)


@tool(WRITE)
async def deregister(ctx: Context, name: Name = "", token: Token = "") -> CallToolResult:
    """Leave the table: your token stops working (you may register again later)."""
    return await _call(ctx, "deregister", lambda h: members.deregister(h, _who(h, ctx, name, token)))


@tool(READ)
async def list_members(
    ctx: Context, agent_name: Name = "", token: Token = "", include_inactive: bool = False
) -> CallToolResult:
    """Who is at the table: roles, capabilities, presence (active, idle, offline), last seen."""
    return await _call(ctx, "list_members", lambda h: members.listing(h, include_inactive,
                                                                      caller=_who(h, ctx, agent_name, token)))


@tool(WRITE)
async def heartbeat(ctx: Context, name: Name = "", token: Token = "") -> CallToolResult:
    """Tell the table you are still working."""
    return await _call(ctx, "heartbeat", lambda h: members.heartbeat(h, _who(h, ctx, name, token)))


@tool(WRITE)
async def send_message(
    ctx: Context, *, sender: Name = "", token: Token = "", recipient: str, content: str,
    reply_to: Annotated[int, Field(ge=1, le=MAX_INT, description="The message this answers (same thread).")]
    | None = None,
    answer_within_seconds: Annotated[int, Field(description="Answer wanted within this (else reminders)")]
    | None = None,
) -> CallToolResult:
    """Send a direct message to one member (recipient '*' broadcasts to everyone). reply_to answers a message."""
    return await _call(ctx, "send_message", lambda h: messages.send(
        h, _who(h, ctx, sender, token), recipient, content, reply_to, answer_within_seconds))


@tool(READ)
async def message_status(
    ctx: Context, *, message_ids: list[Annotated[int, Field(ge=1, le=MAX_INT)]],
    agent_name: Name = "", token: Token = "",
) -> CallToolResult:
    """How far your messages got with each reader: queued, pushed, surfaced, read, acted (with times)."""
    return await _call(ctx, "message_status", lambda h: receipts.status(h, _who(h, ctx, agent_name, token),
                                                                        message_ids))


@tool(WRITE)
async def get_messages(
    ctx: Context, agent_name: Name = "", token: Token = "", include_read: bool = False,
    include_archived: bool = False,
) -> CallToolResult:
    """Your unread messages (direct and broadcast), 100 at most, oldest first; each comes once (marked read).
    include_read / include_archived add those."""
    return await _call(ctx, "get_messages", lambda h: messages.inbox(
        h, _who(h, ctx, agent_name, token), include_read, include_archived))


@tool(WRITE)
async def wait_for_messages(
    ctx: Context, agent_name: Name = "", token: Token = "",
    timeout_seconds: Annotated[float, Field(allow_inf_nan=False, description="1 to 50 (longer is cut to 50).")] = 30,
) -> CallToolResult:
    """Wait for your next messages instead of polling: returns what is unread at once, else as soon as a message
    arrives, else {"messages": [], "timed_out": true} after timeout_seconds (1..50). Each message comes once."""
    seat = _seat(ctx)
    start = time.perf_counter()
    caller, reply, outcome = await seat.run(
        lambda: attempt("wait_for_messages", lambda: _who(seat.hub.pinned(), ctx, agent_name, token)))
    if reply is None:  # authenticated: wait (on the event loop, not in a worker thread), then answer
        try:
            with seat.waker.waiting(caller.name) if seat.waker else contextlib.nullcontext():
                found = await waiting.wait_for_messages(seat.hub, seat.fanout, seat.run, caller, timeout_seconds,
                                                        progress=_progress(ctx), gone=_gone(ctx), takes=seat.takes)
        except TeamTableError as exc:  # the database went away during the wait
            reply, outcome = refusal(exc), exc.code
        else:
            reply, outcome = answer("wait_for_messages", lambda: found)
    _observe(seat, "wait_for_messages", outcome, start)
    return reply


def _progress(ctx: Context):
    async def report(elapsed: float, total: float) -> None:
        await ctx.report_progress(round(elapsed, 1), total, "waiting for messages")
    return report


def _gone(ctx: Context):
    """Whether an HTTP caller has hung up (a stdio one leaves with its pipe, which ends the wait anyway). Only a
    call over /mcp holds its request open until the answer; over legacy SSE the POST was answered 202 at once
    (the answer goes down the session's stream), so its request says nothing about the caller."""
    request = ctx.request_context.request
    if request is None or getattr(getattr(request, "url", None), "path", None) != "/mcp":
        return None
    return request.is_disconnected


@tool(READ)
async def get_thread(
    ctx: Context, *, message_id: MessageId, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """The thread of message_id, oldest first: its messages you sent or received. Marks nothing read."""
    return await _call(ctx, "get_thread", lambda h: messages.thread(h, _who(h, ctx, agent_name, token), message_id))


@tool(WRITE)
async def catch_up(ctx: Context, agent_name: Name = "", token: Token = "") -> CallToolResult:
    """Back to work? One short summary: unread messages by thread, your tasks, reviews waiting for you, what
    changed since your last catch_up, escalations, who is active."""
    return await _call(ctx, "catch_up", lambda h: catchup.catch_up(h, _who(h, ctx, agent_name, token)))


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
    """Archive a message out of your inbox (get_messages(include_archived=true) still lists it)."""
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
    paths: list[str] | None = None,
) -> CallToolResult:
    """Post a task (pending). assignee reserves it; priority low|medium|high; kind (code, review, qa...);
    parent_id; depends_on: task ids to be done first; reviewer; labels; paths its claimer will reserve."""
    return await _call(ctx, "create_task", lambda h: tasks.create(
        h, _who(h, ctx, creator, token), title, description, assignee, priority, kind=kind,
        parent_id=parent_id, depends_on=depends_on, reviewer=reviewer, labels=labels, paths=paths))


@tool(READ)
async def list_tasks(
    ctx: Context, agent_name: Name = "", token: Token = "", status: str = "", assignee: str = ""
) -> CallToolResult:
    """The task board, oldest first; filter by status and assignee."""
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
    """Move a task you created or are doing (pending, in_progress, blocked, awaiting_review, done, cancelled)
    with a result; reopening a done task (pending) needs a reason."""
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
    Leads see everything, others their own entries."""
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
    """Claim the best task for you: reserved for you or free, dependencies done, a kind that fits you, highest
    priority first; {"task": null} when there is none."""
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


@tool(WRITE)
async def reserve_paths(
    ctx: Context, *, paths: Paths, agent_name: Name = "", token: Token = "", exclusive: bool = True,
    ttl_seconds: Annotated[int, Field(ge=1)] = 3600, reason: str = "",
    task_id: Annotated[int, Field(ge=1, le=MAX_INT)] | None = None,
) -> CallToolResult:
    """Reserve paths before editing them (shared: to depend on them). All or nothing: refused `conflict`, naming
    the holders, if others hold an overlap. Renewed while you are active."""
    return await _call(ctx, "reserve_paths", lambda h: reservations.reserve(
        h, _who(h, ctx, agent_name, token), paths, exclusive, ttl_seconds, reason, task_id))


@tool(WRITE)
async def release_paths(
    ctx: Context, paths: list[str] | None = None, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Give back your reservations of these patterns, or all of them."""
    return await _call(ctx, "release_paths",
                       lambda h: reservations.release(h, _who(h, ctx, agent_name, token), paths))


@tool(READ)
async def list_reservations(
    ctx: Context, agent_name: Name = "", token: Token = "", agent: str = "", path: str = ""
) -> CallToolResult:
    """Who holds which paths (overlapping path), why, for which task, until when."""
    return await _call(ctx, "list_reservations", lambda h: reservations.listing(
        h, agent, path, caller=_who(h, ctx, agent_name, token)))


@tool(WRITE)
async def watch_paths(
    ctx: Context, *, paths: list[str], agent_name: Name = "", token: Token = "", exclusive: bool = True
) -> CallToolResult:
    """Get a message when others no longer hold these paths."""
    return await _call(ctx, "watch_paths", lambda h: reservations.watch(
        h, _who(h, ctx, agent_name, token), paths, exclusive))


@tool(DESTRUCTIVE)
async def break_reservation(
    ctx: Context, *, reservation_id: Annotated[int, Field(ge=1, le=MAX_INT)], reason: str, agent_name: Name = "",
    token: Token = "",
) -> CallToolResult:
    """End another member's reservation (leads): audited, and its holder is told why."""
    return await _call(ctx, "break_reservation", lambda h: reservations.break_one(
        h, _who(h, ctx, agent_name, token), reservation_id, reason))


@tool(WRITE)
async def ask(
    ctx: Context, *, question: str, agent_name: Name = "", token: Token = "", kind: str = "yes_no",
    options: list[str] | None = None, to: str = "", timeout_seconds: float | None = None, default: str = "",
) -> CallToolResult:
    """Ask the people: kind yes_no|approve|choice (+options)|text. The answer arrives in its thread
    (wait_for_messages); default applies after timeout_seconds."""
    return await _call(ctx, "ask", lambda h: questions.ask(
        h, _who(h, ctx, agent_name, token), question, kind, options, to, timeout_seconds, default))


@tool(WRITE)
async def answer_question(
    ctx: Context, *, question_id: EscalationId, answer: str, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Answer a question an agent asked the people (one of its options, or a short text); the asker is told."""
    return await _call(ctx, "answer_question", lambda h: questions.answer(
        h, _who(h, ctx, agent_name, token), question_id, answer))
