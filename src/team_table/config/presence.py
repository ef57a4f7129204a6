"""team.yaml's `presence:` section: when a member counts as idle or offline, and how long a claim is held."""

from __future__ import annotations

from pydantic import Field, model_validator

from team_table.config_base import Frozen


class Presence(Frozen):
    idle_after_seconds: float = Field(default=300.0, gt=0)
    offline_after_seconds: float = Field(default=900.0, gt=0)
    claim_lease_seconds: float = Field(default=1800.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Presence:
        if self.offline_after_seconds <= self.idle_after_seconds:
            raise ValueError("offline_after_seconds must be longer than idle_after_seconds")
        return self
