"""What Gemini CLI needs to sit at the table and hear it (Gemini CLI 0.61.0): the MCP server in settings.json
(~/.gemini/, or a project's .gemini/), its token a `${TEAM_TABLE_TOKEN_<NAME>}` reference expanded when it
connects; and hooks in the same file: SessionStart and BeforeAgent (each prompt) add what waits as context.

Gemini CLI uses MCP servers, and a project's hooks, only in folders it trusts. `gemini mcp add` and `gemini mcp
remove` rewrite settings.json with every variable expanded: use `team-table connect gemini` (or edit by hand).
Nothing wakes an idle Gemini CLI session.
"""

from __future__ import annotations

from team_table.clients.files import Entry
from team_table.clients.plan import SERVER, Plan, Where

EVENTS = ("SessionStart", "BeforeAgent")


def plan(where: Where) -> Plan:
    file = (where.project or where.home) / ".gemini" / "settings.json"
    entries = [Entry(("mcpServers", SERVER), server(where))]
    entries += [Entry(("hooks", event), {"hooks": [{"type": "command", "command": where.command(
        "hook", "gemini", event, "--agent", where.agent, *where.where())}]}, item=True) for event in EVENTS]
    out = Plan("gemini")
    out.edits.append((file, entries, "json"))
    out.notes.append("Gemini CLI uses MCP servers only in folders it trusts: start it in your project and trust "
                     "the folder (or add it to ~/.gemini/trustedFolders.json).")
    out.notes.append("Nothing wakes an idle Gemini CLI session today: the hooks tell it what waits when a session "
                     "starts and at each prompt.")
    return out


def server(where: Where) -> dict:
    if where.url:
        return http_server(f"{where.url}/mcp", where.variable)
    return {"command": where.hub[0], "args": where.hub[1:],
            "env": {"TEAM_TABLE_AGENT": where.agent, "TEAM_TABLE_TOKEN": "${" + where.variable + "}"}}


def http_server(endpoint: str, variable: str) -> dict:
    """The hub at its MCP `endpoint` as Gemini CLI's settings name an HTTP server, the bearer token a reference to
    `variable` that Gemini CLI expands when it connects."""
    return {"url": endpoint, "type": "http", "headers": {"Authorization": "Bearer ${" + variable + "}"}}
