"""team.yaml's `hub:` section: the hub process's settings (flags and TEAM_TABLE_* variables override them)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from team_table.config_base import Frozen

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
