"""The presets for real clients, driven headless on their own command lines, not through the Agent Client Protocol:
the ACP adapters work (tried against the same scripted model: claude-code-acp 0.16.2 and codex-acp 0.16.0 did the
task and resumed with session/load), but claude-code-acp runs the Claude Code bundled in its SDK (2.1.44) instead of
the one installed (2.1.332 here), both add a node package of their own (346 MB), and the hub would hold a protocol
conversation per run and answer its permission requests, for nothing the headless modes lack (a session id to
resume, JSON events, an exit code).

- `claude`: Claude Code in print mode (`-p`, the prompt on stdin) with stream-json output; the hub as its only MCP
  server through a config file generated per agent whose Authorization header references `${TEAM_TABLE_TOKEN}` (the
  token itself is only ever in the run's environment); the hub's tools allowed; `--resume` of the agent's previous
  session, whose id it reads from the output.
- `codex`: `codex exec --json` (the prompt on stdin), the hub given with `-c mcp_servers.team-table.*` and
  `bearer_token_env_var = "TEAM_TABLE_TOKEN"`; `codex exec resume ID` for the agent's previous session (the
  thread id of its output).
- `gemini`: Gemini CLI headless (the prompt on stdin) with stream-json output. Gemini CLI takes MCP servers from
  settings files only (its system files must be root's), so each agent has a Gemini home of its own in its runs
  folder (`GEMINI_CLI_HOME`): `.gemini/settings.json` is the run's own `~/.gemini/settings.json` with the hub added
  as an MCP server (its Authorization header referencing `${TEAM_TABLE_TOKEN}`, its tools trusted: no confirmation),
  written again at each run; everything else there (credentials, extensions, commands, GEMINI.md) but sessions
  (tmp, history) is a link to the run's `~/.gemini`, so the agent signs in and works as you do. Its sessions stay
  in its own home: `--resume` of the agent's previous one, whose id is in the output's init event. The hub is the
  only MCP server allowed, the run's folder trusted for the session (`--skip-trust`: Gemini CLI uses no MCP server
  in an untrusted folder); other tools keep Gemini CLI's approval mode (headless: refused) unless `args` says
  otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from team_table.clients.gemini import http_server
from team_table.errors import Invalid
from team_table.runner.config import RunSpec
from team_table.runner.presets import SERVER, TOKEN_VARIABLE, Client, Context, Reading, json_line


class Claude:
    name = "claude"

    def env(self, spec: RunSpec, ctx: Context) -> dict[str, str]:
        return {}

    def argv(self, spec: RunSpec, ctx: Context) -> tuple[str, ...]:
        config = ctx.files / "claude-mcp.json"
        config.write_text(json.dumps({"mcpServers": {SERVER: {
            "type": "http", "url": ctx.url, "headers": {"Authorization": f"Bearer ${{{TOKEN_VARIABLE}}}"}}}},
            indent=2))
        resume = ("--resume", ctx.session) if ctx.session else ()
        return ("claude", "-p", "--output-format", "stream-json", "--verbose", "--mcp-config", str(config),
                "--strict-mcp-config", "--allowedTools", f"mcp__{SERVER}", *self._asking(spec, ctx), *resume,
                *spec.args)

    @staticmethod
    def _asking(spec: RunSpec, ctx: Context) -> tuple[str, ...]:
        """A PermissionRequest hook that puts each permission prompt before the people (--settings, per agent)."""
        if not spec.permissions.ask:
            return ()
        from team_table.runner.permissions import hook_settings

        settings = ctx.files / "claude-settings.json"
        settings.write_text(json.dumps(hook_settings(ctx.agent, ctx.url, spec.permissions.timeout_seconds),
                                       indent=2))
        return ("--settings", str(settings))

    def read(self, line: str) -> Reading:
        data = json_line(line)
        if data is None:
            return Reading(text=line)
        kind = data.get("type")
        # The session is the one a run really opened (its init line, its turns): a resume that found no
        # conversation still names the session it looked for in its error result.
        session = data.get("session_id") if isinstance(data.get("session_id"), str) and kind != "result" else None
        if kind == "assistant":
            blocks = (data.get("message") or {}).get("content") or []
            tools = [b.get("name") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"]
            texts = [b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
            shown = " ".join(t.strip() for t in texts if t.strip()) or (f"→ {', '.join(map(str, tools))}" if tools
                                                                        else None)
            return Reading(text=shown, session=session, tool=tools[-1] if tools else None)
        if kind == "result":
            outcome = "error" if data.get("is_error") else "done"
            return Reading(text=f"{outcome}: {_short(data.get('result'))}", session=session)
        if kind == "system" and data.get("subtype") == "init":
            servers = ", ".join(f"{s.get('name')} {s.get('status')}" for s in data.get("mcp_servers") or []
                                if isinstance(s, dict))
            return Reading(text=f"session {session} started ({servers or 'no MCP server'})", session=session)
        return Reading(session=session)


class Codex:
    name = "codex"

    def env(self, spec: RunSpec, ctx: Context) -> dict[str, str]:
        return {}

    def argv(self, spec: RunSpec, ctx: Context) -> tuple[str, ...]:
        hub = ("-c", f"mcp_servers.{SERVER}.url={json.dumps(ctx.url)}",
               "-c", f"mcp_servers.{SERVER}.bearer_token_env_var={json.dumps(TOKEN_VARIABLE)}")
        options = ("--json", "--skip-git-repo-check", *hub, *spec.args)
        if ctx.session:
            return ("codex", "exec", "resume", *options, ctx.session, "-")
        return ("codex", "exec", *options, "-")

    def read(self, line: str) -> Reading:
        data = json_line(line)
        if data is None:
            return Reading(text=line)
        kind = data.get("type")
        if kind == "thread.started":
            return Reading(text=f"thread {data.get('thread_id')} started", session=data.get("thread_id"))
        item = data["item"] if isinstance(data.get("item"), dict) else {}
        if kind in ("item.started", "item.completed") and item.get("type") == "mcp_tool_call":
            tool = f"{item.get('server')}.{item.get('tool')}"
            return Reading(text=f"→ {tool}" if kind == "item.started" else None, tool=tool)
        if kind == "item.completed" and item.get("type") == "agent_message":
            return Reading(text=_short(item.get("text")))
        if kind == "item.started" and item.get("type") == "command_execution":
            return Reading(text=f"$ {_short(item.get('command'))}", tool="shell")
        if kind in ("turn.failed", "error"):
            return Reading(text=f"error: {_short(data.get('error') or data.get('message'))}")
        return Reading()


class Gemini:
    name = "gemini"

    def argv(self, spec: RunSpec, ctx: Context) -> tuple[str, ...]:
        resume = ("--resume", ctx.session) if ctx.session else ()
        return ("gemini", "--output-format", "stream-json", "--allowed-mcp-server-names", SERVER, "--skip-trust",
                *resume, *spec.args)

    def env(self, spec: RunSpec, ctx: Context) -> dict[str, str]:
        home = ctx.files / "gemini-home"
        hub = {**http_server(ctx.url, TOKEN_VARIABLE), "trust": True}  # trusted: its tools ask no confirmation
        _mirror(ctx.home / ".gemini", home / ".gemini", {SERVER: hub})
        return {"GEMINI_CLI_HOME": str(home)}

    def read(self, line: str) -> Reading:
        data = json_line(line)
        if data is None:
            return Reading(text=line)
        kind = data.get("type")
        if kind == "init":
            session = data.get("session_id") if isinstance(data.get("session_id"), str) else None
            return Reading(text=f"session {session} started", session=session)
        if kind == "message" and data.get("role") == "assistant":
            return Reading(text=_short(data.get("content")) or None)
        if kind == "tool_use":
            tool = str(data.get("tool_name"))
            return Reading(text=f"→ {tool}", tool=tool)
        if kind == "error" or (kind == "result" and data.get("status") != "success"):
            return Reading(text=f"error: {_short(data.get('error') or data.get('message') or data.get('status'))}")
        if kind == "result":
            return Reading(text="done")
        return Reading()


SETTINGS = "settings.json"
OWN = {SETTINGS, "tmp", "history"}  # the agent's own in its Gemini home: its settings, its sessions and checkpoints


def _mirror(yours: Path, agents: Path, servers: dict[str, Any]) -> None:
    """The agent's `.gemini`: your settings with `servers` added (written anew), a link to each of your other
    entries (credentials, extensions, commands, GEMINI.md) but your sessions; what its runs make there stays."""
    agents.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        settings = json.loads((yours / SETTINGS).read_text())
    except FileNotFoundError:
        settings = {}
    except ValueError as exc:
        raise Invalid(f"{yours / SETTINGS} is not JSON ({exc}); the gemini preset starts from it: fix it") from None
    settings = settings if isinstance(settings, dict) else {}
    settings["mcpServers"] = {**(settings.get("mcpServers") or {}), **servers}
    (agents / SETTINGS).write_text(json.dumps(settings, indent=2))
    if yours.is_dir():
        for entry in yours.iterdir():
            link = agents / entry.name
            if entry.name not in OWN and not link.exists() and not link.is_symlink():
                link.symlink_to(entry)


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value) if value is not None else ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


PRESETS: dict[str, type[Client]] = {"claude": Claude, "codex": Codex, "gemini": Gemini}
