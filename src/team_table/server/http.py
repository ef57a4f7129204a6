"""The network hub: one Starlette app serving MCP at /mcp (streamable HTTP) and /sse, push, health, metrics;
served by uvicorn with header, body and idle timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import logging
import signal
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import h11
import uvicorn
from mcp.server.lowlevel import Server
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import HANDLED_SIGNALS

from team_table import members, ui
from team_table.errors import Invalid
from team_table.server import refusals
from team_table.server.app import build_server
from team_table.server.auth_failures import FailedAuth
from team_table.server.events_route import events_endpoint, waiting_endpoint
from team_table.server.guard import Guard, allowed_hosts, allowed_origins
from team_table.server.identity import from_bearer
from team_table.server.metrics import Metrics
from team_table.server.permission_route import permission_endpoint
from team_table.server.progress import Watched
from team_table.server.reservation_route import check_endpoint
from team_table.server.wake_route import wakes_endpoint
from team_table.settings import Settings
from team_table.store import run_from_loop
from team_table.ui.web import Dashboard

if TYPE_CHECKING:
    from team_table.runtime import Runtime

log = logging.getLogger("team_table.hub")

# Seconds a kept-alive connection may sit idle between requests. Longer than any common client keeps an idle
# connection in its pool (httpx 5 s, Node's undici 4 s, Rust's reqwest/hyper 90 s: Codex), so the client always lets
# go first: a server that closes at the same moment a client reuses the connection loses that request (the client
# reads EOF: httpx's ReadError).
IDLE_TIMEOUT = 120


@dataclass
class Network:
    """What the network edge of one hub process holds, beside the runtime."""

    hosts: list[str]
    metrics: Metrics = field(default_factory=Metrics)
    failures: FailedAuth = field(init=False)  # of MCP calls, /events, /agents/* and bearer tokens; sign-ins apart
    rt: Runtime = field(init=False)  # attach() gives it, once the runtime is up (it needs the metrics first)

    def __post_init__(self) -> None:
        self.failures = FailedAuth(self.metrics)

    @classmethod
    def for_settings(cls, settings: Settings) -> Network:
        return cls(allowed_hosts(settings))

    def attach(self, rt: Runtime) -> None:
        self.rt = rt

    async def run(self, work: Any) -> Any:
        """Database work: on the event loop when it need not wait, else on a worker thread, so that the event loop
        keeps serving other clients and streams."""
        return await run_from_loop(self.rt.hub.store, work)


def check_network_security(settings: Settings) -> None:
    if not settings.require_tokens and not settings.allow_insecure:
        raise Invalid(
            "Refusing to serve the table on the network without tokens: anyone who can reach it could act as "
            "any agent. Keep require_tokens on, or set TEAM_TABLE_ALLOW_INSECURE=true to accept that."
        )


def build_app(net: Network) -> Guard:
    rt = net.rt
    hub = rt.hub
    mcp = build_server(hub, rt.fanout, from_bearer(hub), run=net.run, metrics=net.metrics, failures=net.failures,
                       waker=rt.waker)
    security = TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=net.hosts,
                                         allowed_origins=allowed_origins(net.hosts))
    # The tools answer at once and stream nothing: plain JSON answers let clients keep their connection
    # (an SSE answer per call made legacy clients open a new TCP connection for every call).
    # Stateless (the default on PostgreSQL): every request stands alone, so it may reach any replica; the price is
    # no GET stream, so no channel notes or list changes pushed over /mcp (waits and /events still wake agents).
    sessions = _AnswerModes(mcp, json_response=True, stateless=hub.settings.stateless_http,
                            security_settings=security)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        unwritable = await net.run(hub.store.probe)
        checks = {"database": unwritable is None, "config": hub.team is not None,
                  "push": rt.fanout.running, "jobs": rt.jobs.running}
        ready = all(checks.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
        if unwritable:
            body["database"] = unwritable
        return JSONResponse(body, 200 if ready else 503)

    async def metrics(request: Request) -> Response:
        return Response(net.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with sessions.run():
            yield

    dashboard = Dashboard(rt, net.run, FailedAuth(net.metrics), net.metrics)  # sign-ins: a throttle of their own
    routes = [
        Route("/mcp", StreamableHTTPASGIApp(sessions)),  # first: nearly every request is a call, matched in order
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/events/{agent_name}", events_endpoint(hub, rt.fanout, net.run, net.failures, net.metrics,
                                                      waker=rt.waker)),
        Route("/agents/{agent_name}/waiting", waiting_endpoint(hub, net.run, net.failures, rt.waker),
              methods=["GET", "POST"]),
        Route("/agents/{agent_name}/wakes", wakes_endpoint(hub, rt.waker, net.run, net.failures)),
        Route("/agents/{agent_name}/permission", permission_endpoint(hub, rt.fanout, net.run, net.failures),
              methods=["POST"]),
        Route("/agents/{agent_name}/reservations/check", check_endpoint(hub, net.run, net.failures),
              methods=["POST"]),
        *_sse_routes(mcp, security),
        *ui.routes(dashboard),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)

    async def identify(token: str) -> str | None:
        return await net.run(lambda: members.identify(hub, token))

    served = _streamed_waits(app)
    served = _no_stream(served) if hub.settings.stateless_http else served
    return Guard(served, hosts=net.hosts, identify=identify, failures=net.failures)


def _sse_routes(mcp: Server[Any], security: TransportSecuritySettings) -> list[BaseRoute]:
    """The legacy SSE transport, as the SDK's MCPServer.sse_app mounts it: GET /sse holds a session's stream (the
    server runs once per stream, with a seat of its own), POST /messages/ carries its requests."""
    sse = SseServerTransport("/messages/", security_settings=security)

    class Stream:  # an ASGI app, not a request handler: the transport writes the response itself
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            async with sse.connect_sse(scope, receive, send) as (read, write):
                await mcp.run(read, write, mcp.create_initialization_options())

    return [Route("/sse", Stream(), methods=["GET"]), Mount("/messages/", app=sse.handle_post_message)]


# Whether the request being served is answered as an SSE stream (a wait) rather than one JSON document.
_STREAMED: contextvars.ContextVar[bool] = contextvars.ContextVar("team_table_streamed", default=False)


class _AnswerModes(StreamableHTTPSessionManager):
    """The SDK's session manager, answering plain JSON (so handshake-era clients keep their connection) except a
    2026-era wait_for_messages, answered as a stream: its progress notifications reach the client, a client that
    hangs up cancels it, and the answer's headers go out at once (Claude Code gives up waiting for headers after
    60 s). Handshake-era sessions choose once, at their initialize: JSON. The manager reads `json_response` as it
    serves each request (tests/test_sdk_privates.py checks that it still does)."""

    @property  # type: ignore[override]  # the SDK's attribute, made a property chosen per request
    def json_response(self) -> bool:
        return not _STREAMED.get()

    @json_response.setter
    def json_response(self, value: bool) -> None:  # set by the SDK's constructor; the mode is chosen per request
        pass


def _streamed_waits(app: ASGIApp) -> ASGIApp:
    """Mark a 2026-era `tools/call` of wait_for_messages (its Mcp-Method and Mcp-Name headers, which the SDK checks
    against the body) to be answered as a stream."""
    async def marked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/mcp":
            headers = dict(scope["headers"])
            _STREAMED.set(headers.get(b"mcp-method") == b"tools/call"
                          and headers.get(b"mcp-name") == b"wait_for_messages")
        await app(scope, receive, send)

    return marked


def _no_stream(app: ASGIApp) -> ASGIApp:
    """Served statelessly, /mcp has no stream to offer: GET is answered 405, as the protocol allows, so a client
    does not hold an idle connection open on one replica for nothing."""
    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/mcp" and scope["method"] == "GET":
            await refusals.response(Invalid("This hub serves /mcp statelessly (replicas): nothing is pushed over a GET "
                                            "stream. Use wait_for_messages or /events/NAME."),
                                    405, {"Allow": "POST, DELETE"})(scope, receive, send)
            return
        await app(scope, receive, send)

    return checked


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for reading each request whole: a client that sends its
    headers (or body) a byte at a time is cut off instead of holding the connection forever; and one that stops
    reading what it is sent, after READ_PROGRESS seconds (progress.py).

    One timer per connection, not one per request: a request only notes when it began, and the timer, when it
    fires, closes the connection if the request under way began too long ago, or sets itself for what is left."""

    request_timeout = 15.0  # seconds from a request's first byte until it is read whole (hub.request_timeout_seconds)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Readers that stop are cut off. Watched forwards to the transport all it does not override; uvicorn types
        # the attribute as the concrete asyncio.Transport, which a proxy cannot be without reimplementing it.
        self.transport = Watched(  # pyright: ignore[reportAttributeAccessIssue]
            transport, self.loop, (self.client or ("-",))[0])
        self._began: float | None = self.loop.time()  # when the request being read began; None between requests
        self._deadline: asyncio.TimerHandle | None = self.loop.call_later(self.request_timeout, self._check)

    def data_received(self, data: bytes) -> None:
        if self._began is None and self.conn.their_state is h11.IDLE:
            self._began = self.loop.time()  # the next request on a kept-alive connection starts its own clock
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self._began = None  # read whole

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    def _check(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        left = self.request_timeout
        if self._began is not None:
            left -= self.loop.time() - self._began
            if left <= 0:
                log.info("closed a connection from %s: its request took over %.0f s to arrive",
                         (self.client or ("-",))[0], self.request_timeout)
                self.transport.close()
                return
        self._deadline = self.loop.call_later(left, self._check)


class _Uvicorn(uvicorn.Server):
    """Closes the push streams as soon as a stop is asked for, so the graceful shutdown does not wait on them;
    wakes once a second, not ten times, while idle. Given `drain`, a stop first awaits it while the hub still
    serves (the runs it started end gracefully, and may still call it); a second signal stops at once."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None],
                 drain: Callable[[], Awaitable[None]] | None = None) -> None:
        super().__init__(config)
        self._on_exit = on_exit
        self._drain = drain
        self._draining: asyncio.Task | None = None
        self._exit: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        """uvicorn's loop ticks every 0.1 s to notice a stop; this one waits for the stop, and ticks each second
        for what uvicorn does once a second (the Date header)."""
        self._exit, self._loop = asyncio.Event(), asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # on_tick's once-a-second work keys off counter % 10
            with anyio.move_on_after(1.0):
                await self._exit.wait()

    def handle_exit(self, sig: int, frame) -> None:
        if self._drain is not None and self._draining is None and self._loop is not None and self.started:
            self._loop.call_soon_threadsafe(self._start_draining, self._drain, sig, frame)
            return
        self._exit_now(sig, frame)

    def _start_draining(self, stop_runs: Callable[[], Awaitable[None]], sig: int, frame) -> None:
        async def drain() -> None:
            try:
                await stop_runs()
            except Exception:
                log.exception("stopping the runs failed; stopping the hub anyway")
            finally:
                self._exit_now(sig, frame)

        if self._draining is None:
            self._draining = asyncio.ensure_future(drain())

    def _exit_now(self, sig: int, frame) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)
        if self._loop is not None and self._exit is not None:
            self._loop.call_soon_threadsafe(self._exit.set)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM stop the hub, as uvicorn's own capture does, but the signal is not raised again after
        the shutdown (uvicorn's does, which would kill the process before the database is checkpointed and
        closed): the stop is graceful, so the hub exits normally."""
        if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
            yield
            return
        before = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)


