"""Fan-out: events from the database handed to this process's listeners (push streams, waits, channel
pushes), each with a bounded buffer.

A listener is offered only the kinds it asked for (a wait, messages; a bound connection, what it may push), so
a burst of events it would not read never fills its buffer. Presence changes are kept out of a buffer that
is filling (a sweep of a thousand members would otherwise flood every stream; `list_members` says who is
here); a dashboard's listener, which only learns that something changed, drops what does not fit. Only a
reader that falls behind on what it asked for is closed. A database that cannot be read stops nothing: the
fan-out tries again each second and delivers what it missed once the database is back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from functools import partial

from team_table import events
from team_table.errors import TeamTableError
from team_table.event_kinds import K
from team_table.events import Event
from team_table.store import Store, run_from_loop

log = logging.getLogger("team_table.push")

LOSSY = frozenset({K.PRESENCE})  # how things are now, not a change to act on: never a reason to close a listener
LOSSY_ROOM = 16  # a lossy event is queued only while fewer than this many events wait in the listener's buffer
MAX_STREAMS = 8  # push streams (/events, /ui/events) one member may hold open on one hub process
RETRY_SECONDS = 1.0  # after a failed read of the event log


@dataclass(eq=False)
class Subscription:
    """One listener of one agent: `kinds` it is offered (None: every kind). When its buffer fills with what it
    asked for, it is closed with a reason; a `lossy` listener (a dashboard) drops what does not fit instead."""

    agent: str
    size: int
    kinds: frozenset[str] | None = None  # the event kinds it takes (None: every kind)
    lossy: bool = False
    stream: bool = False  # a push stream, counted against MAX_STREAMS
    queue: asyncio.Queue = field(init=False)
    closed: str | None = None
    dropped: int = 0

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.size + 1)  # +1: room for the close notice

    def offer(self, event: Event) -> None:
        if self.closed or (self.kinds is not None and event.kind not in self.kinds):
            return
        queued = self.queue.qsize()
        if (self.lossy and queued >= self.size) or (event.kind in LOSSY and queued >= LOSSY_ROOM):
            self.dropped += 1
            return
        if queued >= self.size:
            self.close("overflow: the stream fell behind; reconnect with Last-Event-ID to resume")
            return
        self.queue.put_nowait(event)

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = reason
            self.queue.put_nowait(None)


class Fanout:
    """Reads new events from the database when woken and offers them to the listeners.

    Woken right after a commit in this process, and by the store when another process committed events (a
    PostgreSQL notification, inotify on a SQLite file, which looks again while a commit may still be under way);
    while anyone listens, every `poll` seconds (`heard_poll` when the store tells of others' commits itself: then
    the poll is only a safety net, and an idle listening hub is not woken for it) it also asks the store
    whether any other process committed (a cheap check of the store's version), and reads the new events only then.
    With nobody listening it does nothing at all.
    """

    def __init__(self, store: Store, *, buffer: int = 256, poll: float = 0.1, heard_poll: float = 30.0) -> None:
        self._store = store
        self._buffer = buffer
        self._poll = poll
        self._heard_poll = heard_poll
        self._subs: dict[str, set[Subscription]] = {}
        self._everything: dict[str, set[Subscription]] = {}  # by member: listeners to every event (dashboards)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self.cursor = events.last_id(store)
        self.running = False
        self._dirty = False

    @property
    def streams(self) -> int:
        return sum(len(s) for s in self._subs.values()) + sum(len(s) for s in self._everything.values())

    def streams_of(self, agent: str) -> int:
        """The push streams `agent` holds open on this process."""
        return sum(sub.stream for registry in (self._subs, self._everything) for sub in registry.get(agent, ()))

    def subscribe(self, agent: str, *, everything: bool = False, kinds: frozenset[str] | None = None,
                  stream: bool = False) -> Subscription:
        """A new listener (call on the event loop): to `agent`'s events of `kinds` (None: all), or with
        `everything` to every event on the table, on behalf of `agent` (a dashboard, which re-reads what it shows,
        and so may miss some). Events of other kinds are not even queued: a listener that would drop them is not
        woken for them. The first one after an idle spell starts the polling."""
        sub = Subscription(agent, self._buffer, kinds=kinds, lossy=everything, stream=stream)
        idle = not self._subs and not self._everything
        (self._everything if everything else self._subs).setdefault(agent, set()).add(sub)
        if idle:
            self._wake.set()
        return sub

    async def subscribe_from_now(self, agent: str, run, *, kinds: frozenset[str] | None = None,
                                 stream: bool = False) -> tuple[Subscription, int]:
        """A new listener to `agent`'s events from now on, and the newest event id it starts after (read on a worker
        thread through `run`). Subscribed first, then read: an event committed after the read is both queued and
        newer than the start (not lost); one at or before it is older (not sent twice). An idle fan-out's cursor
        moves to that start, so events from before the listener (messages read long ago) never reach it."""
        sub = self.subscribe(agent, kinds=kinds, stream=stream)
        try:
            start = await run(lambda: events.last_id(self._store))
        except BaseException:
            self.unsubscribe(sub)
            raise
        self.start_at(start)
        return sub, start

    def start_at(self, cursor: int) -> None:
        """A listener that starts after `cursor` (the newest event id, read after it subscribed): when it is the
        only listener, nothing older needs reading."""
        if self.streams == 1:
            self.cursor = max(self.cursor, cursor)

    def unsubscribe(self, sub: Subscription) -> None:
        for registry in (self._subs, self._everything):
            subs = registry.get(sub.agent)
            if subs is not None and sub in subs:
                subs.discard(sub)
                if not subs:
                    del registry[sub.agent]

    def close_agent(self, agent: str, reason: str) -> None:
        for sub in [*self._subs.get(agent, ()), *self._everything.get(agent, ())]:
            sub.close(reason)

    def close_agent_threadsafe(self, agent: str, reason: str) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.close_agent, agent, reason)

    def close_all(self, reason: str) -> None:
        for agent in {*self._subs, *self._everything}:
            self.close_agent(agent, reason)

    def wake(self) -> None:
        """Thread-safe: called after a commit in this process."""
        self._dirty = True
        if self._loop is not None and (self._subs or self._everything):
            if threading.get_ident() == self._loop_thread:  # a commit made on the event loop itself
                self._wake.set()
            else:
                self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.running = True
        # A SQLite store that hears the file being written wakes us at once: the poll is then only a safety net.
        poll = self._heard_poll if self._store.watch(self.wake) is True else self._poll
        seen: int | None = None
        failing = False
        try:
            while True:
                if self._subs or self._everything:
                    # A timer, not a cancel scope: this turns once per commit, and the scope cost more than the read.
                    timer = self._loop.call_later(RETRY_SECONDS if failing else poll, self._wake.set)
                    try:
                        await self._wake.wait()
                    finally:
                        timer.cancel()
                else:
                    await self._wake.wait()  # idle until someone listens
                self._wake.clear()
                if not self._subs and not self._everything:
                    continue
                try:
                    version = self._store.version()
                    if version != seen:
                        seen = version
                        self._dirty = True
                    if self._dirty or failing:
                        await self.pump()
                except Exception as exc:  # the database is away (or worse): nothing is lost, the cursor stays
                    if not failing:
                        failing = True
                        if isinstance(exc, TeamTableError):
                            log.warning("push: cannot read new events (%s); trying again each second", exc.code)
                        else:
                            log.exception("push: reading new events failed; trying again each second")
                    continue
                if failing:
                    failing = False
                    log.info("push: reading new events again")
        finally:
            self.running = False

    async def pump(self) -> None:
        self._dirty = False  # a commit while reading sets it again, and the next turn reads once more
        while self._subs or self._everything:
            batch = await run_from_loop(self._store, partial(events.tail, self._store, self.cursor))
            for event in batch:
                self._deliver(event)
                self.cursor = event.id
            if len(batch) < 1000:
                return

    def _deliver(self, event: Event) -> None:
        if event.kind == K.REVOKED:  # deregistered or revoked, by any process on the database: streams close
            self.close_agent(event.recipient, "the agent's tokens were revoked (or it left the table)")
            return
        kind = event.kind
        if event.recipient == events.EVERYONE:
            for agent, subs in self._subs.items():
                if agent != event.exclude:
                    for sub in list(subs):
                        if sub.kinds is None or kind in sub.kinds:
                            sub.offer(event)
        else:
            for sub in list(self._subs.get(event.recipient, ())):
                if sub.kinds is None or kind in sub.kinds:
                    sub.offer(event)
        for subs in list(self._everything.values()):
            for sub in list(subs):
                sub.offer(event)
