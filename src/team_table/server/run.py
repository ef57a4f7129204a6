"""Running the hub in one process: open the table, serve MCP, close in reverse order."""

from __future__ import annotations

import logging

from team_table.config import Team
from team_table.hub import open_hub
from team_table.server.app import build_server
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
        await server.run_stdio_async()
