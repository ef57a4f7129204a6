"""The hub as agents' clients really start it: a subprocess speaking MCP on stdin/stdout."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

import stores

from conftest import one_variant_on_postgres
from stdio_helpers import LAUNCHERS, PYTHON, TOOLS, launch, log_alarms, seats

pytestmark = pytest.mark.processes

ERAS = ["legacy", "2026-07-28"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.mark.anyio
@pytest.mark.parametrize("era", one_variant_on_postgres(ERAS))  # each launcher on PostgreSQL once
@pytest.mark.parametrize("launcher", LAUNCHERS)
async def test_every_launcher_serves_the_18_tools_over_stdio(tmp_path, home, launcher, era):
    db = stores.table_db(tmp_path)
    async with seats([(launch(launcher, db, home), era)], tmp_path / "logs") as (hub,):
        listed = await hub.client.list_tools()
        assert {tool.name for tool in listed.tools} >= TOOLS  # the 18 tools of 0.2.1; new ones are extra
        bob_token = (await hub.raw("register", name="bob")).data["token"]
        await hub.join("alice")
        sent = await hub.ok("send_message", recipient="bob", content="hello over stdio")
        inbox = await hub.as_agent("bob", bob_token).ok("get_messages")
    assert [(m["id"], m["sender"], m["content"]) for m in inbox] == [
        (sent["id"], "alice", "hello over stdio")]
    assert stores.on_postgres() or Path(db).is_file()
    assert not log_alarms(tmp_path / "logs")


@pytest.mark.sqlite_only
@pytest.mark.anyio
async def test_the_server_module_keeps_its_table_in_the_file_named_by_TEAM_TABLE_DB(tmp_path, home):
    db = tmp_path / "elsewhere" / "hub.db"
    server = launch("python -m team_table.server", db, home)
    async with seats([(server, "legacy")], tmp_path / "logs") as (hub,):
        await hub.join("alice")
    assert db.is_file()
    assert not (home / ".team-table").exists(), "the default database must not be touched"
    # Another process given the same file by flag sees alice, and her token works there.
    async with seats([(launch("team-table up", db, home), "legacy")], tmp_path / "logs2") as (other,):
        members = await other.as_agent("alice", hub.token).ok("list_members")
    assert [m["name"] for m in members] == ["alice"]


@pytest.mark.anyio
@pytest.mark.parametrize("era", one_variant_on_postgres(ERAS))
async def test_a_server_bound_by_TEAM_TABLE_AGENT_speaks_for_that_agent_only(tmp_path, home, era):
    db = stores.table_db(tmp_path)
    async with seats([(launch("python -m team_table.server", db, home), era)], tmp_path / "logs") as (plain,):
        alice_token = (await plain.raw("register", name="alice")).data["token"]
        bob = await plain.join("bob")
        bound_env = {"TEAM_TABLE_AGENT": "alice", "TEAM_TABLE_TOKEN": alice_token}
        bound_server = launch("python -m team_table.server", db, home, **bound_env)
        async with seats([(bound_server, era)], tmp_path / "bound-logs") as (alice,):
            sent = await alice.raw("send_message", recipient="bob", content="from the bound server")
            assert not sent.is_error, sent.data
            assert sent.data["sender"] == "alice"
            # Even bob's own valid token does not let this connection speak as bob.
            spoofed = await alice.raw("send_message", sender="bob", token=bob.token, recipient="alice",
                                      content="spoofed")
            assert spoofed.is_error and spoofed.code == "unauthorized", spoofed.data
            alice_inbox = await alice.raw("get_messages")
        bob_inbox = await bob.ok("get_messages")
    assert [(m["id"], m["sender"]) for m in bob_inbox] == [(sent.data["id"], "alice")]
    assert alice_inbox.data == [], "the refused send changed nothing"
    assert not log_alarms(tmp_path / "logs") and not log_alarms(tmp_path / "bound-logs")


def run_hub(launcher: str, tmp_path: Path, home: Path, **env: str) -> subprocess.CompletedProcess:
    """Run a hub with stdin closed: a hub that starts would see end of input and exit 0."""
    params = launch(launcher, stores.table_db(tmp_path), home, **env)
    return subprocess.run([params.command, *params.args], env=params.env, cwd=params.cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


@pytest.mark.one_engine  # refused before any database is opened
@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_an_unknown_transport_exits_1_naming_the_choices(tmp_path, home, launcher):
    done = run_hub(launcher, tmp_path, home, TEAM_TABLE_TRANSPORT="carrier-pigeon")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    for choice in ("stdio", "sse", "streamable-http"):
        assert choice in done.stderr
    assert done.stdout == "", "stdout is the MCP wire: nothing else may be written there"


def registered(tmp_path: Path, name: str) -> str:
    """`name` at the table of the test's database, through the domain; its token."""
    from team_table import members
    from team_table.config import EMPTY_TEAM
    from team_table.runtime import open_table
    from team_table.settings import resolve

    with open_table(resolve({"db": stores.table_db(tmp_path)}, {}, EMPTY_TEAM, None), EMPTY_TEAM) as hub:
        return members.register(hub, name, "coder", "[]", "").token


