"""What the hub relies on in the MCP SDK and uvicorn beyond their documented surface (server/sdk_privates.py says
which): one test each, failing with the name of what moved on a release that moves it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.connection import Connection
from mcp.server.lowlevel import Server
from mcp.types import CallToolResult, ListToolsResult, TextContent, Tool

from answers import text_of
from team_table.server import sdk_privates

from network_helpers import running_hub

pytestmark = [pytest.mark.anyio, pytest.mark.one_engine]  # nothing here depends on the database engine


def _probe_server(seen: list[Any]) -> Server:
    """A bare low-level server with one tool that notes the connection of each call's session."""
    async def call_tool(ctx, params) -> CallToolResult:
        connection = sdk_privates.connection_of(ctx.session)
        seen.append(connection)
        connection.exit_stack.callback(lambda: seen.append("closed"))
        return CallToolResult(content=[TextContent(type="text", text="{}")])

    async def list_tools(ctx, params) -> ListToolsResult:
        return ListToolsResult(tools=[Tool(name="probe", input_schema={"type": "object"})])

    return Server("probe", on_call_tool=call_tool, on_list_tools=list_tools)


async def test_a_requests_session_still_leads_to_its_connection_one_per_client_with_an_exit_stack():
    connections = []
    for _client in range(2):
        seen: list[Any] = []
        async with Client(_probe_server(seen), mode="legacy") as client:  # the handshake era, as stdio clients
            await client.call_tool("probe", {})
            await client.call_tool("probe", {})
            assert "closed" not in seen, "the connection's exit stack ran before the connection closed"
        first, again, *closed = seen
        assert isinstance(first, Connection), f"ServerSession._connection is now a {type(first).__name__}"
        assert first is again, "two calls of one client came on two connections: the hub keys pushes by connection"
        assert closed == ["closed", "closed"], "the connection's exit stack did not run when the client left"
        connections.append(first)
    assert connections[0] is not connections[1], "two clients shared one connection"


def test_a_session_without_its_connection_is_refused_by_name():
    with pytest.raises(sdk_privates.SdkMoved, match=r"ServerSession\._connection"):
        sdk_privates.connection_of(object())


@pytest.mark.processes
async def test_the_session_manager_chooses_json_or_a_stream_per_request(tmp_path: Path):
    """_AnswerModes (server/http.py) makes the manager's `json_response` a property read per request: a 2026-era
    wait_for_messages is answered as a stream (its progress reaches the client, every 10 s), everything else as one
    JSON document; a handshake-era session answers JSON throughout."""
    answered: list[tuple[str, str]] = []
    reached: list[float] = []

    async def note(response: httpx2.Response) -> None:
        body = response.request.content.decode() if response.request.method == "POST" else ""
        tool = next((t for t in ("wait_for_messages", "heartbeat") if f'"{t}"' in body), None)
        if tool is not None and '"tools/call"' in body:
            answered.append((tool, response.headers.get("content-type", "").split(";")[0]))

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reached.append(progress)

    async with running_hub(tmp_path) as hub:
        for mode, wait in (("auto", 11), ("legacy", 1)):
            async with httpx2.AsyncClient(timeout=30, event_hooks={"response": [note]}) as http, \
                    Client(streamable_http_client(hub.url + "/mcp", http_client=http), mode=mode) as client:
                name = f"probe-{mode}"
                token = json.loads(text_of((await client.call_tool("register", {"name": name})).content[0]))["token"]
                await client.call_tool("wait_for_messages", {"agent_name": name, "token": token,
                                                             "timeout_seconds": wait}, progress_callback=on_progress)
                await client.call_tool("heartbeat", {"name": name, "token": token})
    assert answered == [("wait_for_messages", "text/event-stream"), ("heartbeat", "application/json"),
                        ("wait_for_messages", "application/json"), ("heartbeat", "application/json")], answered
    assert reached, "the 2026-era wait's progress did not reach the client"


@pytest.mark.processes
def test_uvicorns_signal_capture_is_the_hubs_and_a_handled_stop_is_not_raised_again():
    """_Uvicorn overrides uvicorn's public capture_signals: a SIGTERM stops the server, and is not raised again
    afterwards (uvicorn's own does, which would kill the hub before its database is checkpointed)."""
    script = textwrap.dedent("""
        import signal, uvicorn
        from team_table.server.http import _Uvicorn

        stopped = []
        server = _Uvicorn(uvicorn.Config(app=None), on_exit=lambda: stopped.append(True))
        assert type(server).capture_signals is not uvicorn.Server.capture_signals
        with server.capture_signals():
            assert signal.getsignal(signal.SIGTERM) == server.handle_exit, "the hub's handler is not installed"
            signal.raise_signal(signal.SIGTERM)
        assert stopped and server.should_exit, "the signal did not stop the server"
        print("still running")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "still running" in done.stdout, (done.returncode, done.stderr[-2000:])


@pytest.mark.processes
def test_building_the_hubs_server_sets_up_no_logging(tmp_path: Path):
    """The SDK's MCPServer configured logging when built (a rich handler on the root logger), which the hub turned
    off by replacing a function of the SDK's module; the low-level Server it builds now configures none."""
    script = textwrap.dedent("""
        import logging, sys
        from team_table.config import EMPTY_TEAM
        from team_table.fanout import Fanout
        from team_table.runtime import open_table
        from team_table.server import build_server
        from team_table.settings import resolve

        before = list(logging.getLogger().handlers)
        with open_table(resolve({"db": sys.argv[1]}, {}, EMPTY_TEAM, None), EMPTY_TEAM) as hub:
            build_server(hub, Fanout(hub.store))
        assert logging.getLogger().handlers == before, logging.getLogger().handlers
        assert "rich" not in sys.modules, "the SDK imported rich to set up logging"
        print("no logging set up")
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "t.db")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "no logging set up" in done.stdout, done.stderr[-2000:]
