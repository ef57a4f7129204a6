"""What Codex needs to sit at the table and hear it (Codex 0.171.0):

- the MCP server in config.toml (~/.codex/, or a project's .codex/ which Codex reads in projects it trusts): over
  HTTP its token read from TEAM_TABLE_TOKEN_<NAME> (`bearer_token_env_var`); over stdio that variable passed
  through to the hub it starts (`env_vars`), as `codex mcp add` cannot say;
- hooks in hooks.json beside it, in Claude Code's shape: SessionStart, UserPromptSubmit and Stop add what waits.
  Codex runs hooks only once a person trusted them (it asks at the next interactive start).

Nothing here wakes an idle Codex session: the hub cannot start a Codex turn by itself.
"""

from __future__ import annotations

from team_table.clients.files import Entry
from team_table.clients.plan import SERVER, Plan, Where

EVENTS = ("SessionStart", "UserPromptSubmit", "Stop")
HOOK_TIMEOUT = 5


def plan(where: Where) -> Plan:
    folder = (where.project or where.home) / ".codex"
    out = Plan("codex")
    out.edits.append((folder / "config.toml", [Entry(("mcp_servers", SERVER), server(where))], "toml"))
    out.edits.append((folder / "hooks.json", [Entry(("hooks", event), {"hooks": [hook(where, event)]}, item=True)
                                              for event in EVENTS], "json"))
    out.notes.append("Codex runs these hooks once you trust them: start `codex` and choose \"Trust all and continue\" "
                     "when it says the hooks need review (`codex exec` skips untrusted hooks without a word).")
    out.notes.append("Codex cannot be woken by the hub while it sits idle: the hooks tell it what waits at its next "
                     "prompt and before it stops. A Codex the hub runs (run: in team.yaml) is woken by starting its "
                     "next turn.")
    if where.project is not None:
        out.notes.append(f"Codex reads {folder / 'config.toml'} only in a project it trusts.")
    return out


def hook(where: Where, event: str) -> dict:
    return {"type": "command", "timeout": HOOK_TIMEOUT,
            "command": where.command("hook", "codex", event, "--agent", where.agent, *where.where())}


def server(where: Where) -> dict:
    if where.url:
        return {"url": f"{where.url}/mcp", "bearer_token_env_var": where.variable}
    return {"command": where.hub[0], "args": where.hub[1:], "env": {"TEAM_TABLE_AGENT": where.agent},
            "env_vars": [where.variable]}
