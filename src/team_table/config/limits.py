"""team.yaml's `limits:` section: write rates (for everyone, by family, by role, by agent) and sizes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from team_table.config_base import Frozen

Family = Literal["messages", "tasks", "context"]
FAMILY_OF: dict[str, Family] = {"send_message": "messages", "broadcast": "messages", "create_task": "tasks",
             "share_context": "context"}
WRITES = "writes"  # the bucket every write counts in: send_message, broadcast, create_task, share_context


class RateLimit(Frozen):
    """At most `writes` writes per sender per window."""

    writes: int = Field(default=30, ge=1)
    window_seconds: float = Field(default=60.0, gt=0)


class RateOverride(Frozen):
    rate: RateLimit | None = None  # all writes together
    families: dict[Family, RateLimit] = {}

    def pick(self, family: Family | None) -> RateLimit | None:
        """Its limit on all writes (family None), or on the family's."""
        return self.families.get(family) if family else self.rate


class Sizes(Frozen):
    """Size limits on what agents send (docs/compatibility.md §6)."""

    message: int = Field(default=10_000, ge=1)
    task_title: int = Field(default=200, ge=1)
    task_description: int = Field(default=5_000, ge=1)
    task_result: int = Field(default=5_000, ge=1)
    context_key: int = Field(default=128, ge=1)
    context_value: int = Field(default=50_000, ge=1)
    capabilities: int = Field(default=20, ge=0)
    capability: int = Field(default=64, ge=1)


class Limits(Frozen):
    rate: RateLimit = RateLimit()  # every write (send, broadcast, create_task, share_context) together
    families: dict[Family, RateLimit] = {}  # and, optionally, each family on its own
    roles: dict[str, RateOverride] = {}
    agents: dict[str, RateOverride] = {}
    sizes: Sizes = Sizes()

    def rates_for(self, agent: str, member_roles: tuple[str, ...],
                  family: Family | None) -> list[tuple[str, RateLimit]]:
        """The limits a write counts against: (WRITES, all together) and, if set, its family's own."""
        chosen = [(WRITES, self._pick(agent, member_roles, None) or self.rate)]
        if family is not None:
            own = self._pick(agent, member_roles, family) or self.families.get(family)
            if own is not None:
                chosen.append((family, own))
        return chosen

    def _pick(self, agent: str, member_roles: tuple[str, ...], family: Family | None) -> RateLimit | None:
        """The agent's own limit, else its roles' (of several, the most generous), else None."""
        if (mine := self.agents.get(agent)) is not None and (limit := mine.pick(family)) is not None:
            return limit
        by_role = [limit for role in member_roles
                   if (override := self.roles.get(role)) is not None and (limit := override.pick(family)) is not None]
        return max(by_role, key=lambda r: r.writes / r.window_seconds, default=None)
