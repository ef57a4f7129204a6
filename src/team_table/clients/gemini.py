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
    reference = "${" + where.variable + "}"
    if where.url:
        return {"url": f"{where.url}/mcp", "type": "http", "headers": {"Authorization": f"Bearer {reference}"}}
    return {"command": where.hub[0], "args": where.hub[1:],
            "env": {"TEAM_TABLE_AGENT": where.agent, "TEAM_TABLE_TOKEN": reference}}
