"""Running the hub in one process: open the table, serve MCP (stdio or network), close in reverse order."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

import anyio
import uvicorn

from team_table.config import Team
from team_table.engine import Engine
from team_table.errors import Invalid
from team_table.hub import open_hub
from team_table.jobs import Jobs
from team_table.reload import Reloader
from team_table.server import stdio
from team_table.server.app import build_server
from team_table.server.guard import LOCAL_HOSTS
from team_table.server.identity import Binding, fixed
from team_table.settings import Settings

log = logging.getLogger("team_table.hub")


def stdio_binding(settings: Settings) -> Binding | None:
    """TEAM_TABLE_AGENT (+ TEAM_TABLE_TOKEN) binds every call of this stdio server to one agent."""
    if not settings.agent:
        return None
    return Binding(agent=settings.agent, token=settings.token or "")


async def serve_stdio(settings: Settings, team: Team) -> None:
    with open_hub(settings, team) as hub:
        binding = stdio_binding(settings)
        server = build_server(hub, fixed(binding))
        log.info("hub up: stdio, db %s, config %s%s", settings.db_path, settings.config_path or "none",
                 f", bound to {binding.agent}" if binding else "")
        jobs = Jobs(hub, engine=open_engine(hub, settings))
        jobs.start()
        try:
            async with anyio.create_task_group() as tasks:
                reloader = start_reloading(hub, settings, on_change=jobs.rebuild)
                if reloader is not None:
                    tasks.start_soon(reloader.watch)
                await stdio.serve(server)
                tasks.cancel_scope.cancel()  # the client closed stdin: stop watching too
        finally:
            jobs.stop()


def open_engine(hub, settings: Settings) -> Engine | None:
    """The workflows of the folder `workflows/` beside team.yaml (none without a team file)."""
    if settings.config_path is None:
        return None
    return Engine(hub, settings.config_path.parent / "workflows")


def start_reloading(hub, settings: Settings, **hooks) -> Reloader | None:
    """A reloader for the config file this hub started with (none without a file)."""
    if settings.config_path is None or not settings.config_path.is_file():
        return None
    reloader = Reloader(hub, settings.config_path, **hooks)
    reloader.record_start()
    return reloader


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: Settings) -> list[str]:
    """The Host header values the hub answers: localhost always, plus what team.yaml or --allow-host add.

    Binding beyond loopback without naming the hosts would leave the hub open to DNS rebinding: refused.
    """
    extra = []
    for entry in settings.allowed_hosts:
        extra += [entry] if ":" in entry.lstrip("[").split("]")[-1] else [entry, f"{entry}:*"]
    if not is_loopback(settings.host) and not extra:
        raise Invalid(
            f"The hub would listen on {settings.host}, beyond this machine, but no host names are allowed: "
            "list the names clients use in hub.allowed_hosts in team.yaml (e.g. [\"hub.example.lan\"]) or "
            "pass --allow-host NAME."
        )
    return [*LOCAL_HOSTS, *extra]


def check_network_security(settings: Settings) -> None:
    if not settings.require_tokens and not settings.allow_insecure:
        raise Invalid(
            "Refusing to serve the table on the network without tokens: anyone who can reach it could act as "
            "any agent. Keep require_tokens on, or set TEAM_TABLE_ALLOW_INSECURE=true to accept that."
        )


class _Uvicorn(uvicorn.Server):
    """Closes the push streams as soon as a stop is asked for, so the graceful shutdown does not wait on them."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)
        # uvicorn re-raises a caught signal after its shutdown, which would kill the process before the
        # database is checkpointed and closed; the stop is graceful, so the hub exits normally instead.
        self._captured_signals.clear()


async def serve_network(settings: Settings, team: Team, announce: Callable[[str], None]) -> None:
    from team_table.server.http import Network, build_app

    check_network_security(settings)
    hosts = allowed_hosts(settings)
    with open_hub(settings, team) as hub:
        net = Network(hub, hosts)
        app = build_app(net)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                                lifespan="on", timeout_graceful_shutdown=10, server_header=False)
        server = _Uvicorn(config, lambda: net.fanout.close_all("shutdown: the hub is stopping"))
        url = f"http://{_url_host(settings.host)}:{settings.port}"
        log.info("hub up: %s on %s, db %s, config %s", settings.transport, url, settings.db_path,
                 settings.config_path or "none")
        async def serve() -> None:
            try:
                await server.serve()
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
        log.info("hub stopped; database checkpointed")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