@pytest.mark.parametrize("given", [{"TEAM_TABLE_TOKEN": "not-alices-token"}, {}])
def test_a_server_bound_to_an_agent_without_its_token_refuses_at_start_on_stderr(tmp_path, home, given):
    # It said "bound to alice", showed as connected in the client, and failed every call.
    registered(tmp_path, "alice")
    done = run_hub("team-table up", tmp_path, home, TEAM_TABLE_AGENT="alice", **given)
    assert done.returncode == 1, done.stderr[-1500:]
    assert "TEAM_TABLE_TOKEN_ALICE" in done.stderr and "token alice" in done.stderr
    assert "Traceback" not in done.stderr and "hub up" not in done.stderr
    assert done.stdout == "", "stdout is the MCP wire: nothing else may be written there"


def test_a_server_bound_to_an_agent_with_its_token_or_one_yet_to_join_starts(tmp_path, home):
    token = registered(tmp_path, "alice")
    for env in ({"TEAM_TABLE_AGENT": "alice", "TEAM_TABLE_TOKEN_ALICE": token}, {"TEAM_TABLE_AGENT": "newcomer"}):
        done = run_hub("team-table up", tmp_path, home, **env)
        assert done.returncode == 0, (env, done.stderr[-1500:])  # stdin closed: it served, then stopped


@pytest.mark.one_engine  # no database: help is printed instead
@pytest.mark.parametrize("module", ["team_table.server", "team_table"])
def test_the_server_module_with_help_prints_help_instead_of_serving(tmp_path, home, module):
    params = launch("python -m team_table.server", stores.table_db(tmp_path), home)
    # A hub that served instead would print no usage (and end at the end of its input).
    done = subprocess.run([PYTHON, "-m", module, *(["up"] if module == "team_table" else []), "--help"],
                          env=params.env, cwd=params.cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout and "--transport" in done.stdout


@pytest.mark.one_engine  # refused before any database is opened
@pytest.mark.parametrize("port", ["eighty", "0", "65536", "-1"])
def test_a_bad_port_exits_1_with_a_message(tmp_path, home, port):
    done = run_hub("python -m team_table.server", tmp_path, home, TEAM_TABLE_PORT=port)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "port" in done.stderr.lower()


MCP1_CLIENT = textwrap.dedent("""
    import json, sys
    from importlib.metadata import version

    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    async def main():
        params = StdioServerParameters(command=sys.argv[1], args=["-m", "team_table.server"],
                                       env=json.loads(sys.argv[2]), cwd=sys.argv[3])
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            init = await session.initialize()
            async def call(tool, **args):
                result = await session.call_tool(tool, args)
                return {"is_error": bool(result.isError), "texts": [c.text for c in result.content]}
            tools = await session.list_tools()
            alice = await call("register", name="alice")
            bob = await call("register", name="bob", role="reviewer")
            alice_token = json.loads(alice["texts"][0])["token"]
            bob_token = json.loads(bob["texts"][0])["token"]
            sent = await call("send_message", sender="alice", token=alice_token, recipient="bob",
                              content="hi bob")
            inbox = await call("get_messages", agent_name="bob", token=bob_token)
            again = await call("get_messages", agent_name="bob", token=bob_token)
            refused = await call("send_message", sender="alice", token=bob_token, recipient="bob",
                                 content="x")
        print(json.dumps({
            "mcp": version("mcp"), "protocol": init.protocolVersion, "tools": [t.name for t in tools.tools],
            "alice": alice, "sent": sent, "inbox": inbox, "again": again, "refused": refused,
        }))

    anyio.run(main)
""")


@pytest.mark.one_engine  # the handshake of an old client; the tools it calls run on both engines elsewhere
def test_an_mcp_1_client_registers_and_exchanges_a_message(tmp_path, home):
    mcp1_python = os.environ.get("TEAM_TABLE_MCP1_PYTHON")
    if not mcp1_python:
        if os.environ.get("CI"):
            pytest.fail("CI must check mcp 1.x clients: set TEAM_TABLE_MCP1_PYTHON to a python with mcp<2")
        pytest.skip("TEAM_TABLE_MCP1_PYTHON is not set (a python with mcp<2 installed)")
    script = tmp_path / "mcp1_client.py"
    script.write_text(MCP1_CLIENT)
    server = launch("python -m team_table.server", stores.table_db(tmp_path), home)
    done = subprocess.run([mcp1_python, str(script), PYTHON, json.dumps(server.env), str(server.cwd)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert int(report["mcp"].split(".")[0]) < 2, report["mcp"]
    assert set(report["tools"]) >= TOOLS
    for reply in ("alice", "sent", "inbox", "again", "refused"):
        assert len(report[reply]["texts"]) == 1, "one JSON document per result"
    assert not report["alice"]["is_error"] and not report["sent"]["is_error"]
    sent = json.loads(report["sent"]["texts"][0])
    inbox = json.loads(report["inbox"]["texts"][0])
    assert [(m["id"], m["sender"], m["content"]) for m in inbox] == [(sent["id"], "alice", "hi bob")]
    assert json.loads(report["again"]["texts"][0]) == []
    assert report["refused"]["is_error"]
    assert json.loads(report["refused"]["texts"][0])["code"] == "unauthorized"
