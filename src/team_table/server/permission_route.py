"""POST /agents/{agent_name}/permission: an agent's client asks before a tool it may not use on its own (Claude Code's
PermissionRequest hook, `team-table hook claude-code PermissionRequest`, which the hub's `claude` preset installs).
The hub puts the request before the people (a question of kind `permission` on Needs you, and their notifications)
and answers once a person pressed allow or deny, or with the default at the deadline (the run's `permissions`,
deny unless team.yaml says otherwise). The request is held open until then."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from team_table import questions
from team_table.errors import Invalid
from team_table.fanout import Fanout
from team_table.hub import Hub
from team_table.models import QuestionStatus
from team_table.runner.config import Permissions
from team_table.server import refusals
from team_table.server.auth_failures import FailedAuth
from team_table.server.events_route import Run, agent_route

MAX_TOOL_NAME = 200
PREVIEW = 2000  # characters of the tool's input shown to the people
SLACK = 5  # seconds beyond the deadline for the job that applies the default


def permissions_of(hub: Hub, agent: str) -> Permissions:
    declared = hub.team.agents.get(agent)
    run = getattr(declared, "run", None)
    return run.permissions if run is not None else Permissions()


def describe(tool: str, given: dict) -> str:
    """What the tool would do, in a few words for the person deciding."""
    for key in ("command", "file_path", "url", "pattern", "path"):
        if isinstance(given.get(key), str):
            return f"{key.replace('_', ' ')} {given[key][:300]}"
    return "with " + json.dumps(given, ensure_ascii=False)[:300] if given else "(no input)"


def permission_endpoint(hub: Hub, fanout: Fanout, run: Run,
                        failures: FailedAuth) -> Callable[[Request], Awaitable[Response]]:
    async def answer(request: Request, agent: str) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        tool = body.get("tool_name") if isinstance(body, dict) else None
        given = body.get("tool_input") if isinstance(body, dict) else None
        if not isinstance(tool, str) or not tool.strip() or len(tool) > MAX_TOOL_NAME \
                or not isinstance(given, dict | type(None)):
            return refusals.response(Invalid("Send {\"tool_name\": NAME, \"tool_input\": {...}}: the tool the client "
                                             "asks to use."))
        given = given or {}
        policy = permissions_of(hub, agent)
        if not policy.ask:
            return JSONResponse({"behavior": policy.default, "message": "the people are not asked for this agent"})
        preview = json.dumps(given, ensure_ascii=False, indent=1)[:PREVIEW]
        asked = await run(lambda: questions.ask_permission(
            hub, agent, tool, describe(tool, given), preview, timeout_seconds=policy.timeout_seconds,
            default=policy.default))
        closed = await questions.wait_for_answer(hub, fanout, run, asked.id, policy.timeout_seconds + SLACK)
        if closed.status == QuestionStatus.ANSWERED:
            why = f"{closed.answered_by} answered {closed.answer}"
        elif closed.status == QuestionStatus.OPEN:
            why = f"nobody answered in time; the default ({policy.default}) applies"
        else:
            why = f"nobody answered by the deadline; the default ({closed.answer or policy.default}) applied"
        behavior = closed.answer if closed.answer in ("allow", "deny") else policy.default
        return JSONResponse({"behavior": behavior, "question": asked.id, "message": f"team-table: {why}."},
                            headers={"Cache-Control": "no-store"})

    return agent_route(hub, run, failures, answer)
