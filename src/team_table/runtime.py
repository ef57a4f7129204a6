"""One hub process, start to stop: the store, the fan-out, the workflows and their engine, the jobs, the config
watcher, the runs of the agents it runs (network hub), and serving (stdio or network), entered in that order on one
AsyncExitStack and closed in reverse.

This is the wiring the CLI calls; it is the one place, beside the CLI, that reaches into `server/`.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import anyio

from team_table import events, members
from team_table.clock import Clock, SystemClock
from team_table.config import Team
from team_table.errors import TeamTableError
from team_table.fanout import Fanout
from team_table.hub import Hub
from team_table.jobs import Jobs
from team_table.reload import Change, Reloader
from team_table.settings import Settings
from team_table.store import open_store, run_from_loop
from team_table.wake.waker import Waker
from team_table.workflow.library import Library

if TYPE_CHECKING:
    from team_table.runner.supervisor import Supervisor

log = logging.getLogger("team_table.hub")
PRUNE_EVERY = 60.0
REST_AFTER_SECONDS = 2.0  # a stdio hub whose client is slow to ask starts its jobs anyway


@contextmanager
def open_table(settings: Settings, team: Team, clock: Clock | None = None, *, seat: bool = True,
               read_only: bool = False) -> Iterator[Hub]:
    """The table's database and the Hub context over it, for one process. `seat` puts the agents declared with
    tokens at the table (a hub starting); read-only, nothing at all is written."""
    store = open_store(settings.store_at, synchronous=team.hub.synchronous, read_only=read_only,
                       pool_size=settings.pool_size, hear_others=not settings.network)
    hub = Hub(store=store, team=team, settings=settings, clock=clock or SystemClock())
    try:
        if seat and not read_only:
            members.sync_declared(hub)
        yield hub
    finally:
        try:
            store.checkpoint()
        except TeamTableError as exc:  # e.g. a full disk: the WAL stays, and is folded in at the next start
            log.warning("closing: the database could not be checkpointed: %s", exc.message)
        except Exception as exc:  # another process holds a reader: it checkpoints later
            log.debug("checkpoint skipped: %s", exc)
        store.close()


@dataclass
class Runtime:
    """What one running hub process holds."""

    hub: Hub
    fanout: Fanout
    jobs: Jobs
    waker: Waker
    library: Library | None = None
    reloader: Reloader | None = None
    stopping: anyio.Event = field(default_factory=anyio.Event)  # set first when the process stops
    on_reload: list[Callable[[Change], None]] = field(default_factory=list)
    runner: Supervisor | None = None  # the network hub's: runs the agents with `run:`
    listening: anyio.Event = field(default_factory=anyio.Event)  # set once a network hub accepts connections

    def reloaded(self, change: Change) -> None:
        """After a team.yaml reload (on a worker thread): listeners of removed agents closed, jobs rebuilt."""
        for agent in change.locked_out:
            self.fanout.close_agent_threadsafe(agent, "the agent was removed or disabled in team.yaml")
        self.jobs.rebuild()
        for hook in self.on_reload:
            hook(change)


@asynccontextmanager
async def running(settings: Settings, team: Team, *, observe_job: Callable[[str, str], None] | None = None,
                  observe_reload: Callable[[str], None] | None = None,
                  observe_notify: Callable[[str], None] | None = None,
                  rest_after: anyio.Event | None = None, supervise: str | None = None) -> AsyncIterator[Runtime]:
    """Everything but serving, started; stopped in reverse order when the block ends.

    What calls need (the store, the fan-out) is ready when the block begins. The rest (workflows and their
    engine, jobs, the config watcher, pruning) starts then too, or, given `rest_after`, once that event is set:
    a stdio hub answers its client's first request before it loads them. Given `supervise` (the hub's MCP URL),
    the agents with `run:` are run, from the moment `Runtime.listening` is set."""
    async with AsyncExitStack() as stack:
        hub = stack.enter_context(open_table(settings, team))
        fanout = Fanout(hub.store)
        tasks = await stack.enter_async_context(anyio.create_task_group())
        # Notification URLs may name ${VARIABLES} of the hub's environment (secrets stay out of team.yaml).
        # The waker's reads and writes go as a call's do: on the loop when they need not wait, else on the store's
        # worker threads (on a thread each time, a wake per message took three hand-offs, and its writes there made
        # the calls on the loop fall back to threads too: 14 threads under 16 agents).
        waker = Waker(hub, fanout, partial(run_from_loop, hub.store), tasks)
        rt = Runtime(hub, fanout, Jobs(hub, observe=observe_job, observe_notify=observe_notify,
                                       environ=dict(os.environ)), waker)
        stack.callback(tasks.cancel_scope.cancel)  # runs before the task group waits: the loops below end
        stack.callback(rt.stopping.set)  # and before that, the config watcher's thread is told to stop
        hub.store.on_commit = partial(_committed, fanout, rt.jobs)  # wakes the fan-out, and the jobs waiting for one
        stack.callback(setattr, hub.store, "on_commit", None)
        tasks.start_soon(fanout.run)
        stack.push_async_callback(_close_listeners, fanout)
        if supervise is not None:  # its runs stop after the jobs (a network hub stopped them already, while serving)
            from team_table.runner.supervisor import Supervisor

            rt.runner = Supervisor(hub, fanout, supervise, listening=rt.listening)
            rt.on_reload.append(rt.runner.reloaded)
            tasks.start_soon(rt.runner.serve)
            stack.push_async_callback(rt.runner.stop_all, "the hub is stopping")
        stack.push_async_callback(rt.jobs.stop)
        if rest_after is None:
            await _start_rest(rt, settings, tasks, observe_reload)
        else:
            async def later() -> None:
                with anyio.move_on_after(REST_AFTER_SECONDS):
                    await rest_after.wait()
                await _start_rest(rt, settings, tasks, observe_reload)

            tasks.start_soon(later)
        yield rt


async def _start_rest(rt: Runtime, settings: Settings, tasks: anyio.abc.TaskGroup,
                      observe_reload: Callable[[str], None] | None) -> None:
    """Workflows and their engine, the jobs, the config watcher and event pruning."""
    from team_table.workflow.engine import open_engine

    hub, jobs = rt.hub, rt.jobs
    watched: dict = {}
    if settings.config_path is not None:  # workflows live beside team.yaml
        engine = await anyio.to_thread.run_sync(open_engine, hub, settings.config_path.parent / "workflows")
        rt.library, jobs.engine = engine.library, engine
        watched[engine.library.folder] = lambda: engine.library.reload() and jobs.rebuild()
    if settings.config_path is not None and settings.config_path.is_file():
        rt.reloader = Reloader(hub, settings.config_path, on_change=rt.reloaded, observe=observe_reload)
        await anyio.to_thread.run_sync(rt.reloader.record_start)
        watched[settings.config_path] = rt.reloader.reload
    jobs.start()
    tasks.start_soon(_prune_events, hub)
    if watched:
        from team_table.reload import watch

        tasks.start_soon(partial(watch, watched, stop=rt.stopping))


def _committed(fanout: Fanout, jobs: Jobs) -> None:
    fanout.wake()
    jobs.committed()


async def _close_listeners(fanout: Fanout) -> None:
    fanout.close_all("shutdown: the hub is stopping; reconnect with Last-Event-ID")


async def _prune_events(hub: Hub, every: float = PRUNE_EVERY) -> None:
    """Keep the replay log bounded by the age and count team.yaml sets: now, then every `every` seconds."""
    while True:
        try:
            gone = await anyio.to_thread.run_sync(events.prune_old, hub.store, hub.team.hub, hub.clock)
            if gone:
                log.info("pruned %d old push events", gone)
        except TeamTableError as exc:
            log.warning("pruning push events failed (trying again in %.0f s): %s", every, exc.message)
        except Exception:
            log.exception("pruning push events failed; trying again in %.0f s", every)
        await anyio.sleep(every)


def _freeze_imports() -> None:
    """The SDK and pydantic leave some 80,000 objects from import. Moved out of the collector's sight, they cost
    nothing in each full collection while the hub runs, nor a third of a second when it exits."""
    gc.freeze()


async def serve_stdio(settings: Settings, team: Team) -> None:
    """A hub on this process's stdin and stdout, until the client closes stdin."""
    from team_table.server import stdio
    from team_table.server.app import build_server, declines_discover
    from team_table.server.identity import check_stdio_binding, fixed, stdio_binding

    _freeze_imports()
    answered = anyio.Event()
    async with running(settings, team, rest_after=answered) as rt:
        binding = stdio_binding(settings)
        check_stdio_binding(rt.hub, binding)  # a token that cannot work is refused now, on stderr, not at every call
        if binding is not None and settings.messaging_socket:  # started by a Claude Code session: wake it
            from team_table.wake import socket

            rt.waker.add(binding.agent, socket.route(settings.messaging_socket, settings.messaging_token))
        server = build_server(rt.hub, rt.fanout, fixed(binding), waker=rt.waker)
        log.info("hub up: stdio, db %s, config %s%s", settings.database, settings.config_path or "none",
                 f", bound to {binding.agent}" if binding else "")
        if any(spec.run is not None for spec in team.agents.values()):
            log.info("the agents with run: in team.yaml are started by the network hub (team-table up with "
                     "transport streamable-http), not by a stdio hub")
        screen = (lambda params: declines_discover(rt.hub, params)) if binding is not None else None
        await stdio.serve(server, on_first_answer=answered.set, screen=screen)


async def serve_network(settings: Settings, team: Team, announce: Callable[[str], None]) -> None:
    """A network hub on settings.host:port (streamable HTTP, SSE, push, health, metrics), until SIGTERM."""
    from team_table.server.http import Network, build_app, check_network_security, listening_socket, serve_http

    check_network_security(settings)
    net = Network.for_settings(settings)
    with listening_socket(settings.host, settings.port) as sock:  # a port in use is refused before anything starts
        _freeze_imports()
        async with running(settings, team, observe_job=net.metrics.observe_job,
                           observe_reload=net.metrics.observe_reload,
                           observe_notify=net.metrics.observe_notification, supervise=mcp_url(settings)) as rt:
            net.attach(rt)

            def listening(url: str) -> None:
                rt.listening.set()
                announce(url)

            await serve_http(build_app(net), settings, net, listening, sock)
    log.info("hub stopped; database checkpointed")


def mcp_url(settings: Settings) -> str:
    """The network hub's MCP endpoint as a process on this machine reaches it (what its runs are given)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}/mcp"
