"""Roles and what they permit: the hub's actions, the built-in roles, inheritance, and the check at every tool."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Protocol

from team_table.errors import Forbidden

# Every action a role may be granted. Reading (inboxes, the board, shared context, the member list) is
# open to every member; what changes the table, or reads beyond oneself, is an action.
ACTIONS: dict[str, str] = {
    "send": "send direct messages",
    "broadcast": "broadcast to everyone",
    "manage_messages": "archive or delete messages between other members",
    "purge": "delete everyone's old messages",
    "create_task": "post tasks",
    "comment_task": "comment on tasks",
    "claim_task": "claim pending tasks",
    "claim_reserved": "claim a task reserved for someone else",
    "update_task": "update tasks one created or is assigned",
    "update_any_task": "update any task",
    "assign_task": "reassign tasks",
    "review_task": "give review verdicts",
    "cancel_task": "cancel tasks",
    "write_context": "write shared context keys (write_context:PATTERN limits it to matching keys)",
    "write_others_context": "write keys under another member's name ('name/...')",
    "read_audit": "read the whole audit log",
    "resolve_escalation": "see and resolve escalations",
    "read_messages": "read every member's messages (the dashboard's table traffic)",
    "revoke_tokens": "revoke a member's tokens (from the dashboard)",
    "reserve_paths": "reserve paths of the repository (and be told when one frees)",
    "break_reservations": "break another member's path reservation",
}

MEMBER = ("send", "broadcast", "create_task", "comment_task", "claim_task", "update_task", "write_context",
          "reserve_paths")
# What an agent may give itself by registering with a role: a member's work, and reviewing.
SELF_SERVICE = frozenset((*MEMBER, "review_task"))
# A human overseer is trusted with the board: decide, assign, review, reopen, cancel, read the whole table, and keep
# a member out (never one holding a privileged role the person lacks). Not the operator's housekeeping (purge,
# others' context, others' messages).
PERSON = ("resolve_escalation", "assign_task", "update_any_task", "review_task", "cancel_task", "read_messages",
          "read_audit", "revoke_tokens")
LEAD = (*MEMBER, "purge", "claim_reserved", "update_any_task", "assign_task", "review_task", "cancel_task",
        "write_others_context", "read_audit", "resolve_escalation", "read_messages", "revoke_tokens",
        "break_reservations")


def check_action(permission: str) -> str:
    """Refuse a permission that names no action (used when a config is loaded)."""
    action, _, pattern = permission.partition(":")
    if action not in ACTIONS:
        raise ValueError(f"unknown permission {permission!r}; known: {', '.join(sorted(ACTIONS))}")
    if pattern and action != "write_context":
        raise ValueError(f"only write_context takes a key pattern ({permission!r})")
    return permission


class BadInheritance(ValueError):
    """A role inherits an unknown role, or roles inherit in a circle; `role` is the one whose inherits is at fault."""

    def __init__(self, role: str, reason: str) -> None:
        super().__init__(reason)
        self.role = role


def resolve(roles: Mapping[str, RoleLike]) -> dict[str, frozenset[str]]:
    """Each role's permissions with what it inherits; raises BadInheritance on an unknown parent or a cycle."""
    done: dict[str, frozenset[str]] = {}

    def walk(name: str, path: tuple[str, ...]) -> frozenset[str]:
        if name in done:
            return done[name]
        if name in path:
            raise BadInheritance(path[-1], f"roles inherit in a circle: {' -> '.join((*path, name))}")
        spec = roles[name]
        granted = set(spec.permissions)
        for parent in spec.inherits:
            if parent not in roles:
                raise BadInheritance(name, f"unknown role {parent!r}")
            granted |= walk(parent, (*path, name))
        done[name] = frozenset(granted)
        return done[name]

    for name in roles:
        walk(name, ())
    return done


class RoleLike(Protocol):
    """The shape resolve() reads (config.RoleSpec)."""

    permissions: tuple[str, ...]
    inherits: tuple[str, ...]


def allows(granted: Iterable[str], action: str, key: str | None = None) -> bool:
    """Does a set of permissions allow `action` (and, for write_context, this key)?"""
    for permission in granted:
        name, _, pattern = permission.partition(":")
        if name == action and (not pattern or key is None or fnmatch.fnmatchcase(key, pattern)):
            return True
    return False


def require(granted: Iterable[str], action: str, who: str, key: str | None = None) -> None:
    if not allows(granted, action, key):
        target = f" for {key!r}" if key is not None else ""
        refusal = Forbidden(
            f"{who} lacks the {action} permission{target} ({ACTIONS[action]}); "
            "a role that grants it is set in team.yaml (roles: ... permissions:) or by the operator."
        )
        refusal.permission = action  # the dashboard names the roles that grant it
        raise refusal
