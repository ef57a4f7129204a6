"""A refusal as the outside sees it: its JSON body (the same over MCP and HTTP) and, over HTTP, its status and
headers. The one table from refusal codes to HTTP statuses: every route, the guard and the dashboard answer by it."""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import JSONResponse

from team_table.errors import Busy, HeldPaths, RateLimited, TeamTableError, Unauthorized, Unavailable
from team_table.models import plain

STATUS = {"invalid": 400, "config": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "conflict": 409,
          "rate_limited": 429, "internal": 500, "unavailable": 503, "busy": 503}
AGAIN_SOON = "2"  # seconds: when to ask again after the database could not answer (busy, or away)


def body(error: TeamTableError) -> dict[str, Any]:
    """{"error": what to do, "code": its stable code}, with the seconds to wait when rate-limited and the holders of
    paths refused for being held."""
    found: dict[str, Any] = {"error": error.message, "code": error.code}
    if isinstance(error, RateLimited):
        found["retry_after"] = round(error.retry_after, 1)
    if isinstance(error, HeldPaths):
        found["holders"] = plain(error.holders)
    return found


def status(error: TeamTableError) -> int:
    return STATUS.get(error.code, 400)


def headers(error: TeamTableError) -> dict[str, str]:
    """Retry-After (whole seconds, rounded up) when rate-limited, and soon when the database could not answer;
    WWW-Authenticate when a token is wanted."""
    if isinstance(error, RateLimited):
        return {"retry-after": str(max(1, math.ceil(error.retry_after)))}
    if isinstance(error, Unavailable | Busy):
        return {"retry-after": AGAIN_SOON}
    if isinstance(error, Unauthorized):
        return {"www-authenticate": "Bearer"}
    return {}


def response(error: TeamTableError, status_code: int | None = None,
             extra: dict[str, str] | None = None) -> JSONResponse:
    """The refusal as an HTTP answer (`status_code` only where the HTTP layer says more than the code: 405, 413)."""
    return JSONResponse(body(error), status_code or status(error), {**headers(error), **(extra or {})})
