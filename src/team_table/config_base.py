"""The pieces every team.yaml section is built from: frozen models that refuse unknown keys, and who to tell."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Notify(Frozen):
    """Who is told: everyone holding these roles, and these agents."""

    roles: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
