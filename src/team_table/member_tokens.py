"""The token table: tokens issued to members as they register, hashes team.yaml declares (kept here once revoked),
and the tokens the hub mints for one run of an agent it runs. Only hashes are kept (tokens.py)."""

from __future__ import annotations

from collections.abc import Callable

from team_table import tokens
from team_table.store import Tx

ISSUED = "issued"  # minted by register; the member re-registers with it
FILE = "file"  # a hash team.yaml declares, kept as a row once revoked so that it stays revoked
RUN = "run"  # minted by the hub for one run of an agent it runs (runner/runs.py); revoked when the run ends
LIVE = "revoked_at IS NULL"  # a token row that still lets its member in


def issue(conn: Tx, name: str, source: str, now: str) -> str:
    """A new token for `name`, of this source. Returns the token; only its hash is kept."""
    token = tokens.mint()
    conn.execute("INSERT INTO token (hash, member, source, created_at) VALUES (?, ?, ?, ?)",
                 (tokens.digest(token), name, source, now))
    return token


def revoke(conn: Tx, name: str, now: str, source: str | None = None) -> int:
    """Revoke the live tokens of `name` (of this source, or all). Returns how many."""
    sql = f"UPDATE token SET revoked_at = ? WHERE member = ? AND {LIVE}"
    if source is None:
        return conn.execute(sql, (now, name)).rowcount
    return conn.execute(sql + " AND source = ?", (now, name, source)).rowcount


def revoke_declared(conn: Tx, name: str, file_hashes: tuple[str, ...], now: str) -> int:
    """Keep the hashes team.yaml declares for `name` as revoked rows (one kept already stays as it is)."""
    count = 0
    for value in file_hashes:
        count += conn.execute(
            "INSERT INTO token (hash, member, source, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(hash) DO NOTHING", (value.removeprefix(tokens.PREFIX), name, FILE, now, now)).rowcount
    return count


def is_revoked(conn: Tx, token_digest: str) -> bool:
    return conn.execute("SELECT 1 FROM token WHERE hash = ? AND revoked_at IS NOT NULL",
                        (token_digest,)).fetchone() is not None


def issued_to(conn: Tx, token_digest: str) -> str | None:
    """The member a live token issued by register belongs to, if any."""
    row = conn.execute(f"SELECT member FROM token WHERE hash = ? AND {LIVE} AND source = ?",
                       (token_digest, ISSUED)).fetchone()
    return None if row is None else row["member"]


def run_token_holders(rows: Callable[..., list]) -> list[str]:
    """Members holding a live run token, read through `rows(sql, params)` (a store's query, or a transaction's)."""
    return [row[0] for row in rows(f"SELECT DISTINCT member FROM token WHERE source = ? AND {LIVE}", (RUN,))]


def holds_one(rows: Callable[..., list], name: str) -> bool:
    """Whether `name` holds a live token of any source, read through `rows(sql, params)`."""
    return bool(rows(f"SELECT 1 FROM token WHERE member = ? AND {LIVE} LIMIT 1", (name,)))
