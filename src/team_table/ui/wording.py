"""Refusals and absent forms in the person's words: the domain speaks to agents (tool names, arguments), the
dashboard says what was refused, why, and which role would allow it."""

from __future__ import annotations

import re

from team_table.config import Team
from team_table.errors import TeamTableError
from team_table.roles import ACTIONS

# What an action is, said as a person does it.
DOING = {
    "assign_task": "reassign tasks", "cancel_task": "cancel tasks", "review_task": "give review verdicts",
    "update_any_task": "reopen or move any task", "update_task": "move tasks you created or hold",
    "comment_task": "comment on tasks", "resolve_escalation": "decide escalations and answer questions",
    "read_messages": "read the whole table's messages", "revoke_tokens": "revoke a member or let one back in",
    "read_audit": "read the whole audit log", "broadcast": "write to everyone or to a role", "send": "send messages",
}

# Tool vocabulary the domain's sentences carry, and what the dashboard says instead.
_TOOL_WORDS = [
    (re.compile(r";? ?list_tasks shows the board\.?"), "."),
    (re.compile(r";? ?list_escalations shows the open ones\.?"), "."),
    (re.compile(r"\s*\(update_task\(\.\.\., reason=\.\.\.\)\)"), ": give a reason in the Reopen form"),
    (re.compile(r"Set it to awaiting_review\."), "It goes to review first."),
    (re.compile(r"Resolve it with resolve_escalation or `team-table resolve \d+`\."), ""),
    (re.compile(r"\b(awaiting_review|in_progress)\b"), lambda m: m.group(1).replace("_", " ")),
    (re.compile(r"\.\."), "."),
]


def granting(team: Team, action: str) -> list[str]:
    """The roles (built in and declared) whose permissions include `action`, by name."""
    return sorted(name for name in team.all_roles() if action in team.granted((name,)))


def lacking(team: Team, action: str, roles: tuple[str, ...]) -> str:
    """Why a form is absent: what it needs and which roles grant it."""
    by = granting(team, action)
    return (f"To {DOING.get(action, ACTIONS.get(action, action))} you need the {action} permission"
            + (f", which the {_listing(by)} role{'s' if len(by) > 1 else ''} grant{'' if len(by) > 1 else 's'}"
               if by else "") + f"; you hold {_listing(list(roles))}.")


def for_people(error: TeamTableError, team: Team, roles: tuple[str, ...]) -> str:
    """A refusal as the person reads it."""
    permission = getattr(error, "permission", None)
    if permission:
        return lacking(team, permission, roles)
    text = error.message
    for pattern, instead in _TOOL_WORDS:
        text = pattern.sub(instead, text)
    return text.strip()


def _listing(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else "none"
