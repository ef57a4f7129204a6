"""POST /agents/{agent_name}/reservations/check (bearer token): the git guard asks whether the agent may commit
changes to a list of files (body {"paths": [...]}); the answer is commit_check's verdict."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from team_table import commit_check, reservations
from team_table.errors import Invalid, TeamTableError
from team_table.hub import Hub
from team_table.server import refusals
from team_table.server.auth_failures import FailedAuth
from team_table.server.events_route import Run, agent_route


def check_endpoint(hub: Hub, run: Run, failures: FailedAuth) -> Callable[[Request], Awaitable[Response]]:
    async def answer(request: Request, agent: str) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            paths = commit_check.files(body.get("paths") if isinstance(body, dict) else None)
            pinned = hub.pinned()
            answer = await run(lambda: commit_check.verdict(pinned.store.query, pinned.team.reservations, agent,
                                                            paths, reservations.epoch(pinned)))
        except ValueError:
            return refusals.response(Invalid('The body must be JSON: {"paths": ["src/a.py", ...]}.'))
        except TeamTableError as exc:
            return refusals.response(exc)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    return agent_route(hub, run, failures, answer)

