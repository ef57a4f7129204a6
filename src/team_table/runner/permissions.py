"""A run's permission prompts, relayed to the people: Claude Code asks its PermissionRequest hook before a tool it
may not use on its own; `team-table hook claude-code PermissionRequest` asks the hub (POST /agents/NAME/permission),
which puts a question on Needs you (kind `permission`, allow or deny) and answers the hook once a person pressed a
button, or with the run's default at the deadline."""

from __future__ import annotations

import shlex

from team_table.clients.plan import this_team_table

SLACK = 15  # seconds the hook may take beyond the question's deadline (to be answered, not killed)


def hook_settings(agent: str, url: str, seconds: int) -> dict:
    """The --settings of a Claude Code run: its PermissionRequest hook."""
    base = url.rsplit("/mcp", 1)[0]
    command = shlex.join([*this_team_table(), "hook", "claude-code", "PermissionRequest", "--agent", agent,
                          "--url", base, "--for", str(seconds)])
    return {"hooks": {"PermissionRequest": [{"hooks": [{"type": "command", "timeout": seconds + SLACK,
                                                         "command": command}]}]}}