def listening_socket(host: str, port: int) -> socket.socket:
    """The hub's socket, bound and listening before anything else starts, so a port in use is said at once, with
    what to do, instead of after the hub has started (and logged that it is up)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise Invalid(f"The hub cannot listen on {host}: {exc.strerror}. Give an address of this machine with "
                      "--host (or hub.host in team.yaml).") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart needs no wait
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise Invalid(f"Port {port} on {host} is already in use ({exc.strerror}): another hub, or another "
                          f"program, listens there. Stop it, or choose another port with --port (e.g. --port "
                          f"{port + 1 if port < 65535 else 8741}) or hub.port in team.yaml.") from None
        raise Invalid(f"The hub cannot listen on {host}:{port}: {exc.strerror}. Choose another port with --port, "
                      "or another address with --host.") from None
    return sock


async def serve_http(app: Guard, settings: Settings, net: Network, announce: Callable[[str], None],
                     sock: socket.socket) -> None:
    """Serve `app` on `sock` until SIGTERM or SIGINT; `announce` is told the URL once the hub listens."""
    protocol = type("HubH11Protocol", (TimedH11Protocol,),
                    {"request_timeout": net.rt.hub.team.hub.request_timeout_seconds})
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                            lifespan="on", timeout_graceful_shutdown=10, server_header=False,
                            http=protocol, timeout_keep_alive=IDLE_TIMEOUT)
    runner = net.rt.runner
    server = _Uvicorn(config, lambda: net.rt.fanout.close_all("shutdown: the hub is stopping"),
                      drain=partial(runner.stop_all, "the hub is stopping") if runner is not None else None)
    url = f"http://{_url_host(settings.host)}:{settings.port}"
    log.info("hub up: %s on %s, db %s, config %s", settings.transport, url, settings.database,
             settings.config_path or "none")

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit:  # uvicorn exits when it cannot bind; said below, without a traceback
            server.should_exit = True

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(serve)
        while not server.started and not server.should_exit:
            await anyio.sleep(0.02)  # uvicorn offers no event for "listening"
        if server.started:
            announce(url)
    if not server.started:
        raise Invalid(f"The hub could not listen on {settings.host}:{settings.port} (see the log above).")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
