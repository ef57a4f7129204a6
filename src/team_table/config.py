"""team.yaml: the team, its roles, its limits and the hub's settings, as frozen models."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from team_table.errors import ConfigError, ConfigProblem
from team_table.names import is_valid_name

TOKEN_HASH = re.compile(r"sha256:[0-9a-f]{64}")
Transport = Literal["stdio", "sse", "streamable-http"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HubSection(Frozen):
    """Settings of the hub process; flags and TEAM_TABLE_* variables override them."""

    db: str | None = None
    transport: Transport | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    require_tokens: bool | None = None
    allow_insecure: bool | None = None
    admins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # Host names (host or host:port) clients use, beyond localhost
    events_max_age_seconds: float = Field(default=86_400.0, gt=0)  # push events kept for replay ...
    events_max_count: int = Field(default=100_000, ge=100)  # ... at most this long and this many


class RoleSpec(Frozen):
    """A role members can hold; privileged roles are only ever granted, never self-assigned."""

    privileged: bool = False
    description: str = ""


BUILTIN_ROLES: dict[str, RoleSpec] = {
    "agent": RoleSpec(description="a member of the team (the default)"),
    "admin": RoleSpec(privileged=True, description="runs the table: purges, reads the whole audit log"),
    "lead": RoleSpec(privileged=True, description="leads the team: assigns, reviews, reads the audit log"),
    "coder": RoleSpec(description="writes code"),
    "reviewer": RoleSpec(description="reviews work"),
    "designer": RoleSpec(description="designs"),
    "tester": RoleSpec(description="tests"),
}


class AgentSpec(Frozen):
    """An agent declared ahead of time: its role is granted by the file, its tokens are given as hashes."""

    role: str = "agent"
    capabilities: tuple[str, ...] = ()
    token_hashes: tuple[str, ...] = ()
    description: str = ""

    @field_validator("token_hashes")
    @classmethod
    def _hash_form(cls, hashes: tuple[str, ...]) -> tuple[str, ...]:
        for value in hashes:
            if not TOKEN_HASH.fullmatch(value):
                raise ValueError(
                    "a token hash looks like 'sha256:' and 64 hex digits; "
                    "run `team-table token NAME` to mint one (never put the token itself here)"
                )
        return hashes


class RateLimit(Frozen):
    """At most `writes` writes (send, broadcast, create_task, share_context) per sender per window."""

    writes: int = Field(default=30, ge=1)
    window_seconds: float = Field(default=60.0, gt=0)


class Sizes(Frozen):
    """Size limits on what agents send (CONTRACT §6)."""

    message: int = Field(default=10_000, ge=1)
    task_title: int = Field(default=200, ge=1)
    task_description: int = Field(default=5_000, ge=1)
    task_result: int = Field(default=5_000, ge=1)
    context_key: int = Field(default=128, ge=1)
    context_value: int = Field(default=50_000, ge=1)
    capabilities: int = Field(default=20, ge=0)
    capability: int = Field(default=64, ge=1)


class Limits(Frozen):
    rate: RateLimit = RateLimit()
    sizes: Sizes = Sizes()


class Team(Frozen):
    """The whole of team.yaml."""

    hub: HubSection = HubSection()
    roles: dict[str, RoleSpec] = {}
    agents: dict[str, AgentSpec] = {}
    limits: Limits = Limits()

    @model_validator(mode="after")
    def _consistent(self) -> Team:
        for name in list(self.roles) + list(self.agents) + list(self.hub.admins):
            if not is_valid_name(name):
                raise ValueError(f"{name!r} is not a valid name (letters, digits, space . _ -)")
        known = self.all_roles()
        seen: dict[str, str] = {}
        for name, agent in self.agents.items():
            if agent.role not in known:
                raise ValueError(
                    f"agents.{name}.role: unknown role {agent.role!r}; "
                    f"known roles: {', '.join(sorted(known))} (add it under roles:)"
                )
            if known[agent.role].privileged and not agent.token_hashes:
                raise ValueError(
                    f"agents.{name}: the {agent.role} role is privileged, so {name} needs token_hashes "
                    f"(else anyone could register as {name}); mint one with `team-table token {name}`"
                )
            for value in agent.token_hashes:
                if value in seen:
                    raise ValueError(f"agents.{name}: the same token hash is also declared for {seen[value]}")
                seen[value] = name
        return self

    def all_roles(self) -> dict[str, RoleSpec]:
        return {**BUILTIN_ROLES, **self.roles}

    def is_privileged(self, role: str) -> bool:
        spec = self.all_roles().get(role)
        return bool(spec and spec.privileged)


EMPTY_TEAM = Team()


def load_team(path: Path) -> Team:
    """Read and validate a team.yaml; a bad file raises ConfigError naming file, key path, line and reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem("", f"cannot be read: {exc.strerror or exc}")]) from exc
    return parse_team(text, str(path))


def parse_team(text: str, file: str) -> Team:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(file, [ConfigProblem("", f"is not valid YAML: {reason}", line)]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(file, [ConfigProblem("", "must be a mapping of sections (hub, roles, agents, limits)")])
    try:
        return Team.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(file, _problems(exc, node)) from exc


def _problems(exc: ValidationError, root: yaml.Node | None) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            reason = "is not a known key (check its spelling; see the team.yaml reference in README.md)"
        problems.append(ConfigProblem(".".join(str(p) for p in loc), reason, _line_of(root, loc)))
    return problems


def _line_of(node: Any, loc: tuple) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of the deepest parent that exists."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            key = next((k for k, _ in node.value if k.value == str(part)), None)
            if match is None:
                return line
            line = key.start_mark.line + 1
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
