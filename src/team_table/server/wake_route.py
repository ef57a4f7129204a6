"""GET /agents/{agent_name}/wakes: a helper of the agent's client waiting to be told that something came, as one of
the agent's ways to be woken (wake/waker.py). `?via=monitor` (a Claude Code plugin monitor: a stream for the
session's lifetime, each wake one line) or `?via=hook` (an asyncRewake hook: the first wake ends it). A newer hook of
the same `session` replaces an older one, so a session never has two waiting.

An SSE stream: `ready` once the way is in place, `wake` with the pointer, a comment every 15 s so a dead reader is
noticed. A wake counts as sent only once its bytes went out; a reader gone by then gives it back for the next way.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

from team_table.delivery_policy import Way
from team_table.errors import Invalid
from team_table.hub import Hub
from team_table.server import refusals
from team_table.server.auth_failures import FailedAuth
from team_table.server.events_route import Run, agent_route
from team_table.wake.waker import Route, Waker

HEARTBEAT_SECONDS = 15.0
SEND_TIMEOUT = 10.0
WAYS = {"monitor": Way.MONITOR, "hook": Way.HOOK}


class Gone(Exception):
    """The helper went away before the wake reached it."""


@dataclass(eq=False)
class _Wake:
    text: str
    done: anyio.Event = field(default_factory=anyio.Event)  # set once it went out, or could not
    sent: bool = False


@dataclass(eq=False)
class _Helper:
    way: Way
    session: str
    inbox: MemoryObjectSendStream[_Wake | None]  # None: the stream is to end
    outbox: MemoryObjectReceiveStream[_Wake | None]
    replaced: bool = False

    def end(self) -> None:
        """Ask the stream to end (a newer hook of the same session took over)."""
        self.replaced = True
        with contextlib.suppress(anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.inbox.send_nowait(None)


class Helpers:
    """The hooks connected now, by agent and session: a newer hook of a session ends the older one."""

    def __init__(self) -> None:
        self._hooks: dict[tuple[str, str], _Helper] = {}

    def replace(self, agent: str, helper: _Helper) -> None:
        if helper.way == Way.HOOK and helper.session:
            older = self._hooks.get((agent, helper.session))
            if older is not None:
                older.end()
            self._hooks[(agent, helper.session)] = helper

    def forget(self, agent: str, helper: _Helper) -> None:
        if self._hooks.get((agent, helper.session)) is helper:
            del self._hooks[(agent, helper.session)]


def wakes_endpoint(hub: Hub, waker: Waker, run: Run, failures: FailedAuth) -> Callable[[Request], Awaitable[Response]]:
    helpers = Helpers()

    async def answer(request: Request, agent: str) -> Response:
        way = WAYS.get(request.query_params.get("via", "monitor"))
        if way is None:
            return refusals.response(Invalid("via is monitor or hook."))
        session = request.query_params.get("session", "")[:128]
        inbox, outbox = anyio.create_memory_object_stream[_Wake | None](4)
        return EventSourceResponse(_stream(agent, _Helper(way, session, inbox, outbox), waker, helpers),
                                   headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"},
                                   send_timeout=SEND_TIMEOUT, ping=0)

    return agent_route(hub, run, failures, answer)


async def _stream(agent: str, helper: _Helper, waker: Waker, helpers: Helpers) -> AsyncIterator[ServerSentEvent]:
    async def deliver(text: str) -> None:
        wake = _Wake(text)
        try:
            helper.inbox.send_nowait(wake)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise Gone("the helper went away") from None
        await wake.done.wait()
        if not wake.sent:
            raise Gone("the helper went away before the wake reached it")

    helpers.replace(agent, helper)
    remove = waker.add(agent, Route(helper.way, deliver, label=f"{helper.way} {helper.session}".strip()))
    item = None
    try:
        yield ServerSentEvent(event="ready", data=helper.way.value)
        while not helper.replaced:
            item = None
            with anyio.move_on_after(HEARTBEAT_SECONDS):
                item = await helper.outbox.receive()
            if item is None:
                if not helper.replaced:
                    yield ServerSentEvent(comment="waiting")
                continue
            yield ServerSentEvent(event="wake", data=item.text)
            item.sent = True  # the bytes went out: this wake is done
            item.done.set()
            if helper.way == Way.HOOK:
                return  # a hook wakes its session once; the session's next hook takes over
        yield ServerSentEvent(event="replaced", data="a newer helper of this session took over")
    finally:
        if item is not None:
            item.done.set()  # went out (sent) or not (the reader left while it was being written)
        remove()
        helpers.forget(agent, helper)
        helper.inbox.close()
        while True:  # wakes that did not go out go back to the waker, for the next way
            try:
                left = helper.outbox.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
            if left is not None:
                left.done.set()
        helper.outbox.close()
