"""PostgreSQL connection URLs: telling one from a file path, and showing one without its password (in logs,
messages and pages)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def is_url(where: object) -> bool:
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))


def shown(url: str) -> str:
    """The URL for logs and messages: its password, if any, replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def without_password(url: str) -> str:
    """The URL to print for others to use: the password stays where it was (PGPASSWORD, ~/.pgpass)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{host}" if parts.username else host))

