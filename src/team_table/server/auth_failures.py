"""Failed authentications: counted per client address in a sliding window, and in /metrics by route. The one
mechanism of every edge (MCP tool calls, /events, the /agents/* routes, the guard's bearer check, the dashboard's
sign-in): a failure is counted, and an address past its limit is answered rate_limited instead. Only failures come
here, so a valid token is never held up. The dashboard's sign-ins have a counter of their own (an agent that keeps
sending a bad token must not lock the person out, nor the other way round)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from team_table.errors import RateLimited, TeamTableError

if TYPE_CHECKING:
    from team_table.server.metrics import Metrics

AUTH_FAILURES = 10  # per client address ...
AUTH_WINDOW = 60.0  # ... per this many seconds, then 429 until the window passes


def route_of(path: str) -> str:
    """The label of a request's route in /metrics: its first path segment ("/mcp", "/events", "/agents", "/ui")."""
    return "/" + path.strip("/").split("/", 1)[0]


class FailedAuth:
    """Failed authentications per client address, in a sliding window."""

    def __init__(self, metrics: Metrics | None = None, limit: int = AUTH_FAILURES, window: float = AUTH_WINDOW,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.metrics = metrics
        self.limit, self.window, self.clock = limit, window, clock
        self._seen: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        stamps = self._seen.setdefault(client, deque())
        cutoff = self.clock() - self.window
        while stamps and stamps[0] < cutoff:
            stamps.popleft()
        return stamps

    def blocked(self, client: str) -> float:
        """Seconds until `client` may try again (0 when it may now)."""
        stamps = self._recent(client)
        if len(stamps) < self.limit:
            return 0.0
        return max(0.0, stamps[0] + self.window - self.clock())

    def refused(self, route: str, client: str | None, error: TeamTableError) -> TeamTableError:
        """One failed authentication on `route`: counted in /metrics, and against `client`'s address (None: not a
        guess, e.g. an empty bearer token). The refusal to answer: `error`, or rate_limited for an address past its
        limit."""
        if self.metrics is not None:
            self.metrics.auth_failures.labels(route).inc()
        if client is None:
            return error
        wait = self.blocked(client)
        if wait:
            return RateLimited(f"Too many failed authentications from this address; try again in {wait:.0f} s.",
                               wait)
        self._recent(client).append(self.clock())
        if len(self._seen) > 10_000:  # an address flood cannot grow this without bound
            self._seen = {k: v for k, v in self._seen.items() if v}
        return error
