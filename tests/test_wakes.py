"""Waking agents through real hub processes, as today's Claude Code meets them: its 2026 handshake declined for a
bound connection (so it falls back to the one that carries channels), a stdio hub posting into the session's
messaging socket, and the `wait` / `monitor` helpers of a network hub. The real clients run in test_real_clients."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx2
import pytest

from team_table import tokens

from network_helpers import join_all, running_hub
from stdio_helpers import TEAM_TABLE, hub_env

pytestmark = [pytest.mark.anyio, pytest.mark.processes]

CLAUDE_CODE = {"name": "claude-code", "title": "Claude Code", "version": "2.1.332"}
MODERN = "2026-07-28"


def discover(client: dict) -> dict:
    """The first request Claude Code 2.1.332 sends, as it sends it."""
    return {"jsonrpc": "2.0", "id": "server-discover-probe-1", "method": "server/discover", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientInfo": client,
        "io.modelcontextprotocol/clientCapabilities": {"roots": {"listChanged": True}}}}}


def initialize(client: dict) -> dict:
    return {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": client}}


def declared(name: str, role: str = "coder") -> tuple[str, str]:
    token = tokens.mint()
    return token, f"  {name}:\n    role: {role}\n    token_hashes: [\"{tokens.file_hash(token)}\"]\n"


async def post(url: str, body: dict, bearer: str | None = None) -> dict:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if body["method"] == "server/discover":  # the 2026 era names the method and the version in headers too
        headers.update({"Mcp-Method": body["method"], "MCP-Protocol-Version": MODERN})
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    async with httpx2.AsyncClient(timeout=10) as http:
        reply = await http.post(url + "/mcp", json=body, headers=headers)
    answer = reply.json()
    # An error in the 2026 era comes with its HTTP status too (method not found: 404), as Claude Code expects.
    assert reply.status_code == (404 if answer.get("error", {}).get("code") == -32601 else 200), reply.text[:300]
    return answer


@pytest.mark.one_engine  # what the HTTP edge negotiates with a client: the database has no part in it
async def test_claude_code_bound_over_http_is_declined_2026_and_offered_the_channel_in_2025(tmp_path: Path):
    token, alice = declared("alice")
    # Sessions kept in the process (the default on SQLite; replicas on PostgreSQL serve /mcp statelessly, where
    # nothing can be pushed and so nothing is declined: test_a_stateless_hub_keeps_2026_for_claude_code).
    async with running_hub(tmp_path, f"hub:\n  stateless_http: false\nagents:\n{alice}") as hub:
        declined = await post(hub.url, discover(CLAUDE_CODE), bearer=token)
        assert declined["error"]["code"] == -32601  # Method not found: Claude Code falls back to initialize
        fallback = await post(hub.url, initialize(CLAUDE_CODE), bearer=token)
        assert fallback["result"]["capabilities"]["experimental"] == {"claude/channel": {}}
        other = await post(hub.url, discover({"name": "codex-mcp-client", "version": "0.171.0"}), bearer=token)
        assert MODERN in other["result"]["supportedVersions"]
        assert "claude/channel" not in (other["result"]["capabilities"].get("experimental") or {})
        unbound = await post(hub.url, discover(CLAUDE_CODE))  # nothing to push to an unbound connection
        assert MODERN in unbound["result"]["supportedVersions"]
        plain = await post(hub.url, initialize(CLAUDE_CODE))
        assert "experimental" not in plain["result"]["capabilities"]


@pytest.mark.one_engine  # as above
async def test_a_stateless_hub_keeps_2026_for_claude_code_and_offers_no_channel(tmp_path: Path):
    token, alice = declared("alice")
    async with running_hub(tmp_path, f"hub:\n  stateless_http: true\nagents:\n{alice}") as hub:
        kept = await post(hub.url, discover(CLAUDE_CODE), bearer=token)
        assert MODERN in kept["result"]["supportedVersions"]
        assert "claude/channel" not in (kept["result"]["capabilities"].get("experimental") or {})


def stdio_exchange(tmp_path: Path, env: dict, *requests: dict) -> list[dict]:
    """Requests written to a stdio hub one by one, each answer read back."""
    process = subprocess.Popen([TEAM_TABLE, "up", "--transport", "stdio", "--db", str(tmp_path / "t.db"),
                                "--config", str(tmp_path / "team.yaml")], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=hub_env(tmp_path, **env),
                               cwd=tmp_path, text=True)
    answers = []
    try:
        for request in requests:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            answers.append(json.loads(process.stdout.readline()))
    finally:
        process.stdin.close()
        process.wait(timeout=20)
    return answers


@pytest.mark.sqlite_only
def test_claude_code_bound_over_stdio_is_declined_2026_and_offered_the_channel_in_2025(tmp_path: Path):
    token, alice = declared("alice")
    (tmp_path / "team.yaml").write_text(f"agents:\n{alice}")
    bound = {"TEAM_TABLE_AGENT": "alice", "TEAM_TABLE_TOKEN": token}
    declined, fallback = stdio_exchange(tmp_path, bound, discover(CLAUDE_CODE), initialize(CLAUDE_CODE))
    assert declined["error"]["code"] == -32601
    assert fallback["result"]["capabilities"]["experimental"] == {"claude/channel": {}}
    [other] = stdio_exchange(tmp_path, bound, discover({"name": "gemini-cli", "version": "0.61.0"}))
    assert MODERN in other["result"]["supportedVersions"]
    [unbound] = stdio_exchange(tmp_path, {}, discover(CLAUDE_CODE))
    assert MODERN in unbound["result"]["supportedVersions"]


class FakeSession:
    """A Claude Code session's messaging socket: keeps each connection's newline-delimited JSON frames."""

    def __init__(self, folder: Path) -> None:
        self.path = str(folder / "cc.sock")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.posts: list[list[dict]] = []

    def accept(self, within: float) -> list[dict] | None:
        """The frames of the next connection within `within` seconds, or None."""
        end = time.monotonic() + within
        while time.monotonic() < end:
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
            frames = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
            self.posts.append(frames)
            return frames
        return None

    def close(self) -> None:
        self.server.close()
        os.unlink(self.path)


async def test_a_stdio_hub_started_by_claude_code_posts_a_pointer_to_its_session(tmp_path: Path):
    import stores

    from stdio_helpers import launch, seats

    token, bob = declared("bob")
    (tmp_path / "team.yaml").write_text(f"delivery:\n  wakes_per_minute: 600\nagents:\n{bob}")
    db = stores.table_db(tmp_path)
    session = FakeSession(tmp_path)
    env = {"TEAM_TABLE_AGENT": "bob", "TEAM_TABLE_TOKEN": token, "CLAUDE_CODE_MESSAGING_SOCKET": session.path,
           "CLAUDE_CODE_MESSAGING_TOKEN": "session-secret", "TEAM_TABLE_CONFIG": str(tmp_path / "team.yaml")}
    bobs = launch("python -m team_table.server", db, tmp_path, **env)
    others = launch("python -m team_table.server", db, tmp_path, TEAM_TABLE_CONFIG=str(tmp_path / "team.yaml"))
    try:
        async with seats([(bobs, "legacy"), (others, "legacy")], tmp_path / "logs") as (bob_seat, alice):
            await bob_seat.ok("heartbeat")  # bob's hub is up (and listening for him)
            assert await anyio.to_thread.run_sync(session.accept, 0.8) is None  # nothing waits: nothing posted
            await alice.join("alice")
            started = time.monotonic()
            sent = await alice.ok("send_message", recipient="bob", content="a secret plan")
            frames = await anyio.to_thread.run_sync(session.accept, 5)
            took = time.monotonic() - started
            assert frames is not None and took < 2, took
            assert frames[0] == {"type": "auth", "token": "session-secret"}
            assert frames[1]["type"] == "user" and frames[1]["priority"] == "next"
            text = frames[1]["message"]["content"]
            assert f"alice wrote to you (message {sent['id']})" in text and "secret" not in text
            assert await anyio.to_thread.run_sync(session.accept, 0.8) is None  # one wake per delivery

            session.close()  # the session is gone: the wake fails quietly, the sender hears nothing of it
            again = await alice.ok("send_message", recipient="bob", content="still there?")
            assert "warning" not in again
            with anyio.fail_after(5):
                while not (failed := await anyio.to_thread.run_sync(_wakes, db, "bob", False)):
                    await anyio.sleep(0.1)
            assert failed[0]["via"] == "socket"
    finally:
        session.server.close()


def _wakes(db: str, agent: str, ok: bool) -> list:
    from team_table.store import open_store

    store = open_store(db, pool_size=1)
    try:
        return [dict(r) for r in store.query("SELECT via, ok, detail FROM wake WHERE agent = ? AND ok = ?",
                                             (agent, ok))]
    finally:
        store.close()


def helper(event: str, home: Path, agent: str, url: str, token: str, *args: str, stdin: dict | None = None):
    """`team-table hook claude-code wait|monitor` as Claude Code starts it."""
    return subprocess.Popen([TEAM_TABLE, "hook", "claude-code", event, "--agent", agent, "--url", url, *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=hub_env(home, **{f"TEAM_TABLE_TOKEN_{agent.upper()}": token}))


async def test_the_wait_hook_exits_2_with_the_pointer_and_the_monitor_prints_it_one_way_at_a_time(tmp_path: Path):
    async with running_hub(tmp_path, "delivery:\n  wakes_per_minute: 600\n") as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        waiting = helper("wait", tmp_path, "bob", hub.url, bob.token, "--for", "20")
        waiting.stdin.write(json.dumps({"session_id": "s1", "hook_event_name": "Stop"}))
        waiting.stdin.close()
        await _until(lambda: _is(_ways(hub, "bob", bob.token), ["hook"]))
        sent = await alice.ok("send_message", recipient="bob", content="a secret plan")
        code = await anyio.to_thread.run_sync(lambda: waiting.wait(timeout=10))
        told = waiting.stderr.read()
        assert code == 2 and f"alice wrote to you (message {sent['id']})" in told and "secret" not in told
        assert waiting.stdout.read() == ""

        monitor = helper("monitor", tmp_path, "bob", hub.url, bob.token)
        try:
            await _until(lambda: _is(_ways(hub, "bob", bob.token), ["monitor"]))
            late = helper("wait", tmp_path, "bob", hub.url, bob.token, "--for", "20")
            late.stdin.close()
            await _until(lambda: _is(_ways(hub, "bob", bob.token), ["monitor", "hook"]))
            second = await alice.ok("send_message", recipient="bob", content="again")
            line = await anyio.to_thread.run_sync(monitor.stdout.readline)
            assert line == f"team-table: alice wrote to you (message {second['id']}). Read it with get_messages.\n"
            late.terminate()  # Claude Code ends a hook at its timeout: the hook never got this wake
            assert await anyio.to_thread.run_sync(lambda: late.wait(timeout=10)) != 2
        finally:
            monitor.terminate()
            monitor.wait(timeout=10)


async def test_the_wait_hook_is_silent_and_exits_0_when_nothing_comes_or_the_hub_is_down(tmp_path: Path):
    async with running_hub(tmp_path, "") as hub, AsyncExitStack() as stack:
        [bob] = await join_all(stack, hub, "bob")
        quiet = helper("wait", tmp_path, "bob", hub.url, bob.token, "--for", "1")
        quiet.stdin.close()
        assert await anyio.to_thread.run_sync(lambda: quiet.wait(timeout=15)) == 0
        assert (quiet.stdout.read(), quiet.stderr.read()) == ("", "")
        wrong = helper("wait", tmp_path, "bob", hub.url, "not-a-token", "--for", "5")
        wrong.stdin.close()
        assert await anyio.to_thread.run_sync(lambda: wrong.wait(timeout=15)) == 0
        url = hub.url
    down = helper("wait", tmp_path, "bob", url, "whatever", "--for", "5")  # the hub has stopped
    down.stdin.close()
    started = time.monotonic()
    assert await anyio.to_thread.run_sync(lambda: down.wait(timeout=15)) == 0
    assert time.monotonic() - started < 5 and down.stderr.read() == ""


async def _ways(hub, agent: str, token: str) -> list[str]:
    """The ways the hub has now to wake `agent`, best first (what GET /agents/NAME/waiting says)."""
    async with httpx2.AsyncClient(timeout=5) as http:
        reply = await http.get(f"{hub.url}/agents/{agent}/waiting", headers={"Authorization": f"Bearer {token}"})
    return reply.json()["ways"]


async def _is(found, expected) -> bool:
    return await found == expected


async def _until(check, within: float = 10) -> None:
    with anyio.fail_after(within):
        while not await check():
            await anyio.sleep(0.05)


@pytest.mark.one_engine  # refused before any database is named
@pytest.mark.parametrize("args", [["Nope"], ["Stop", "--bogus"], ["wait", "--for", "x"], []])
def test_a_hook_with_a_usage_error_exits_0_and_says_nothing_to_the_model(tmp_path: Path, args: list[str]):
    done = subprocess.run([TEAM_TABLE, "hook", "claude-code", *args], input="{}", capture_output=True, text=True,
                          timeout=30, env=hub_env(tmp_path))
    assert (done.returncode, done.stdout) == (0, "")

