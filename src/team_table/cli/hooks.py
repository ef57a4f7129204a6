"""`team-table hook claude-code EVENT` (and `hook codex EVENT`, `hook gemini EVENT`): the hooks of Claude Code, Codex
and Gemini CLI (which read the same JSON). SessionStart, UserPromptSubmit (BeforeAgent) and Stop tell the agent what
waits for it ("2 unread from bob; task 7 waits for your review") and record that it was surfaced; `wait` and
`monitor` wake an idle session (hook_wake.py).

A hook must never break the client: it answers within its bound, prints only what the hook expects (or nothing
when nothing waits), and exits 0 whatever happens, the hub down and its own usage errors included (the one exit 2
is `wait` handing over a wake, on purpose). So this module imports only what it needs: the hub's HTTP routes
(with --url), or the table's file read directly.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import click

EVENTS = ("SessionStart", "UserPromptSubmit", "Stop", "BeforeAgent")  # BeforeAgent: Gemini CLI's, at each prompt
HELPERS = ("wait", "monitor")  # the helpers that wake an idle session (network hub)
ASKING = ("PermissionRequest",)  # a permission prompt, put before the people (network hub)
TIMEOUT = 1.0  # seconds for the hub to answer (--timeout); a slower hub is treated as down (the hook stays silent)
WAIT_FOR = 590.0  # seconds `wait` waits by default: under a 600 s hook timeout
STATE = Path("~/.team-table/hooks")  # how many Stops in a row each session's hook turned back


@click.group("hook")
def hook() -> None:
    """Client hooks that tell an agent what waits for it on the table, and wake it when it sits idle.

    `team-table connect claude-code NAME` (or `connect codex NAME`) writes them into the client's settings; by
    hand, in .claude/settings.json:

    \b
      {"hooks": {"Stop": [{"hooks": [{"type": "command",
        "command": "team-table hook claude-code Stop --agent alice --url http://127.0.0.1:8741"}]}]}}
    For Codex the same hooks go in ~/.codex/hooks.json, with `hook codex`; Codex runs hooks it trusts only.
    Every hook exits 0 on any error of its own (a usage error too): a hook never breaks its client.
    """


@hook.command("claude-code")
@click.argument("event", type=click.Choice(EVENTS + HELPERS + ASKING))
@click.option("--agent", envvar="TEAM_TABLE_AGENT", metavar="NAME", help="The agent [env TEAM_TABLE_AGENT].")
@click.option("--url", envvar="TEAM_TABLE_URL", metavar="URL",
              help="A network hub to ask, e.g. http://127.0.0.1:8741 [env TEAM_TABLE_URL]; the token is read from "
                   "TEAM_TABLE_TOKEN or TEAM_TABLE_TOKEN_<AGENT>.")
@click.option("--db", envvar="TEAM_TABLE_DB", metavar="PATH",
              help="Without --url: the table's SQLite file or PostgreSQL URL, read directly [env TEAM_TABLE_DB].")
@click.option("--max-blocks", default=3, show_default=True, type=click.IntRange(0, 8),
              envvar="TEAM_TABLE_HOOK_MAX_BLOCKS",
              help="Stop: how many times in a row to keep the agent working while something waits.")
@click.option("--timeout", default=TIMEOUT, show_default=True, type=click.FloatRange(0.05, 10),
              help="Seconds to wait for the hub (--url); a hub slower than that is treated as down.")
@click.option("--for", "wait_for", default=WAIT_FOR, show_default=True, type=click.FloatRange(1, 86_400),
              help="wait: how long to wait for a wake; keep it under the hook's own timeout.")
def claude_code(event: str, agent: str | None, url: str | None, db: str | None, max_blocks: int,
                timeout: float, wait_for: float) -> None:
    """Answer the client's EVENT hook, reading its JSON on stdin; or run a helper that wakes an idle session.

    \b
    SessionStart, UserPromptSubmit  add what waits as context for the model (BeforeAgent: Gemini CLI's prompt)
    Stop                            keep the agent working (decision: block) while messages or reviews wait,
                                    at most --max-blocks times in a row
    wait                            an asyncRewake hook: exit 2 with the next wake on stderr (which wakes the
                                    model), or exit 0 silently after --for seconds (needs --url)
    monitor                         a plugin monitor: one line on stdout per wake, for the session's lifetime
                                    (needs --url)
    PermissionRequest               ask the people (a question on the dashboard's Needs you) and give the
                                    client their answer, or the default after --for seconds (needs --url)

    Silent when nothing waits; exits 0 on any error of its own. Over stdio the hub wakes a Claude Code session
    through the session's own socket: `wait` and `monitor` are for a network hub.

    \b
    Examples:
      team-table hook claude-code Stop --agent alice --url http://127.0.0.1:8741
      team-table hook claude-code SessionStart --agent alice --db ~/.team-table/team_table.db
      team-table hook claude-code wait --agent alice --url http://127.0.0.1:8741 --for 590
    """
    _quiet_on_signals()
    if event in HELPERS:
        _helper(event, agent, url, wait_for)
    if event in ASKING:
        _ask_the_people(agent, url, wait_for)
    try:
        answer = _answer(event, _stdin(), agent, url, db, max_blocks, timeout)
    except Exception:  # a hook never breaks its client
        answer = None
    if answer is not None:
        click.echo(json.dumps(answer))
    sys.exit(0)


def _ask_the_people(agent: str | None, url: str | None, seconds: float) -> None:
    """PermissionRequest: the hub asks the people and answers within `seconds` (or its default does); the decision
    goes to the client. Anything wrong: no answer at all, exit 0, and the client decides as it would alone."""
    try:
        given = _stdin()
        if not agent or not url or not isinstance(given.get("tool_name"), str):
            sys.exit(0)
        import urllib.parse
        import urllib.request

        body = json.dumps({"tool_name": given["tool_name"], "tool_input": given.get("tool_input") or {},
                           "session_id": given.get("session_id")}).encode()
        request = urllib.request.Request(f"{url.rstrip('/')}/agents/{urllib.parse.quote(agent)}/permission",
                                         data=body, method="POST",
                                         headers={"Authorization": f"Bearer {_token(agent)}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=seconds + 10) as response:
            decided = json.loads(response.read())
        decision = {"behavior": "allow"} if decided.get("behavior") == "allow" else \
            {"behavior": "deny", "message": str(decided.get("message") or "A person said no.")}
    except Exception:
        sys.exit(0)
    click.echo(json.dumps({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}}))
    sys.exit(0)


def _quiet_on_signals() -> None:
    """Interrupted (the client stopping, Ctrl-C), a hook ends at once with 0 and says nothing: never "Aborted!"
    with status 1, which the client would report as the hook's error."""
    import signal

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda *_: os._exit(0))


def _helper(event: str, agent: str | None, url: str | None, seconds: float) -> None:
    """`wait` and `monitor`: exit 2 with a wake on stderr (wait), else 0; never anything else."""
    from team_table.cli import hook_wake

    try:
        if not agent or not url:
            sys.exit(0)
        token = _token(agent)
        if event == "monitor":
            hook_wake.monitor(url, agent, token)
            sys.exit(0)
        session = _stdin().get("session_id")
        woken = hook_wake.wait(url, agent, token, session if isinstance(session, str) else "", seconds)
    except Exception:
        sys.exit(0)
    if woken:
        sys.stderr.write(woken + "\n")
        sys.stderr.flush()
        sys.exit(2)  # asyncRewake: wake the model with what stderr says
    sys.exit(0)


def _stdin() -> dict:
    try:
        data = json.loads(sys.stdin.read() or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _answer(event: str, given: dict, agent: str | None, url: str | None, db: str | None,
            max_blocks: int, timeout: float = TIMEOUT) -> dict | None:
    from team_table.waiting_summary import in_words

    if not agent:
        return None
    stop = event == "Stop"
    if stop:
        state = _state_file(given.get("session_id"))
        blocked = _read_count(state) if given.get("stop_hook_active") else 0
        if blocked >= max_blocks:  # told enough times in a row: let it stop, and show nothing
            _write_count(state, 0)
            return None
    # What waits, marked surfaced at the hub (or in the file) as the hook hands it to the model.
    words = in_words(_ask_hub(url, agent, timeout) if url else _read_file(db, agent))
    if not stop:
        if not words:
            return None
        return {"hookSpecificOutput": {"hookEventName": event, "additionalContext":
                f"team-table: {words}. Read them with get_messages (or catch_up for the whole picture)."}}
    if not words:
        _write_count(state, 0)
        return None
    _write_count(state, blocked + 1)
    return {"decision": "block", "reason": f"team-table: {words}. Deal with them before you stop (get_messages)."}


def _token(agent: str) -> str:
    from team_table.names import token_variable

    return os.environ.get("TEAM_TABLE_TOKEN") or os.environ.get(token_variable(agent), "")


def _ask_hub(url: str, agent: str, timeout: float) -> dict:
    """POST /agents/{agent}/waiting: what waits, recorded by the hub as surfaced by this hook."""
    import urllib.parse
    import urllib.request

    request = urllib.request.Request(f"{url.rstrip('/')}/agents/{urllib.parse.quote(agent)}/waiting",
                                     data=b"", method="POST", headers={"Authorization": f"Bearer {_token(agent)}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _read_file(db: str | None, agent: str) -> dict:
    """Straight from the table's file (whoever may read the file may read this), recorded as surfaced there."""
    from team_table.store import is_url, open_store
    from team_table.store.sqlite_file import DEFAULT_DB
    from team_table.waiting_summary import waiting_for

    where = (db if is_url(db) else Path(db).expanduser()) if db else DEFAULT_DB.expanduser()
    store = open_store(where, pool_size=1)
    try:
        found = waiting_for(store.query, agent)
        if found["ids"]:
            from team_table import receipts
            from team_table.clock import SystemClock, iso

            with store.write() as conn:
                receipts.surfaced(conn, iso(SystemClock().now()), agent, found["ids"], receipts.Shown.HOOK)
        return found
    finally:
        store.close()


def _state_file(session: Any) -> Path | None:
    if not isinstance(session, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", session):
        return None
    return STATE.expanduser() / f"{session}.json"


def _read_count(state: Path | None) -> int:
    try:
        return int(json.loads(state.read_text())["blocked"]) if state else 0
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _write_count(state: Path | None, blocked: int) -> None:
    """Keep the count for the session's next Stop (a file only this user may read); a session's file goes once
    the count is back to 0, and files of sessions that ended without it go after a day."""
    if state is None:
        return
    try:
        if blocked == 0:
            state.unlink(missing_ok=True)
            return
        state.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        descriptor = os.open(state, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(json.dumps({"blocked": blocked}))
        stale = time.time() - 86400
        for old in state.parent.glob("*.json"):
            if old.stat().st_mtime < stale:
                old.unlink(missing_ok=True)
    except OSError:
        pass


hook.add_command(claude_code, "codex")
hook.add_command(claude_code, "gemini")  # Gemini CLI reads the same answer (hookSpecificOutput.additionalContext)
