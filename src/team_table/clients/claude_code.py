"""What Claude Code needs to sit at the table, hear it, and be woken by it (Claude Code 2.1.332):

- the MCP server, its token a `${TEAM_TABLE_TOKEN_<NAME>}` reference that Claude Code expands when it connects:
  ~/.claude.json `mcpServers` (user scope), or the project's .mcp.json, approved in its .claude/settings.local.json
  (as Claude Code records a person's approval);
- hooks in .claude/settings.json: SessionStart adds what waits as context, Stop keeps the agent working while
  something waits; over a network hub, asyncRewake `wait` hooks on SessionStart and Stop wake an idle session. (No
  UserPromptSubmit hook: every way of waking already says what came, and a hook there would delay each woken turn
  by its start-up, about half a second on a busy machine.);
- over a network hub, a plugin of team-table's own (a local marketplace declared in the same settings) whose
  monitor holds the session's wake line for its whole life: the first way the hub uses;
- over stdio there is nothing more to add: the hub Claude Code starts posts into the session's own socket.
"""

from __future__ import annotations

import json
from pathlib import Path

from team_table.clients.files import Entry
from team_table.clients.plan import SERVER, Owned, Plan, Where

CONTEXT_EVENTS = ("SessionStart", "Stop")
WAKE_EVENTS = ("SessionStart", "Stop")
HOOK_TIMEOUT = 5  # seconds: a context hook answers in well under one
WAIT_TIMEOUT = 600  # seconds Claude Code lets a wait hook run; the hook itself gives up 10 s earlier
MARKET = "team-table"  # the local marketplace's name (its key in extraKnownMarketplaces must be the same)
PLUGIN = "team-table"


def plan(where: Where) -> Plan:
    settings_dir = (where.project or where.home) / ".claude"
    out = Plan("claude-code")
    if where.project is None:
        out.edits.append((where.home / ".claude.json", [Entry(("mcpServers", SERVER), server(where))], "json"))
    else:
        out.edits.append((where.project / ".mcp.json", [Entry(("mcpServers", SERVER), server(where))], "json"))
        out.edits.append((settings_dir / "settings.local.json",
                          [Entry(("enabledMcpjsonServers",), SERVER, item=True)], "json"))
    entries = [Entry(("hooks", event), {"hooks": [context_hook(where, event)]}, item=True)
               for event in CONTEXT_EVENTS]
    if where.url:
        entries += [Entry(("hooks", event), {"hooks": [wait_hook(where, where.url)]}, item=True)
                    for event in WAKE_EVENTS]
        market = (where.project or where.home) / ".team-table" / "claude-code"
        entries += [Entry(("extraKnownMarketplaces", MARKET), {"source": {"source": "directory", "path": str(market)}}),
                    Entry(("enabledPlugins", f"{PLUGIN}@{MARKET}"), True)]
        out.owned += plugin(where, where.url, market)
    out.edits.append((settings_dir / "settings.json", entries, "json"))
    if where.url is None:
        out.notes.append("Over stdio the hub Claude Code starts wakes an idle session through the session's own "
                         "socket: nothing more to install.")
    return out


def server(where: Where) -> dict:
    reference = "${" + where.variable + "}"
    if where.url:
        return {"type": "http", "url": f"{where.url}/mcp", "headers": {"Authorization": f"Bearer {reference}"}}
    return {"type": "stdio", "command": where.hub[0], "args": where.hub[1:],
            "env": {"TEAM_TABLE_AGENT": where.agent, "TEAM_TABLE_TOKEN": reference}}


def context_hook(where: Where, event: str) -> dict:
    return {"type": "command", "timeout": HOOK_TIMEOUT,
            "command": where.command("hook", "claude-code", event, "--agent", where.agent, *where.where())}


def wait_hook(where: Where, url: str) -> dict:
    return {"type": "command", "asyncRewake": True, "timeout": WAIT_TIMEOUT,
            "command": where.command("hook", "claude-code", "wait", "--agent", where.agent, "--url", url,
                                     "--for", str(WAIT_TIMEOUT - 10))}


def plugin(where: Where, url: str, market: Path) -> list[Owned]:
    """team-table's plugin in a marketplace folder of its own: one monitor, run for the session's whole life."""
    root = market / "plugin"
    manifest = {"name": MARKET, "owner": {"name": "team-table"},
                "plugins": [{"name": PLUGIN, "source": "./plugin",
                             "description": "Wakes this session when something waits for it on the team table"}]}
    described = {"name": PLUGIN, "version": "1", "description": "team-table: wake an idle session when a message, a "
                 "task or a review waits for its agent",
                 "monitors": [{"name": "table", "command": "${CLAUDE_PLUGIN_ROOT}/monitor", "when": "always",
                               "description": f"team-table: what waits for {where.agent}"}]}
    launcher = "#!/bin/sh\n# Written by `team-table connect claude-code`; `--remove` deletes it.\nexec " + \
        where.command("hook", "claude-code", "monitor", "--agent", where.agent, "--url", url) + "\n"
    return [Owned(market / ".claude-plugin" / "marketplace.json", _json(manifest)),
            Owned(root / ".claude-plugin" / "plugin.json", _json(described)),
            Owned(root / "monitor", launcher.encode(), 0o755)]


def _json(value: dict) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()

