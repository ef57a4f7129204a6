"""team.yaml's `notifications:` section: where the people are told outside the dashboard, about what, how often."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from team_table.config_base import Frozen

NotifyKind = Literal["escalation", "question", "question_deadline", "workflow_failed", "task_blocked"]
_SECRET_IN_URL = re.compile(r"^[a-z0-9+.-]+://[^/@]*:(?!\$\{)[^/@]+@", re.I)  # user:password@ written out


class NotificationTarget(Frozen):
    """Where the people are told outside the dashboard (Apprise URLs), about what, how often."""

    urls: tuple[str, ...] = Field(min_length=1)  # Apprise URLs; ${NAME} is read from the hub's environment
    on: tuple[NotifyKind, ...] = ("escalation", "question")
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
