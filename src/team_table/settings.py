"""The hub's settings, resolved once at start: flag > TEAM_TABLE_* variable > team.yaml > default."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from team_table.config import EMPTY_TEAM, Team, parse_team
from team_table.errors import Invalid
from team_table.names import token_variable
from team_table.store.postgres_urls import is_url, shown, without_password
from team_table.store.sqlite_file import DEFAULT_DB
from team_table.yaml_files import read_config_file

TRANSPORTS = ("stdio", "sse", "streamable-http")
TRUE_WORDS = {"1", "true", "yes", "y", "on"}
DEFAULT_PORT = 8741


@dataclass(frozen=True)
class Settings:
    db_path: Path
    transport: str
    host: str
    port: int
    require_tokens: bool
    allow_insecure: bool
    admins: frozenset[str]
    config_path: Path | None
    agent: str | None = None
    token: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    transport_from: str = "default"  # where the transport was chosen: flag, env, file or default
    config_digest: str | None = None  # of the team.yaml text the team was read from
    db_url: str | None = None  # a PostgreSQL database (db_path is then unused); may hold a password: never print it
    pool_size: int = 10
    stateless_http: bool = False
    # The Claude Code session that started this stdio hub, and how to post into it (its cross-session socket).
    messaging_socket: str | None = None
    messaging_token: str | None = None
    # The hub's environment as it started: what a run may be handed of it (runner/folders.py picks). Never shown.
    environ: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    @property
    def network(self) -> bool:
        return self.transport != "stdio"

    @property
    def store_at(self) -> Path | str:
        """What open_store opens: the SQLite file, or the PostgreSQL URL."""
        return self.db_url or self.db_path

    @property
    def database(self) -> str:
        """Where the table is, to print: the file, or the URL without its password."""
        return shown(self.db_url) if self.db_url else str(self.db_path)

    @property
    def database_for_others(self) -> str:
        """Where the table is, for a line others run (`--db`): an absolute path, or the URL without its password
        (which each process takes from PGPASSWORD or ~/.pgpass)."""
        return without_password(self.db_url) if self.db_url else str(self.db_path.resolve())


def find_config(flag: str | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    """--config, else TEAM_TABLE_CONFIG, else ./team.yaml when there is one."""
    chosen = flag or env.get("TEAM_TABLE_CONFIG") or None
    if chosen:
        path = Path(chosen).expanduser()
        return path if path.is_absolute() else (cwd / path)
    local = cwd / "team.yaml"
    return local if local.is_file() else None


def load(flags: Mapping[str, Any], env: Mapping[str, str], cwd: Path) -> tuple[Settings, Team]:
    """Resolve settings and load the team file they point at; raises Invalid or ConfigError."""
    config_path = find_config(flags.get("config"), env, cwd)
    if config_path is None:
        return resolve(flags, env, EMPTY_TEAM, None), EMPTY_TEAM
    text = read_config_file(config_path)
    team = parse_team(text, str(config_path))
    settings = resolve(flags, env, team, config_path)
    return dataclasses.replace(settings, config_digest=hashlib.sha256(text.encode("utf-8")).hexdigest()), team


def resolve(flags: Mapping[str, Any], env: Mapping[str, str], team: Team, config_path: Path | None) -> Settings:
    hub = team.hub

    def source(flag: str, var: str, file_value: Any) -> str:
        if flags.get(flag) is not None:
            return "flag"
        if env.get(var, "") != "":
            return "env"
        return "file" if file_value is not None else "default"

    def pick(flag: str, var: str, file_value: Any, default: Any) -> Any:
        return {"flag": lambda: flags[flag], "env": lambda: env[var], "file": lambda: file_value,
                "default": lambda: default}[source(flag, var, file_value)]()

    transport = str(pick("transport", "TEAM_TABLE_TRANSPORT", hub.transport, "stdio")).lower()
    if transport not in TRANSPORTS:
        raise Invalid(f"Unknown transport {transport!r}: choose one of {', '.join(TRANSPORTS)}.")
    port = _port(pick("port", "TEAM_TABLE_PORT", hub.port, DEFAULT_PORT))
    db = pick("db", "TEAM_TABLE_DB", None, None)
    db_url = str(db) if is_url(db) else hub.db if db is None and is_url(hub.db) else None
    if db_url is not None:
        db_path = DEFAULT_DB.expanduser()  # unused: the table is on the database server
    elif db is not None:
        db_path = Path(str(db)).expanduser()
    elif hub.db is not None:
        db_path = Path(hub.db).expanduser()
        if not db_path.is_absolute() and config_path is not None:
            db_path = config_path.parent / db_path  # relative to the team file, wherever the hub starts
    else:
        db_path = DEFAULT_DB.expanduser()
    admins = {n.strip() for n in env.get("TEAM_TABLE_ADMINS", "").split(",") if n.strip()}
    agent = flags.get("agent") or env.get("TEAM_TABLE_AGENT") or None
    return Settings(
        db_path=db_path,
        transport=transport,
        host=str(pick("host", "TEAM_TABLE_HOST", hub.host, "127.0.0.1")),
        port=port,
        require_tokens=_bool(pick("require_tokens", "TEAM_TABLE_REQUIRE_TOKENS", hub.require_tokens, True)),
        allow_insecure=_bool(pick("allow_insecure", "TEAM_TABLE_ALLOW_INSECURE", hub.allow_insecure, False)),
        admins=frozenset(admins | set(hub.admins)),
        config_path=config_path,
        agent=agent,
        # TEAM_TABLE_TOKEN, else the agent's own variable (which Codex passes through with env_vars).
        token=env.get("TEAM_TABLE_TOKEN") or (env.get(token_variable(agent)) if agent else None) or None,
        allowed_hosts=tuple(flags.get("allow_host") or ()) + hub.allowed_hosts,
        transport_from=source("transport", "TEAM_TABLE_TRANSPORT", hub.transport),
        db_url=db_url,
        pool_size=hub.pool_size,
        stateless_http=hub.stateless_http if hub.stateless_http is not None else db_url is not None,
        messaging_socket=env.get("CLAUDE_CODE_MESSAGING_SOCKET") or None,
        messaging_token=env.get("CLAUDE_CODE_MESSAGING_TOKEN") or None,
        environ=tuple(env.items()),
    )


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


def _port(value: Any) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise Invalid(f"The port {value!r} is not a number: give a port from 1 to 65535.") from None
    if not 1 <= port <= 65535:
        raise Invalid(f"The port {port} is out of range: give a port from 1 to 65535.")
    return port
