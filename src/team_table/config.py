"""team.yaml: the team, its roles, its limits and the hub's settings, as frozen models."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, field_validator, model_validator

from team_table import overlap, roles, templates, tokens
from team_table.config_base import Frozen, Notify
from team_table.delivery_policy import DeliveryPolicy
from team_table.names import is_reserved, is_valid_name
from team_table.runner.config import RunnerSection, RunSpec
from team_table.yaml_files import AtKey, read_config_file, validate_yaml

TOKEN_HASH = re.compile(r"sha256:[0-9a-f]{64}")
Transport = Literal["stdio", "sse", "streamable-http"]


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
    # SQLite's sync on commit: full (every acknowledged write survives a power loss) or normal (faster; the
    # last writes before a power loss or OS crash may roll back, never corrupting the file).
    synchronous: Literal["full", "normal"] = "full"
    # A network request must arrive whole (headers and body) within this many seconds of its first byte.
    request_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    pool_size: int = Field(default=10, ge=1, le=200)  # PostgreSQL: connections per hub process
    public_url: str | None = None  # where people reach the dashboard (links in notifications); else host and port
    # MCP over HTTP for clients of the 2024/2025 protocol without a session kept in the process, so any replica
    # answers any request. Default: on when the database is PostgreSQL (replicas), off on SQLite.
    stateless_http: bool | None = None

    @field_validator("db")
    @classmethod
    def _no_password(cls, db: str | None) -> str | None:
        if db is not None and db.startswith(("postgresql://", "postgres://")) and urlsplit(db).password:
            raise ValueError("a password does not belong in team.yaml: give the URL without it, and the password "
                             "in PGPASSWORD or ~/.pgpass where the hub runs (or the whole URL in TEAM_TABLE_DB)")
        return db


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
            if not TOKEN_HASH.fullmatch(value):
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


Family = Literal["messages", "tasks", "context"]
FAMILY_OF = {"send_message": "messages", "broadcast": "messages", "create_task": "tasks",
             "share_context": "context"}


class RateLimit(Frozen):
    """At most `writes` writes per sender per window."""

    writes: int = Field(default=30, ge=1)
    window_seconds: float = Field(default=60.0, gt=0)


class RateOverride(Frozen):
    rate: RateLimit | None = None  # all writes together
    families: dict[Family, RateLimit] = {}


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


class EscalationRule(Frozen):
    pattern: str
    notify: Notify | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"the regular expression does not compile: {exc}") from None
        return pattern


class EscalationPolicy(Frozen):
    """Messages that need a human decision: named patterns, and who is told."""

    notify: Notify = Notify(roles=("person", "lead"))
    patterns: dict[str, EscalationRule | str] = {}

    def rules(self) -> dict[str, EscalationRule]:
        return {name: rule if isinstance(rule, EscalationRule) else EscalationRule(pattern=rule)
                for name, rule in self.patterns.items()}


class Presence(Frozen):
    idle_after_seconds: float = Field(default=300.0, gt=0)
    offline_after_seconds: float = Field(default=900.0, gt=0)
    claim_lease_seconds: float = Field(default=1800.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Presence:
        if self.offline_after_seconds <= self.idle_after_seconds:
            raise ValueError("offline_after_seconds must be longer than idle_after_seconds")
        return self


MAX_TTL_BOUND = 7 * 86_400  # the longest a reservation may be held without renewal: a week


class Reservations(Frozen):
    """Path reservations: how long they may be held, what a claim does on a conflict, what the git guard asks."""

    # The bound on reserve_paths' ttl_seconds: from an hour (its default) to a week.
    max_ttl_seconds: int = Field(default=86_400, ge=3_600, le=MAX_TTL_BOUND)
    task_ttl_seconds: int = Field(default=3_600, ge=1, le=MAX_TTL_BOUND)  # what claiming a task reserves for
    on_claim_conflict: Literal["refuse", "report"] = "refuse"
    warn_before_seconds: float = Field(default=300.0, gt=0)  # the holder is told this long before a lapse ...
    check_every_seconds: float = Field(default=5.0, ge=0.2, le=300)  # ... at the hub's checks, this often
    required: tuple[str, ...] = ()  # the guard refuses commits to these without an exclusive reservation
    exempt: tuple[str, ...] = ()  # the guard never refuses commits to these

    @field_validator("required", "exempt")
    @classmethod
    def _patterns(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(overlap.check(pattern) for pattern in patterns)

    @model_validator(mode="after")
    def _bounded(self) -> Reservations:
        if self.task_ttl_seconds > self.max_ttl_seconds:
            raise ValueError("task_ttl_seconds must not be longer than max_ttl_seconds")
        return self


NOTIFY_KINDS = ("escalation", "question", "question_deadline", "workflow_failed", "task_blocked")
_SECRET_IN_URL = re.compile(r"^[a-z0-9+.-]+://[^/@]*:(?!\$\{)[^/@]+@", re.I)  # user:password@ written out


class NotificationTarget(Frozen):
    """Where the people are told outside the dashboard (Apprise URLs), about what, how often."""

    urls: tuple[str, ...] = Field(min_length=1)  # Apprise URLs; ${NAME} is read from the hub's environment
    on: tuple[Literal["escalation", "question", "question_deadline", "workflow_failed", "task_blocked"], ...] = \
        ("escalation", "question")
    quiet_seconds: float = Field(default=5.0, ge=0, le=3600)  # a digest goes once things are quiet this long ...
    max_wait_seconds: float = Field(default=30.0, gt=0, le=86_400)  # ... or the oldest item waited this long
    retry_seconds: float = Field(default=5.0, gt=0, le=3600)  # a failing target: first retry, doubling to 10 min

    @model_validator(mode="before")
    @classmethod
    def _on_is_a_word(cls, data: object) -> object:
        """YAML 1.1 reads a bare `on:` key as true: here it is the word the file says."""
        if isinstance(data, dict) and True in data:
            data = {("on" if key is True else key): value for key, value in data.items()}
        return data

    @field_validator("urls")
    @classmethod
    def _apprise_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if "://" not in url or len(url) > 2000:
                raise ValueError(f"{url[:60]!r} is not an Apprise URL (scheme://...)")
            if _SECRET_IN_URL.match(url):
                raise ValueError("a password does not belong in team.yaml: write it as ${NAME} and set NAME in the "
                                 "hub's environment")
        return urls


class Team(Frozen):
    """The whole of team.yaml."""

    hub: HubSection = HubSection()
    roles: dict[str, RoleSpec] = {}
    agents: dict[str, AgentSpec] = {}
    limits: Limits = Limits()
    escalation: EscalationPolicy = EscalationPolicy()
    presence: Presence = Presence()
    delivery: DeliveryPolicy = DeliveryPolicy()
    reservations: Reservations = Reservations()
    notifications: tuple[NotificationTarget, ...] = ()
    runner: RunnerSection = RunnerSection()
    _granted: dict[str, frozenset[str]] = PrivateAttr(default_factory=dict)
    _rules: dict[str, tuple[re.Pattern, Notify]] = PrivateAttr(default_factory=dict)
    _by_hash: dict[str, str] = PrivateAttr(default_factory=dict)  # token digest -> declared agent

    @model_validator(mode="after")
    def _consistent(self) -> Team:
        named = [(("roles", n), n) for n in self.roles] + [(("agents", n), n) for n in self.agents] \
            + [(("hub", "admins", str(i)), n) for i, n in enumerate(self.hub.admins)] \
            + [(("limits", "agents", n), n) for n in self.limits.agents]
        for path, name in named:
            if not is_valid_name(name):
                raise AtKey(path, f"{name!r} is not a valid name (letters, digits, space . _ -)")
        for name in self.agents:
            if is_reserved(name):
                raise AtKey(("agents", name), "the hub itself writes under this name; choose another")
        known = self.all_roles()
        try:
            self._granted = roles.resolve(known)
        except roles.BadInheritance as exc:
            raise AtKey(("roles", exc.role, "inherits") if exc.role in self.roles else ("roles",), str(exc)) from None
        seen: dict[str, str] = {}
        for name, agent in self.agents.items():
            said = (("agents", name, "roles") if agent.roles else ("agents", name, "role"))
            for role in agent.all_roles:
                if role not in known:
                    raise AtKey(said, f"unknown role {role!r}; known roles: {', '.join(sorted(known))} "
                                      "(add it under roles:)")
                if (known[role].privileged or self._granted[role] - roles.SELF_SERVICE) and not agent.token_hashes:
                    raise AtKey(said, f"the {role} role permits more than a member's own work, so {name} needs "
                                      f"token_hashes (else anyone could register as {name}); mint one with "
                                      f"`team-table token {name} --write`")
            if agent.auto_reply is not None and "person" in agent.all_roles:
                raise AtKey(("agents", name, "auto_reply"), "a person is never auto-answered; remove auto_reply")
            if agent.run is not None and "person" in agent.all_roles:
                raise AtKey(("agents", name, "run"), "a person is not run by the hub; remove run")
            for index, value in enumerate(agent.token_hashes):
                if value in seen:
                    raise AtKey(("agents", name, "token_hashes", index),
                                f"the same token hash is also declared for {seen[value]}")
                seen[value] = name
                self._by_hash[value.removeprefix(tokens.PREFIX)] = name
        for role in self.limits.roles:
            if role not in known:
                raise AtKey(("limits", "roles", role), "unknown role")
        for role in self.runner.max_running_per_role:
            if role not in known:
                raise AtKey(("runner", "max_running_per_role", role), "unknown role")
        default = self.escalation.notify
        for role in (self.delivery.overdue.notify or default).roles:
            if role not in known:
                raise ValueError(f"delivery.overdue.notify: unknown role {role!r}")
        for rule_name, rule in self.escalation.rules().items():
            where = ("escalation", "patterns", rule_name, "notify", "roles") if rule.notify else \
                ("escalation", "notify", "roles")
            for role in (rule.notify or default).roles:
                if role not in known:
                    raise AtKey(where, f"unknown role {role!r}")
            self._rules[rule_name] = (re.compile(rule.pattern), rule.notify or default)
        return self

    def all_roles(self) -> dict[str, RoleSpec]:
        return {**BUILTIN_ROLES, **self.roles}

    def is_privileged(self, role: str) -> bool:
        spec = self.all_roles().get(role)
        return bool(spec and spec.privileged)

    def privileged_roles(self) -> list[str]:
        return sorted(name for name, spec in self.all_roles().items() if spec.privileged)

    def is_elevated(self, role: str) -> bool:
        """Privileged, or permitting more than a member's own work: such a role is granted, never self-assigned."""
        return self.is_privileged(role) or bool(self.granted((role,)) - roles.SELF_SERVICE)

    def granted(self, member_roles: tuple[str, ...]) -> frozenset[str]:
        """Every permission the roles give, inherited ones included."""
        if len(member_roles) == 1:  # most members hold one role: its set as resolved once (at every call)
            return self._granted.get(member_roles[0], frozenset())
        found: set[str] = set()
        for role in member_roles:
            found |= self._granted.get(role, frozenset())
        return frozenset(found)

    def agent_with_hash(self, token_digest: str) -> str | None:
        """The declared agent one of whose token hashes is this digest, if any."""
        return self._by_hash.get(token_digest)

    def escalation_rules(self) -> dict[str, tuple[re.Pattern, Notify]]:
        return self._rules

    def rates_for(self, agent: str, member_roles: tuple[str, ...], family: str | None) -> list[tuple[str, RateLimit]]:
        """The limits a write counts against: ("writes", all together) and, if set, its family's own."""
        chosen = [("writes", self._pick(agent, member_roles, None) or self.limits.rate)]
        if family is not None:
            own = self._pick(agent, member_roles, family) or self.limits.families.get(family)
            if own is not None:
                chosen.append((family, own))
        return chosen

    def _pick(self, agent: str, member_roles: tuple[str, ...], family: str | None) -> RateLimit | None:
        def of(override: RateOverride | None) -> RateLimit | None:
            if override is None:
                return None
            return override.families.get(family) if family else override.rate

        mine = of(self.limits.agents.get(agent))
        if mine is not None:
            return mine
        by_role = [r for r in (of(self.limits.roles.get(role)) for role in member_roles) if r is not None]
        # Of several roles, the most generous limit applies.
        return max(by_role, key=lambda r: r.writes / r.window_seconds, default=None)


EMPTY_TEAM = Team()


def load_team(path: Path) -> Team:
    """Read and validate a team.yaml; a bad file raises ConfigError naming file, key path, line and reason."""
    return parse_team(read_config_file(path), str(path))


def parse_team(text: str, file: str) -> Team:
    return validate_yaml(Team, text, file, "must be a mapping of sections (hub, roles, agents, limits)",
                         empty_ok=True)
