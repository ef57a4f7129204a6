"""The 18 tools of team-table 0.2.1, same names and parameters; each adapts arguments to one domain call."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from team_table import audit, comments, context, escalations, members, messages, reviews, tasks
from team_table.hub import Hub
from team_table.server.boundary import answer
from team_table.server.identity import BindingSource, resolve
from team_table.server.metrics import Metrics

# Runs a sync callable off or on the event loop: inline for stdio, a worker thread for network clients.
Runner = Callable[[Callable[[], Any]], Awaitable[Any]]

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)

Name = Annotated[str, Field(description="Your agent name (may be left out when the connection is bound to you).")]
Token = Annotated[str, Field(description="Your token from register (may be left out when bound).")]


def add_tools(mcp: MCPServer, hub: Hub, binding: BindingSource, run: Runner, metrics: Metrics) -> None:
    """Register the tools on `mcp`, closing over this process's hub."""

    def who(h: Hub, ctx: Context, name: str, token: str):
        return resolve(h, binding(ctx), name, token)

    async def call(tool: str, work: Callable[[Hub], Any]) -> CallToolResult:
        start = time.perf_counter()
        pinned = hub.pinned()  # the whole call sees one config, even if a reload swaps it meanwhile
        result, outcome = await run(lambda: answer(tool, lambda: work(pinned)))
        metrics.observe_tool(tool, outcome, time.perf_counter() - start)
        return result

    @mcp.tool(annotations=WRITE)
    async def register(
        ctx: Context, name: Name = "", role: str = "agent", capabilities: str = "[]", token: Token = ""
    ) -> CallToolResult:
        """Join the team table once, before anything else. Returns your token: pass it to every other tool.

        capabilities is a JSON array of strings, e.g. '["python", "review"]'. Re-registering a name that
        is at the table needs its current token and issues a new one (the old one stops working)."""
        def work(h):
            bound = binding(ctx)
            return members.register(h, name or (bound.agent if bound else ""), role, capabilities,
                                    token or (bound.token if bound else ""))
        return await call("register", work)

    @mcp.tool(annotations=WRITE)
    async def deregister(ctx: Context, name: Name = "", token: Token = "") -> CallToolResult:
        """Leave the table: you become inactive and your token stops working. You may register again later."""
        return await call("deregister", lambda h: members.deregister(h, who(h, ctx, name, token)))

    @mcp.tool(annotations=READ)
    async def list_members(
        ctx: Context, agent_name: Name = "", token: Token = "", include_inactive: bool = False
    ) -> CallToolResult:
        """See who is at the table: name, role, capabilities, status and last heartbeat."""
        def work(h):
            who(h, ctx, agent_name, token)
            return members.listing(h, include_inactive)
        return await call("list_members", work)

    @mcp.tool(annotations=WRITE)
    async def heartbeat(ctx: Context, name: Name = "", token: Token = "") -> CallToolResult:
        """Tell the table you are still working (updates last_heartbeat)."""
        return await call("heartbeat", lambda h: members.heartbeat(h, who(h, ctx, name, token)))

    @mcp.tool(annotations=WRITE)
    async def send_message(
        ctx: Context, *, sender: Name = "", token: Token = "", recipient: str, content: str
    ) -> CallToolResult:
        """Send a direct message to one member (recipient '*' broadcasts to everyone)."""
        return await call("send_message", lambda h: messages.send(h, who(h, ctx, sender, token), recipient, content))

    @mcp.tool(annotations=WRITE)
    async def get_messages(
        ctx: Context, agent_name: Name = "", token: Token = "", include_read: bool = False,
        include_archived: bool = False,
    ) -> CallToolResult:
        """Read your inbox: unread direct messages and broadcasts, oldest first. Each is returned once, then
        marked read; include_read=true lists read ones too, include_archived=true archived ones."""
        return await call("get_messages", lambda h: messages.inbox(
            h, who(h, ctx, agent_name, token), include_read, include_archived))

    @mcp.tool(annotations=WRITE)
    async def broadcast(ctx: Context, *, sender: Name = "", token: Token = "", content: str) -> CallToolResult:
        """Send one message to every other member at the table."""
        return await call("broadcast", lambda h: messages.broadcast(h, who(h, ctx, sender, token), content))

    @mcp.tool(annotations=DESTRUCTIVE)
    async def delete_message(
        ctx: Context, *, message_id: int, agent_name: Name = "", token: Token = ""
    ) -> CallToolResult:
        """Delete a message you sent or received (a broadcast: from your inbox only)."""
        return await call("delete_message", lambda h: messages.delete(h, who(h, ctx, agent_name, token), message_id))

    @mcp.tool(annotations=WRITE)
    async def archive_message(
        ctx: Context, *, message_id: int, agent_name: Name = "", token: Token = ""
    ) -> CallToolResult:
        """Archive a message out of your inbox; get_messages(include_archived=true) still lists it."""
        return await call("archive_message", lambda h: messages.archive(h, who(h, ctx, agent_name, token), message_id))

    @mcp.tool(annotations=WRITE)
    async def clear_inbox(
        ctx: Context, agent_name: Name = "", token: Token = "", before_date: str = "", sender: str = ""
    ) -> CallToolResult:
        """Archive your whole inbox, or only messages older than before_date (ISO 8601) and/or from sender."""
        return await call("clear_inbox", lambda h: messages.clear(
            h, who(h, ctx, agent_name, token), before_date, sender))

    @mcp.tool(annotations=DESTRUCTIVE)
    async def purge_messages(
        ctx: Context, *, agent_name: Name = "", token: Token = "", before_date: str
    ) -> CallToolResult:
        """Delete everyone's messages older than before_date (ISO 8601) for good. Admin or lead only."""
        return await call("purge_messages", lambda h: messages.purge(h, who(h, ctx, agent_name, token), before_date))

    @mcp.tool(annotations=WRITE)
    async def create_task(
        ctx: Context, *, title: str, creator: Name = "", token: Token = "", description: str = "",
        assignee: str = "", priority: str = "medium", kind: str = "", parent_id: int | None = None,
        depends_on: list[int] | None = None, reviewer: str = "", labels: list[str] | None = None,
    ) -> CallToolResult:
        """Post a task on the board (pending). assignee reserves it for one member; priority low|medium|high.
        Optional: kind (code, review, qa...), parent_id, depends_on (task ids that must be done first),
        reviewer, labels."""
        return await call("create_task", lambda h: tasks.create(
            h, who(h, ctx, creator, token), title, description, assignee, priority, kind=kind,
            parent_id=parent_id, depends_on=depends_on, reviewer=reviewer, labels=labels))

    @mcp.tool(annotations=READ)
    async def list_tasks(
        ctx: Context, agent_name: Name = "", token: Token = "", status: str = "", assignee: str = ""
    ) -> CallToolResult:
        """The task board, oldest first; filter by status (pending, in_progress, blocked, done) and assignee."""
        def work(h):
            who(h, ctx, agent_name, token)
            return tasks.listing(h, status, assignee)
        return await call("list_tasks", work)

    @mcp.tool(annotations=WRITE)
    async def claim_task(ctx: Context, *, task_id: int, agent_name: Name = "", token: Token = "") -> CallToolResult:
        """Take a pending task: it becomes in_progress with you as assignee. Exactly one claimer wins."""
        return await call("claim_task", lambda h: tasks.claim(h, who(h, ctx, agent_name, token), task_id))

    @mcp.tool(annotations=WRITE)
    async def update_task(
        ctx: Context, *, task_id: int, status: str, agent_name: Name = "", token: Token = "", result: str = "",
        reason: str = "",
    ) -> CallToolResult:
        """Move a task you created or are doing: pending, in_progress, blocked, awaiting_review, done, cancelled;
        result says what came of it. Reopening a done task (status pending) needs a reason."""
        return await call("update_task", lambda h: tasks.update(
            h, who(h, ctx, agent_name, token), task_id, status, result, reason))

    @mcp.tool(annotations=WRITE)
    async def share_context(
        ctx: Context, *, agent_name: Name = "", token: Token = "", key: str, value: str
    ) -> CallToolResult:
        """Set a key on the shared board for everyone to read. Keys 'yourname/...' are yours alone."""
        return await call("share_context", lambda h: context.share(h, who(h, ctx, agent_name, token), key, value))

    @mcp.tool(annotations=READ)
    async def get_shared_context(
        ctx: Context, agent_name: Name = "", token: Token = "", key: str = ""
    ) -> CallToolResult:
        """Read one shared key, or every entry when key is left out."""
        def work(h):
            who(h, ctx, agent_name, token)
            return context.get(h, key) if key else context.entries(h)
        return await call("get_shared_context", work)

    @mcp.tool(annotations=READ)
    async def get_audit_log(
        ctx: Context, requester: Name = "", token: Token = "", agent_name: str = "", action: str = "", since: str = "",
        limit: int = 50,
    ) -> CallToolResult:
        """Who changed what, newest first; filter by agent_name, action, since (ISO 8601); limit 1..200.
        Admin and lead read everything; others read entries about themselves."""
        return await call("get_audit_log", lambda h: audit.entries(
            h, who(h, ctx, requester, token), agent_name, action, since, limit))

    @mcp.tool(annotations=READ)
    async def list_escalations(
        ctx: Context, requester: Name = "", token: Token = "", status: str = "open"
    ) -> CallToolResult:
        """Messages waiting for a person's decision (status open, resolved, or '' for all), newest first.
        For people, leads and admins (the resolve_escalation permission)."""
        return await call("list_escalations", lambda h: escalations.listing(
            h, who(h, ctx, requester, token), status))

    @mcp.tool(annotations=WRITE)
    async def resolve_escalation(
        ctx: Context, *, escalation_id: int, note: str = "", requester: Name = "", token: Token = ""
    ) -> CallToolResult:
        """Record your decision on an escalation; its sender and the agent are told, and auto-replies resume."""
        return await call("resolve_escalation", lambda h: escalations.resolve(
            h, who(h, ctx, requester, token), escalation_id, note))

    @mcp.tool(annotations=READ)
    async def get_task(ctx: Context, *, task_id: int, agent_name: Name = "", token: Token = "") -> CallToolResult:
        """One task with its comments, subtasks, dependencies and history."""
        def work(h):
            who(h, ctx, agent_name, token)
            return comments.detail(h, task_id)
        return await call("get_task", work)

    @mcp.tool(annotations=WRITE)
    async def comment_task(
        ctx: Context, *, task_id: int, text: str, agent_name: Name = "", token: Token = ""
    ) -> CallToolResult:
        """Add a comment to a task; its creator, assignee and reviewer are told."""
        return await call("comment_task", lambda h: comments.comment(h, who(h, ctx, agent_name, token), task_id, text))

    @mcp.tool(annotations=WRITE)
    async def next_task(ctx: Context, agent_name: Name = "", token: Token = "") -> CallToolResult:
        """Claim the best task for you, atomically: reserved for you or free, dependencies done, a kind that fits
        your roles or capabilities; highest priority, then oldest."""
        return await call("next_task", lambda h: tasks.next_task(h, who(h, ctx, agent_name, token)))

    @mcp.tool(annotations=WRITE)
    async def review_task(
        ctx: Context, *, task_id: int, approve: bool, note: str = "", agent_name: Name = "", token: Token = ""
    ) -> CallToolResult:
        """Give your verdict on a task awaiting review: approve (done) or send it back (in_progress) with a note."""
        return await call("review_task", lambda h: reviews.review(
            h, who(h, ctx, agent_name, token), task_id, approve, note))

    @mcp.tool(annotations=WRITE)
    async def reassign_task(
        ctx: Context, *, task_id: int, assignee: str, agent_name: Name = "", token: Token = ""
    ) -> CallToolResult:
        """Give a task to another member (its creator, or a lead)."""
        return await call("reassign_task", lambda h: tasks.reassign(
            h, who(h, ctx, agent_name, token), task_id, assignee))

    @mcp.tool(annotations=DESTRUCTIVE)
    async def cancel_task(ctx: Context, *, task_id: int, agent_name: Name = "", token: Token = "") -> CallToolResult:
        """Cancel a task and its subtasks (what is done stays done). Returns the tasks cancelled."""
        return await call("cancel_task", lambda h: tasks.cancel(h, who(h, ctx, agent_name, token), task_id))

