"""The git guard's question: may this agent commit changes to these files? A file is refused when another member
holds it exclusively, or when team.yaml requires a reservation for it (reservations.required) and the committer
holds no exclusive one; files team.yaml exempts (reservations.exempt) are never refused. Reservations past their
end do not count (the holder hears of the lapse from the hub's next check).

Read only, through any `query(sql, params)`: the hub's store for its HTTP route, or the table's database opened
read-only by `team-table guard check --db`.
"""

from __future__ import annotations

from typing import Any

from team_table import overlap, reservations
from team_table.config.reservations import Reservations
from team_table.errors import Invalid
from team_table.store import placeholders

MAX_FILES = 20_000  # files in one question (a bigger commit is asked about in parts)
MAX_PATH = 4096
_CHUNK = 500  # anchors per query


def files(value: Any) -> list[str]:
    """The files of a question, each a path relative to the repository root (refused `invalid` otherwise)."""
    if not isinstance(value, list) or len(value) > MAX_FILES:
        raise Invalid(f"paths must be a list of at most {MAX_FILES} file paths relative to the repository root.")
    for path in value:
        if not isinstance(path, str) or not path or len(path) > MAX_PATH or path.startswith("/") \
                or any(part in ("", ".", "..") for part in path.split("/")) \
                or any(ord(c) < 32 or ord(c) == 127 for c in path):
            shown = repr(path)[:60] if isinstance(path, str) else type(path).__name__
            raise Invalid(f"{shown} is not a file path relative to the repository root.")
    return value


def verdict(query: reservations.Query, policy: Reservations, agent: str | None, paths: list[str],
            now: float) -> dict:
    """{"ok": bool, "blocked": [{path, agent, pattern, task_id, expires_at, reason}], "missing": [{path, required}]}
    for a commit by `agent` (None: someone who holds nothing, e.g. a person) touching `paths`."""
    checked = [p for p in paths if not any(overlap.covers(pattern, p) for pattern in policy.exempt)]
    near = _live_near(query, {a for p in checked for a in overlap.anchors_within(p)}, now)
    blocked, missing = [], []
    for path in checked:
        covering = [row for a in overlap.anchors_within(path) for row in near.get(a, ())
                    if row["exclusive"] and overlap.covers(row["pattern"], path)]
        blocked += [{"path": path, "agent": row["agent"], "pattern": row["pattern"], "task_id": row["task_id"],
                     "expires_at": reservations.at(row["expires"]), "reason": row["reason"]}
                    for row in covering if row["agent"] != agent]
        required = next((pattern for pattern in policy.required if overlap.covers(pattern, path)), None)
        if required is not None and not any(row["agent"] == agent for row in covering):
            missing.append({"path": path, "required": required})
    return {"ok": not blocked and not missing, "blocked": blocked, "missing": missing}


def _live_near(query: reservations.Query, anchors: set[str], now: float) -> dict[str, list]:
    """Live reservations anchored at any of `anchors`, by anchor."""
    found: dict[str, list] = {}
    ordered = sorted(anchors)
    for start in range(0, len(ordered), _CHUNK):
        part = ordered[start:start + _CHUNK]
        for row in query(f"SELECT * FROM reservation WHERE expires > ? AND anchor IN ({placeholders(part)})",
                         [now, *part]):
            found.setdefault(row["anchor"], []).append(row)
    return found


def in_words(answer: dict) -> str:
    """What the guard prints when it refuses a commit."""
    lines = []
    for hit in answer["blocked"][:20]:
        task = f"task {hit['task_id']}, " if hit["task_id"] else ""
        why = f"; {hit['reason'][:80]}" if hit["reason"] else ""
        lines.append(f"  {hit['path']}: {hit['agent']} holds {hit['pattern']} ({task}until {hit['expires_at']}{why})")
    for hit in answer["missing"][:20]:
        lines.append(f"  {hit['path']}: needs your exclusive reservation (team.yaml reservations.required: "
                     f"{hit['required']}); reserve_paths([\"{hit['path']}\"]) first")
    more = len(answer["blocked"]) + len(answer["missing"]) - len(lines)
    if more > 0:
        lines.append(f"  and {more} more")
    holders = sorted({hit["agent"] for hit in answer["blocked"]})
    ask = (f"Ask {', '.join(holders)} (send_message), or watch_paths to be told when it frees; " if holders else "")
    return ("team-table guard: this commit touches paths held by others, or that need your reservation:\n"
            + "\n".join(lines) + f"\n{ask}to commit anyway: git commit --no-verify.")
