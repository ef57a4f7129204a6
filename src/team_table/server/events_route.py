"""An agent's own routes beside MCP: GET /events/{agent_name}, its push stream (SSE), resumable with
Last-Event-ID; and /agents/{agent_name}/waiting, what waits for it (for client hooks: GET reads it, POST reads it
and records that the hook put it before the model, `surfaced`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from team_table import events, limits, members, receipts
from team_table.delivery_policy import Way
from team_table.errors import Busy, Forbidden, Invalid, RateLimited, TeamTableError, Unauthorized, Unavailable
from team_table.events import Event
from team_table.fanout import MAX_STREAMS, Fanout, Subscription
from team_table.hub import Hub
from team_table.names import token_variable
from team_table.server import refusals
from team_table.server.auth_failures import FailedAuth, route_of
from team_table.server.identity import bearer_token
from team_table.server.metrics import Metrics
from team_table.waiting_summary import waiting_for

if TYPE_CHECKING:
    from team_table.wake.waker import Waker

HEARTBEAT_SECONDS = 15.0
SEND_TIMEOUT = 10.0  # a write that cannot go out for this long ends the stream (see also server/progress.py)
Run = Callable[[Callable[[], Any]], Awaitable[Any]]


def _sse(event: Event) -> ServerSentEvent:
    return ServerSentEvent(id=str(event.id), event=event.kind, data=json.dumps(event.data))


def unavailable(error: TeamTableError) -> Response:
    """The database cannot answer now (away, or busy): 503, and when to come back."""
    return refusals.response(error, 503, {"retry-after": refusals.AGAIN_SOON})


async def refuse_unless_member(request: Request, hub: Hub, agent: str, token: str, run: Run,
                               failures: FailedAuth) -> Response | None:
    """None when `token` is `agent`'s; else the refusal (403, or 429 for an address that keeps guessing: a valid
    token is never held up; 503 when the database cannot tell now)."""
    try:
        await run(lambda: members.authenticate(hub, agent, token))
        return None
    except (Unavailable, Busy) as exc:
        return unavailable(exc)
    except TeamTableError:
        client = request.client.host if request.client else "-"
        return refusals.response(failures.refused(route_of(request.url.path), client, Forbidden("Not allowed")))


async def refuse_unless_bearer_of(request: Request, hub: Hub, agent: str, run: Run,
                                  failures: FailedAuth) -> Response | None:
    """The /agents/{agent}/... routes of the hooks: None when the bearer token is `agent`'s; 401 without one (naming
    the header and the agent's variable), else as refuse_unless_member (403 for a token that is not agent's)."""
    token = bearer_token(request.headers)
    if not token:
        return refusals.response(Unauthorized(f"This route needs {agent}'s token: send `Authorization: Bearer "
                                              f"<token>` (`team-table hook` reads it from {token_variable(agent)})."))
    return await refuse_unless_member(request, hub, agent, token, run, failures)


def agent_route(hub: Hub, run: Run, failures: FailedAuth,
                answer: Callable[[Request, str], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """An /agents/{agent_name}/... endpoint: `answer(request, agent)`, for that agent's bearer token only."""
    async def endpoint(request: Request) -> Response:
        agent = request.path_params["agent_name"]
        refused = await refuse_unless_bearer_of(request, hub, agent, run, failures)
        if refused is not None:
            return refused
        return await answer(request, agent)

    return endpoint


def waiting_endpoint(hub: Hub, run: Run, failures: FailedAuth,
                     waker: Waker | None = None) -> Callable[[Request], Awaitable[Response]]:
    """/agents/{agent_name}/waiting (bearer token): what waits for the agent, for the client hooks, and the ways
    this hub process has to wake it now (best first); a POST also marks what waits surfaced (the hook is adding it
    to the model's context)."""
    async def answer(request: Request, agent: str) -> Response:
        try:
            found = await run(lambda: waiting_for(hub.store.query, agent))
            if request.method == "POST":
                await run(lambda: receipts.shown(hub, agent, found["ids"], receipts.Shown.HOOK))
        except (Unavailable, Busy) as exc:
            return unavailable(exc)
        ways = waker.ways(agent) if waker is not None else []
        return JSONResponse({**found, "ways": ways}, headers={"Cache-Control": "no-store"})

    return agent_route(hub, run, failures, answer)


def events_endpoint(hub: Hub, fanout: Fanout, run: Run, failures: FailedAuth, metrics: Metrics,
                    heartbeat: float = HEARTBEAT_SECONDS, send_timeout: float = SEND_TIMEOUT,
                    waker: Waker | None = None) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        agent = request.path_params["agent_name"]
        token = bearer_token(request.headers) or request.query_params.get("token", "")
        refused = await refuse_unless_member(request, hub, agent, token, run, failures)
        if refused is not None:
            return refused
        try:
            resume = _last_event_id(request)
        except Invalid as exc:
            return refusals.response(exc)
        if fanout.streams_of(agent) >= MAX_STREAMS:
            return refusals.response(RateLimited(f"{agent} has {MAX_STREAMS} push streams open on this hub already; "
                                                 "close one (or reuse it) before opening another.", 10))
        if resume is not None:
            sub, cursor = fanout.subscribe(agent, stream=True), resume
        else:
            try:
                sub, cursor = await fanout.subscribe_from_now(agent, run, stream=True)
            except TeamTableError as exc:
                return unavailable(exc)
        return EventSourceResponse(_stream(agent, sub, cursor, resume, fanout, hub, run, metrics, heartbeat, waker),
                                   headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"},
                                   send_timeout=send_timeout, ping=0)

    return endpoint


def _last_event_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    return limits.whole(raw, "Last-Event-ID", least=0) if raw else None


async def _stream(agent: str, sub: Subscription, cursor: int, resume: int | None, fanout: Fanout, hub: Hub,
                  run: Run, metrics: Metrics, heartbeat: float,
                  waker: Waker | None) -> AsyncIterator[ServerSentEvent]:
    metrics.streams.inc()
    remove_way = waker.add(agent, _stream_way()) if waker is not None else None
    try:
        yield ServerSentEvent(id=str(cursor), event="connected",
                              data=json.dumps({"agent": agent, "resumed_after": resume}))
        while resume is not None:
            try:
                missed = await run(partial(events.for_agent, hub.store, agent, cursor))
            except TeamTableError as exc:  # the database went away: the client comes back with its last id
                yield ServerSentEvent(id=str(cursor), event="closed", data=json.dumps(
                    {"reason": f"{exc.code}: the hub cannot read its database now; reconnect with Last-Event-ID"}))
                return
            for event in missed:
                yield _sse(event)
                cursor = event.id
            if len(missed) < 1000:
                break
        while True:
            with anyio.move_on_after(heartbeat) as idle:
                event = await sub.queue.get()
            if idle.cancelled_caught:
                yield ServerSentEvent(id=str(cursor), event="heartbeat", data="{}")
                continue
            if event is None:
                yield ServerSentEvent(id=str(cursor), event="closed", data=json.dumps({"reason": sub.closed}))
                return
            if event.id > cursor:
                yield _sse(event)
                cursor = event.id
    finally:
        if remove_way is not None:
            remove_way()
        fanout.unsubscribe(sub)
        metrics.streams.dec()


def _stream_way():
    """An open push stream as a way to wake its agent (the last one tried): the stream carries the event itself."""
    from team_table.wake.waker import Route

    async def carried(text: str) -> None:
        return None

    return Route(Way.STREAM, carried, label="events")
