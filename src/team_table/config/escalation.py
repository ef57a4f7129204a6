"""team.yaml's `escalation:` section: messages that need a human decision, by named patterns, and who is told."""

from __future__ import annotations

import re

from pydantic import field_validator

from team_table.config_base import Frozen, Notify


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
