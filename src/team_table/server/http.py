"""The network hub: one Starlette app serving MCP at /mcp (streamable HTTP) and /sse, push, health, metrics."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from team_table import members
from team_table.hub import Hub, prune_old_events
from team_table.jobs import Jobs
from team_table.reload import Change
from team_table.server.app import build_server
from team_table.server.events_route import events_endpoint
from team_table.server.guard import FailedAuth, Guard, allowed_origins
from team_table.server.identity import from_bearer
from team_table.server.metrics import Metrics
from team_table.server.push import Fanout
from team_table.server.run import open_engine, start_reloading

log = logging.getLogger("team_table.hub")


@dataclass
class Network:
    """The parts of a network hub that live as long as the process."""

    hub: Hub
    hosts: list[str]
    metrics: Metrics = field(default_factory=Metrics)
    failures: FailedAuth = field(default_factory=FailedAuth)
    fanout: Fanout = field(init=False)
    jobs: Jobs = field(init=False)
    # One connection serves the process, so one worker thread: more would only queue on its lock.
    limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(1))

    def __post_init__(self) -> None:
        self.fanout = Fanout(self.hub.store)
        self.jobs = Jobs(self.hub, observe=lambda job, result: self.metrics.job_runs.labels(job, result).inc(),
                         engine=open_engine(self.hub, self.hub.settings))

    def reloaded(self, change: Change) -> None:
        """After a reload (on a worker thread): close the streams of agents removed or disabled, rebuild jobs."""
        for agent in change.locked_out:
            self.fanout.close_agent_threadsafe(agent, "the agent was removed or disabled in team.yaml")
        self.jobs.rebuild()

    async def run(self, work: Any) -> Any:
        """Database work goes to a worker thread, so the event loop keeps serving other clients and streams."""
        return await anyio.to_thread.run_sync(work, limiter=self.limiter)


def build_app(net: Network) -> Guard:
    hub = net.hub
    mcp = build_server(hub, from_bearer(hub), net.run, net.metrics)
    security = TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=net.hosts,
                                         allowed_origins=allowed_origins(net.hosts))
    # The tools answer at once and stream nothing: plain JSON answers let clients keep their connection
    # (an SSE answer per call made legacy clients open a new TCP connection for every call).
    streamable = mcp.streamable_http_app(transport_security=security, json_response=True)
    sse = mcp.sse_app(transport_security=security)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = {"database": await _database_ok(net), "config": hub.team is not None,
                  "push": net.fanout.running, "jobs": net.jobs.running}
        ready = all(checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)

    async def metrics(request: Request) -> Response:
        return Response(net.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp.session_manager.run(), anyio.create_task_group() as tasks:
            hub.store.on_commit = net.fanout.wake
            tasks.start_soon(net.fanout.run)
            tasks.start_soon(_prune_events, net)
            net.jobs.start()
            reloader = start_reloading(hub, hub.settings, on_change=net.reloaded,
                                       observe=lambda result: net.metrics.config_reloads.labels(result).inc())
            if reloader is not None:
                tasks.start_soon(reloader.watch)
            try:
                yield
            finally:
                net.jobs.stop()
                net.fanout.close_all("shutdown: the hub is stopping; reconnect with Last-Event-ID")
                hub.store.on_commit = None
                tasks.cancel_scope.cancel()

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/events/{agent_name}", events_endpoint(hub, net.fanout, net.run, net.failures, net.metrics)),
        *streamable.routes,
        *sse.routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    async def identify(token: str) -> str | None:
        return await net.run(lambda: members.identify(hub, token))

    return Guard(app, hosts=net.hosts, identify=identify, failures=net.failures, metrics=net.metrics)


async def _prune_events(net: Network, every: float = 60.0) -> None:
    """Keep the replay log bounded by the age and count team.yaml sets."""
    while True:
        try:
            gone = await net.run(lambda: prune_old_events(net.hub))
            if gone:
                log.info("pruned %d old push events", gone)
        except Exception:
            log.exception("pruning push events failed; trying again in %.0f s", every)
        await anyio.sleep(every)


async def _database_ok(net: Network) -> bool:
    try:
        await net.run(lambda: net.hub.store.query("SELECT 1"))
        return True
    except Exception:
        log.exception("readiness: the database did not answer")
        return False
