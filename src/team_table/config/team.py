"""team.yaml as a whole: its sections, the checks across them, what they resolve to once (each role's permissions,
the declared token hashes, the escalation patterns), and reading the file."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import PrivateAttr, model_validator

from team_table import roles, tokens
from team_table.config.agents import AgentSpec
from team_table.config.escalation import EscalationPolicy
from team_table.config.hub import HubSection
from team_table.config.limits import Limits
from team_table.config.notifications import NotificationTarget
from team_table.config.presence import Presence
from team_table.config.reservations import Reservations
from team_table.config.roles import BUILTIN_ROLES, RoleSpec
from team_table.config_base import Frozen, Notify
from team_table.delivery_policy import DeliveryPolicy
from team_table.names import is_reserved, is_valid_name
from team_table.runner.config import RunnerSection
from team_table.yaml_files import AtKey, read_config_file, validate_yaml

KeyPath = tuple[str | int, ...]


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
        self._check_names()
        known = self.all_roles()
        try:
            self._granted = roles.resolve(known)
        except roles.BadInheritance as exc:
            raise AtKey(("roles", exc.role, "inherits") if exc.role in self.roles else ("roles",), str(exc)) from None
        self._check_agents(known)
        for role in self.limits.roles:
            _known_role(known, ("limits", "roles", role), role)
        for role in self.runner.max_running_per_role:
            _known_role(known, ("runner", "max_running_per_role", role), role)
        self._told(known, self.delivery.overdue.notify, ("delivery", "overdue", "notify"))
        for rule_name, rule in self.escalation.rules().items():
            told = self._told(known, rule.notify, ("escalation", "patterns", rule_name, "notify"))
            self._rules[rule_name] = (re.compile(rule.pattern), told)
        return self

    def _check_names(self) -> None:
        named = [(("roles", n), n) for n in self.roles] + [(("agents", n), n) for n in self.agents] \
            + [(("hub", "admins", str(i)), n) for i, n in enumerate(self.hub.admins)] \
            + [(("limits", "agents", n), n) for n in self.limits.agents]
        for path, name in named:
            if not is_valid_name(name):
                raise AtKey(path, f"{name!r} is not a valid name (letters, digits, space . _ -)")
        for name in self.agents:
            if is_reserved(name):
                raise AtKey(("agents", name), "the hub itself writes under this name; choose another")

    def _check_agents(self, known: dict[str, RoleSpec]) -> None:
        """Each agent's roles are known (and an elevated one comes with a token), what it asks suits who it is, and
        no token hash is declared twice."""
        elevated = {role for role in known if self.is_elevated(role)}
        seen: dict[str, str] = {}
        for name, agent in self.agents.items():
            said = (("agents", name, "roles") if agent.roles else ("agents", name, "role"))
            for role in agent.all_roles:
                _known_role(known, said, role)
                if role in elevated and not agent.token_hashes:
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

    def _told(self, known: dict[str, RoleSpec], own: Notify | None, where: KeyPath) -> Notify:
        """Who is told: `own` (at `where`), else escalation.notify; each of its roles known."""
        told, path = (own, (*where, "roles")) if own is not None else \
            (self.escalation.notify, ("escalation", "notify", "roles"))
        for role in told.roles:
            _known_role(known, path, role)
        return told

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


def _known_role(known: dict[str, RoleSpec], path: KeyPath, role: str) -> None:
    if role not in known:
        raise AtKey(path, f"unknown role {role!r}; known roles: {', '.join(sorted(known))} (add it under roles:)")


EMPTY_TEAM = Team()


def load_team(path: Path) -> Team:
    """Read and validate a team.yaml; a bad file raises ConfigError naming file, key path, line and reason."""
    return parse_team(read_config_file(path), str(path))


def parse_team(text: str, file: str) -> Team:
    return validate_yaml(Team, text, file, "must be a mapping of sections (hub, roles, agents, limits)",
                         empty_ok=True)
