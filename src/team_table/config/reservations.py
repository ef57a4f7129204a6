"""team.yaml's `reservations:` section: how long paths may be held, what a claim does on a conflict, what the git
guard asks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from team_table import overlap
from team_table.config_base import Frozen

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
