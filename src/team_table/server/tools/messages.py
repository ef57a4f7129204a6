"""Tools of messages: sending and broadcasting, reading (and waiting for) the inbox, threads, receipts, and
archiving, deleting and purging."""

from __future__ import annotations

import contextlib
import time
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from team_table import messages, receipts, waiting
from team_table.errors import TeamTableError
from team_table.limits import MAX_INT
from team_table.server.boundary import answer, attempt, refusal
from team_table.server.tools.calls import call, observe, seat_of, tool_name, who
from team_table.server.tools.params import Id, MessageId, Name, Token
from team_table.server.tools.registry import DESTRUCTIVE, READ, WRITE, tool


@tool("send_message", WRITE, needs=("send",), identity="sender")
async def send_message(
    ctx: Context, *, sender: Name = "", token: Token = "", recipient: str, content: str,
    reply_to: Annotated[int, Field(ge=1, le=MAX_INT, description="The message this answers (same thread).")]
    | None = None,
    answer_within_seconds: Annotated[int, Field(description="Answer wanted within this (else reminders)")]
    | None = None,
) -> CallToolResult:
    """Send a direct message to one member (recipient '*' broadcasts to everyone). reply_to answers a message."""
    return await call(ctx, lambda h: messages.send(
        h, who(h, ctx, sender, token), recipient, content, reply_to, answer_within_seconds))


@tool("message_status", READ)
async def message_status(
    ctx: Context, *, message_ids: list[Id], agent_name: Name = "", token: Token = "",
) -> CallToolResult:
    """How far your messages got with each reader: queued, pushed, surfaced, read, acted (with times)."""
    return await call(ctx, lambda h: receipts.status(h, who(h, ctx, agent_name, token), message_ids))


@tool("get_messages", WRITE)
async def get_messages(
    ctx: Context, agent_name: Name = "", token: Token = "", include_read: bool = False,
    include_archived: bool = False,
) -> CallToolResult:
    """Your unread messages (direct and broadcast), 100 at most, oldest first; each comes once (marked read).
    include_read / include_archived add those."""
    return await call(ctx, lambda h: messages.inbox(h, who(h, ctx, agent_name, token), include_read,
                                                    include_archived))


@tool("wait_for_messages", WRITE)
async def wait_for_messages(
    ctx: Context, agent_name: Name = "", token: Token = "",
    timeout_seconds: Annotated[float, Field(allow_inf_nan=False, description="1 to 50 (longer is cut to 50).")] = 30,
) -> CallToolResult:
    """Wait for your next messages instead of polling: returns what is unread at once, else as soon as a message
    arrives, else {"messages": [], "timed_out": true} after timeout_seconds (1..50). Each message comes once."""
    seat, tool = seat_of(ctx), tool_name(ctx)
    start = time.perf_counter()
    caller, reply, outcome = await seat.run(
        lambda: attempt(tool, lambda: who(seat.hub.pinned(), ctx, agent_name, token)))
    if reply is None:  # authenticated: wait (on the event loop, not in a worker thread), then answer
        try:
            with seat.waker.waiting(caller.name) if seat.waker else contextlib.nullcontext():
                found = await waiting.wait_for_messages(seat.hub, seat.fanout, seat.run, caller, timeout_seconds,
                                                        progress=_progress(ctx), gone=_gone(ctx), takes=seat.takes)
        except TeamTableError as exc:  # the database went away during the wait
            reply, outcome = refusal(exc), exc.code
        else:
            reply, outcome = answer(tool, lambda: found)
    observe(seat, tool, outcome, start)
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


@tool("get_thread", READ)
async def get_thread(
    ctx: Context, *, message_id: MessageId, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """The thread of message_id, oldest first: its messages you sent or received. Marks nothing read."""
    return await call(ctx, lambda h: messages.thread(h, who(h, ctx, agent_name, token), message_id))


@tool("broadcast", WRITE, needs=("broadcast",), identity="sender")
async def broadcast(ctx: Context, *, sender: Name = "", token: Token = "", content: str) -> CallToolResult:
    """Send one message to every other member at the table."""
    return await call(ctx, lambda h: messages.broadcast(h, who(h, ctx, sender, token), content))


@tool("delete_message", DESTRUCTIVE)
async def delete_message(
    ctx: Context, *, message_id: MessageId, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Delete a message you sent or received (a broadcast: from your inbox only)."""
    return await call(ctx, lambda h: messages.delete(h, who(h, ctx, agent_name, token), message_id))


@tool("archive_message", WRITE)
async def archive_message(
    ctx: Context, *, message_id: MessageId, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Archive a message out of your inbox (get_messages(include_archived=true) still lists it)."""
    return await call(ctx, lambda h: messages.archive(h, who(h, ctx, agent_name, token), message_id))


@tool("clear_inbox", WRITE)
async def clear_inbox(
    ctx: Context, agent_name: Name = "", token: Token = "", before_date: str = "", sender: str = ""
) -> CallToolResult:
    """Archive your whole inbox, or only messages older than before_date (ISO 8601) and/or from sender."""
    return await call(ctx, lambda h: messages.clear(h, who(h, ctx, agent_name, token), before_date, sender))


@tool("purge_messages", DESTRUCTIVE, needs=("purge",))
async def purge_messages(
    ctx: Context, *, agent_name: Name = "", token: Token = "", before_date: str
) -> CallToolResult:
    """Delete everyone's messages older than before_date (ISO 8601) for good. Admin or lead only."""
    return await call(ctx, lambda h: messages.purge(h, who(h, ctx, agent_name, token), before_date))
