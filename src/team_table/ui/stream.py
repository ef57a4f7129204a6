"""GET /ui/events: what keeps a dashboard page live. A server-sent `changed` event (its kind, nothing more) for
every event on the table, whoever it was addressed to: the page then re-reads itself, and what it shows is
checked against the person's roles as always. Resumable with Last-Event-ID (one `changed` for whatever happened
meanwhile); the session is checked again every few seconds, and an ended one (signed out elsewhere, revoked,
expired) gets `ended` and the stream closes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

from team_table import events, limits
from team_table.errors import Forbidden, Invalid, RateLimited, TeamTableError
from team_table.fanout import MAX_STREAMS, Subscription
from team_table.server import refusals
from team_table.ui import sessions
from team_table.ui.web import HEADERS, Dashboard

CHECK_SECONDS = 5.0  # how often an open stream checks that its session still holds
HEARTBEAT_EVERY = 3  # checks between heartbeats (15 s)


def events_page(ui: Dashboard):
    async def endpoint(request: Request) -> Response:
        try:
            session = await ui.session(request)
        except TeamTableError as exc:  # the database cannot answer now: the page's script tries again
            return _refused(exc, 503, {"retry-after": refusals.AGAIN_SOON})
        if session is None:
            return _refused(Forbidden("Sign in to the dashboard first."))
        fanout, name = ui.rt.fanout, session.caller.name
        if fanout.streams_of(name) >= MAX_STREAMS:
            return _refused(RateLimited(f"{name} has {MAX_STREAMS} streams open on this hub already.", 10))
        sub = fanout.subscribe(name, everything=True, stream=True)
        try:
            newest = await ui.run(lambda: events.last_id(ui.hub.store))
        except BaseException as exc:
            fanout.unsubscribe(sub)
            if isinstance(exc, TeamTableError):
                return _refused(exc, 503, {"retry-after": refusals.AGAIN_SOON})
            raise
        fanout.start_at(newest)
        raw = request.headers.get("last-event-id", "")
        try:
            missed = bool(raw) and limits.whole(raw, "Last-Event-ID", least=0) < newest
        except Invalid:  # not an id this hub gave: whatever it missed, the page reads itself again
            missed = True
        return EventSourceResponse(_stream(ui, request, sub, newest, missed),
                                   headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"},
                                   send_timeout=10, ping=0)

    return endpoint


def _refused(error: TeamTableError, status: int | None = None, extra: dict[str, str] | None = None) -> Response:
    """A refusal without a body (the page's EventSource reads only the status): as refusals.response."""
    return Response(status_code=status or refusals.status(error),
                    headers={**HEADERS, **refusals.headers(error), **(extra or {})})


async def _stream(ui: Dashboard, request: Request, sub: Subscription, cursor: int,
                  missed: bool) -> AsyncIterator[ServerSentEvent]:
    ui.metrics.streams.inc()
    try:
        yield ServerSentEvent(id=str(cursor), event="connected", data="{}")
        if missed:
            yield ServerSentEvent(id=str(cursor), event="changed", data=json.dumps({"kind": "missed"}))
        checks, cookie = 0, request.cookies.get(sessions.COOKIE)
        while True:
            with anyio.move_on_after(CHECK_SECONDS) as idle:
                event = await sub.queue.get()
            if idle.cancelled_caught:
                try:
                    found = await ui.run(lambda: sessions.find(ui.hub.pinned(), cookie))
                except TeamTableError:  # the database is away: keep the stream, check again next time
                    continue
                if found is None:
                    yield ServerSentEvent(id=str(cursor), event="ended", data="{}")
                    return
                checks += 1
                if checks % HEARTBEAT_EVERY == 0:
                    yield ServerSentEvent(id=str(cursor), event="heartbeat", data="{}")
                continue
            if event is None:  # closed: the member was revoked, or fell behind, or the hub is stopping
                yield ServerSentEvent(id=str(cursor), event="ended" if sub.closed and "revoked" in sub.closed
                                      else "closed", data=json.dumps({"reason": sub.closed}))
                return
            if event.id > cursor:
                cursor = event.id
                yield ServerSentEvent(id=str(cursor), event="changed", data=json.dumps({"kind": event.kind}))
    finally:
        ui.rt.fanout.unsubscribe(sub)
        ui.metrics.streams.dec()
