"""The one error tree: every refusal the hub gives has a stable code and a sentence that says what to do."""

from __future__ import annotations


class TeamTableError(Exception):
    """Base of every refusal; `code` is stable, the message is for people and models."""

    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(TeamTableError):
    code = "invalid"


class Unauthorized(TeamTableError):
    code = "unauthorized"


class Forbidden(TeamTableError):
    code = "forbidden"
    permission: str | None = None  # the permission that was lacking, when that was the reason


class NotFound(TeamTableError):
    code = "not_found"


class Conflict(TeamTableError):
    code = "conflict"


class HeldPaths(Conflict):
    """Refused because others hold paths the request overlaps; `holders` names each (who, which pattern, for which
    task, until when)."""

    def __init__(self, message: str, holders: list) -> None:
        super().__init__(message)
        self.holders = holders


class RateLimited(TeamTableError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Busy(TeamTableError):
    """The database stayed locked longer than the hub is willing to wait."""

    code = "busy"


class Unavailable(TeamTableError):
    """The database cannot be written (disk full, read-only, gone): nothing was changed; it is worth retrying."""

    code = "unavailable"


class ConfigError(TeamTableError):
    """A config file is wrong: names the file, the key path and (when known) the line."""

    code = "config"

    def __init__(self, file: str, problems: list[ConfigProblem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(p.describe(file) for p in problems))


class ConfigProblem:
    """One thing wrong in a config file."""

    __slots__ = ("line", "path", "reason")

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line

    def describe(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line else file
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.reason}"


# One refusal for every authentication failure, so a caller cannot learn which part was wrong.
NOT_AUTHENTICATED = (
    "Not authenticated: the name and token do not match an active member. "
    "Use the name you registered with and the token register returned (or the one your operator gave you)."
)
