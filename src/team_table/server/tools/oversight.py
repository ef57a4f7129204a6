"""Tools of oversight: the audit log of who changed what, escalations waiting for a person's decision, and
questions agents ask the people."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from team_table import audit, escalations, questions
from team_table.server.tools.calls import call, who
from team_table.server.tools.params import EscalationId, Name, Token
from team_table.server.tools.registry import READ, WRITE, tool


@tool("get_audit_log", READ, identity="requester")
async def get_audit_log(
    ctx: Context, requester: Name = "", token: Token = "", agent_name: str = "", action: str = "", since: str = "",
    limit: Annotated[int, Field(ge=1, le=audit.MAX_LIMIT)] = 50,
) -> CallToolResult:
    """Who changed what, newest first; filter by agent_name, action, since (ISO 8601); limit 1..200.
    Leads see everything, others their own entries."""
    return await call(ctx, lambda h: audit.entries(h, who(h, ctx, requester, token), agent_name, action, since,
                                                   limit))


@tool("list_escalations", READ, needs=("resolve_escalation",), identity="requester")
async def list_escalations(
    ctx: Context, requester: Name = "", token: Token = "", status: str = "open"
) -> CallToolResult:
    """Messages waiting for a person's decision (status open, resolved, or '' for all), newest first.
    For people, leads and admins (the resolve_escalation permission)."""
    return await call(ctx, lambda h: escalations.listing(h, who(h, ctx, requester, token), status))


@tool("resolve_escalation", WRITE, needs=("resolve_escalation",), identity="requester")
async def resolve_escalation(
    ctx: Context, *, escalation_id: EscalationId, note: str = "", requester: Name = "", token: Token = ""
) -> CallToolResult:
    """Record your decision on an escalation; its sender and the agent are told, and auto-replies resume."""
    return await call(ctx, lambda h: escalations.resolve(h, who(h, ctx, requester, token), escalation_id, note))


@tool("ask", WRITE, needs=("send",))
async def ask(
    ctx: Context, *, question: str, agent_name: Name = "", token: Token = "", kind: str = "yes_no",
    options: list[str] | None = None, to: str = "", timeout_seconds: float | None = None, default: str = "",
) -> CallToolResult:
    """Ask the people: kind yes_no|approve|choice (+options)|text. The answer arrives in its thread
    (wait_for_messages); default applies after timeout_seconds."""
    return await call(ctx, lambda h: questions.ask(h, who(h, ctx, agent_name, token), question, kind, options, to,
                                                   timeout_seconds, default))


@tool("answer_question", WRITE, needs=("resolve_escalation",))
async def answer_question(
    ctx: Context, *, question_id: EscalationId, answer: str, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Answer a question an agent asked the people (one of its options, or a short text); the asker is told."""
    return await call(ctx, lambda h: questions.answer(h, who(h, ctx, agent_name, token), question_id, answer))
