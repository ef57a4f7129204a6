"""team.yaml's `roles:` section, and the roles every team has without declaring them."""

from __future__ import annotations

from pydantic import field_validator

from team_table import roles
from team_table.config_base import Frozen


class RoleSpec(Frozen):
    """A role members can hold: what it permits, what it inherits. Privileged roles are only ever granted."""

    privileged: bool = False
    description: str = ""
    inherits: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()

    @field_validator("permissions")
    @classmethod
    def _known(cls, permissions: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(roles.check_action(p) for p in permissions)


BUILTIN_ROLES: dict[str, RoleSpec] = {
    "agent": RoleSpec(description="a member of the team (the default)", permissions=roles.MEMBER),
    "lead": RoleSpec(privileged=True, description="leads the team: assigns, reviews, reads the audit log",
                     permissions=roles.LEAD),
    "admin": RoleSpec(privileged=True, description="runs the table", inherits=("lead",)),
    "coder": RoleSpec(description="writes code", inherits=("agent",)),
    "reviewer": RoleSpec(description="reviews work", inherits=("agent",), permissions=("review_task",)),
    "designer": RoleSpec(description="designs", inherits=("agent",)),
    "tester": RoleSpec(description="tests", inherits=("agent",)),
    "person": RoleSpec(description="a human at the table: decides what agents escalate and ask, and oversees the "
                                   "board", inherits=("agent",), permissions=roles.PERSON),
}
