"""team.yaml's `agents:` section: agents declared ahead of time, and how the hub answers for one while it is away."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from team_table import templates, tokens
from team_table.config_base import Frozen
from team_table.runner.config import RunSpec


class AutoReply(Frozen):
    """While the agent is away, the hub acknowledges its messages (and escalates what needs a person)."""

    enabled: bool = True
    interval_seconds: float = Field(default=30.0, gt=0)
    max_replies: int = Field(default=13, ge=1)  # replies while away; then a person is asked instead
    senders: tuple[str, ...] = ()  # only these senders (empty: everyone)
    pause_when_active: bool = True
    template: str | None = None  # the acknowledgement, a Jinja template (variables: agent, sender, count, messages)
    escalation_template: str | None = None  # what the sender is told when a person is asked instead

    @field_validator("template", "escalation_template")
    @classmethod
    def _renders(cls, source: str | None) -> str | None:
        if source is not None and (problem := templates.problems(source)):
            raise ValueError(problem)
        return source


class AgentSpec(Frozen):
    """An agent declared ahead of time: its roles are granted by the file, its tokens are given as hashes."""

    role: str = "agent"
    roles: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    token_hashes: tuple[str, ...] = ()
    description: str = ""
    enabled: bool = True
    auto_reply: AutoReply | None = None
    run: RunSpec | None = None  # the hub starts and supervises this agent (network hub only)

    @field_validator("token_hashes")
    @classmethod
    def _hash_form(cls, hashes: tuple[str, ...]) -> tuple[str, ...]:
        for value in hashes:
            if not tokens.FILE_HASH.fullmatch(value):
                raise ValueError(
                    "a token hash looks like 'sha256:' and 64 hex digits; "
                    "run `team-table token NAME` to mint one (never put the token itself here)"
                )
        return hashes

    @model_validator(mode="after")
    def _one_way_to_say_roles(self) -> AgentSpec:
        if self.roles and "role" in self.model_fields_set and self.role not in self.roles:
            raise ValueError("give role (one) or roles (a list), not both")
        return self

    @property
    def all_roles(self) -> tuple[str, ...]:
        return self.roles or (self.role,)
