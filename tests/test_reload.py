"""Live config: each effect of a team.yaml edit, through the real MCP client against a running hub."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

import stores
from team_table import audit as audit_log
from team_table import events
from team_table.config import load_team
from team_table.reload import Reloader
from team_table.tokens import file_hash

from conftest import open_table

pytestmark = pytest.mark.anyio

ALICE, BOB = "alice-token-0123456789abcdefghijklmnop", "bob-token-0123456789abcdefghijklmnopq"


def team_yaml(*, bob: bool = False, alice_role: str = "coder", extra: str = "") -> str:
    text = f'agents:\n  alice:\n    role: {alice_role}\n    token_hashes: ["{file_hash(ALICE)}"]\n'
    if bob:
        text += f'  bob:\n    role: reviewer\n    token_hashes: ["{file_hash(BOB)}"]\n'
    return text + extra


def save(path: Path, text: str) -> None:
    """As editors do: write a new file beside it and rename it over the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
async def live(tmp_path: Path, era: str):
    path = tmp_path / "team.yaml"
    path.write_text(team_yaml())
    async with open_table(tmp_path, era, load_team(path)) as table:
        reloader = Reloader(table.hub, path)
        reloader.record_start()
        alice = await table.connect()
        alice.name, alice.token = "alice", ALICE
        yield table, reloader, path, alice


async def test_a_newly_declared_agents_token_works_after_the_reload(live):
    table, reloader, path, alice = live
    bob = await table.connect()
    bob.name, bob.token = "bob", BOB
    await bob.refused("heartbeat", "unauthorized")
    save(path, team_yaml(bob=True))
    change = reloader.reload()
    assert change.agents_added == ["bob"]
    await bob.ok("heartbeat")


async def test_a_removed_agents_tokens_stop_working_issued_ones_too(live):
    table, reloader, path, alice = live
    save(path, team_yaml(bob=True))
    reloader.reload()
    carol = await table.join("carol")  # undeclared: an issued token
    save(path, team_yaml(bob=True) + "  carol:\n    role: tester\n")
    reloader.reload()
    save(path, team_yaml())
    change = reloader.reload()
    assert change.agents_removed == ["bob", "carol"]
    await carol.refused("heartbeat", "unauthorized")
    bob = await table.connect()
    bob.name, bob.token = "bob", BOB
    await bob.refused("heartbeat", "unauthorized")
    await alice.ok("heartbeat")


async def test_a_disabled_agent_is_refused_and_enabled_again_works(live):
    table, reloader, path, alice = live
    save(path, team_yaml() + "    enabled: false\n")
    assert reloader.reload().agents_disabled == ["alice"]
    await alice.refused("heartbeat", "unauthorized")
    save(path, team_yaml())
    reloader.reload()
    await alice.ok("heartbeat")


async def test_a_role_change_applies_to_the_next_call(live):
    table, reloader, path, alice = live
    await alice.refused("purge_messages", "forbidden", before_date="2000-01-01")
    save(path, team_yaml(alice_role="lead"))
    reloader.reload()
    await alice.ok("purge_messages", before_date="2000-01-01")


async def test_a_custom_role_without_a_permission_is_refused_naming_it(live):
    table, reloader, path, alice = live
    save(path, team_yaml(alice_role="watcher") + "roles:\n  watcher:\n    permissions: [send]\n")
    reloader.reload()
    await alice.ok("send_message", recipient="bob", content="still allowed")
    refusal = await alice.refused("create_task", "forbidden", title="not allowed")
    assert "create_task" in refusal["error"]


async def test_a_new_limit_applies_to_the_next_write(live):
    table, reloader, path, alice = live
    await alice.ok("send_message", recipient="bob", content="one")
    await alice.ok("send_message", recipient="bob", content="two")
    save(path, team_yaml(extra="limits:\n  rate:\n    writes: 2\n    window_seconds: 60\n"))
    reloader.reload()
    await alice.refused("send_message", "rate_limited", recipient="bob", content="three")


async def test_a_per_agent_limit_overrides_the_default(live):
    table, reloader, path, alice = live
    save(path, team_yaml(extra="limits:\n  rate: {writes: 1, window_seconds: 60}\n"
                               "  agents:\n    alice:\n      rate: {writes: 3, window_seconds: 60}\n"))
    reloader.reload()
    for n in range(3):
        await alice.ok("share_context", key=f"k{n}", value="v")
    await alice.refused("share_context", "rate_limited", key="k4", value="v")


async def test_a_new_escalation_pattern_applies_to_the_next_message(live):
    table, reloader, path, alice = live
    boss = await table.join("boss")
    await boss.refused("register", "forbidden", name="boss", role="person")  # a person is granted, not self-made
    table.grant("boss", "person")
    sent = await alice.ok("send_message", recipient="bob", content="should we ship on friday?")
    assert "escalated" not in sent
    save(path, team_yaml(extra="escalation:\n  patterns:\n    decision: '(?i)should we'\n"))
    reloader.reload()
    sent = await alice.ok("send_message", recipient="bob", content="Should we ship on Monday?")
    assert sent["escalated"] == ["decision"]
    notices = await boss.ok("get_messages")
    assert [m["sender"] for m in notices] == ["team-table"] and "decision" in notices[0]["content"]


async def test_an_invalid_edit_changes_nothing_and_is_reported_then_a_valid_one_applies(live):
    table, reloader, path, alice = live
    admin_token = "admin-token-0123456789abcdefghijklmnopq"
    save(path, team_yaml() + f'  root:\n    role: admin\n    token_hashes: ["{file_hash(admin_token)}"]\n')
    reloader.reload()
    save(path, team_yaml(bob=True).replace("role: reviewer", "role: no-such-role"))
    assert reloader.reload() is None
    bob = await table.connect()
    bob.name, bob.token = "bob", BOB
    await bob.refused("heartbeat", "unauthorized")  # nothing of the bad edit took effect
    await alice.ok("heartbeat")
    entries = audit_log.entries(table.hub, None, action="config_error")
    assert len(entries) == 1 and "no-such-role" in entries[0].details
    pushed = [e for e in events.for_agent(table.hub.store, "root", 0) if e.kind == "config_error"]
    assert pushed and "no-such-role" in json.dumps(pushed[0].data)
    save(path, team_yaml(bob=True))
    assert reloader.reload().agents_added == ["bob"]
    await bob.ok("heartbeat")


async def test_a_call_in_flight_finishes_under_the_config_it_started_with(tmp_path: Path, era: str):
    path = tmp_path / "team.yaml"
    path.write_text(team_yaml(alice_role="lead"))
    gate, started = anyio.Event(), anyio.Event()

    async def held(work):  # runs the tool's work only once the test lets it
        started.set()
        await gate.wait()
        return work()

    async with open_table(tmp_path, era, load_team(path)) as table:
        from mcp import Client

        from team_table.server import build_server

        reloader = Reloader(table.hub, path)
        server = build_server(table.hub, table.fanout, run=held)
        client = await table.stack.enter_async_context(Client(server, mode=era))
        async with anyio.create_task_group() as tasks:
            result: dict = {}

            async def purge():
                reply = await client.call_tool("purge_messages", {"agent_name": "alice", "token": ALICE,
                                                                  "before_date": "2000-01-01"})
                result["error"] = reply.is_error

            tasks.start_soon(purge)
            await started.wait()
            save(path, team_yaml(alice_role="coder"))  # alice loses purge while her call is in flight
            reloader.reload()
            gate.set()
        assert result["error"] is False


async def test_the_audit_records_a_reload_once_with_what_changed(live):
    table, reloader, path, alice = live
    second = Reloader(table.hub, path)  # another hub process on the same database
    save(path, team_yaml(bob=True))
    reloader.reload()
    second.reload()
    entries = audit_log.entries(table.hub, None, action="config_reloaded")
    assert len(entries) == 1
    assert json.loads(entries[0].details)["agents_added"] == ["bob"]


@pytest.mark.processes
async def test_every_stdio_hub_process_on_a_database_picks_up_a_saved_edit(tmp_path: Path):
    from stdio_helpers import launch, log_alarms, seats

    path = tmp_path / "conf" / "team.yaml"
    path.parent.mkdir()
    path.write_text(team_yaml())
    db = stores.table_db(tmp_path)
    params = [launch("python -m team_table.server", db, tmp_path, TEAM_TABLE_CONFIG=str(path)) for _ in range(2)]
    async with seats([(p, "legacy") for p in params], tmp_path / "logs") as (first, second):
        first.as_agent("bob", BOB)
        second.as_agent("bob", BOB)
        assert (await first.call("heartbeat")).code == "unauthorized"
        save(path, team_yaml(bob=True))
        for seat in (first, second):
            with anyio.fail_after(10):
                while (await seat.call("heartbeat")).is_error:
                    await anyio.sleep(0.05)  # poll the running process until the edit shows
        first.as_agent("alice", ALICE)
        log = await first.ok("get_audit_log", requester="alice", token=ALICE, action="config_reloaded")
        assert log == []  # alice (a coder) reads only entries about herself...
    from team_table.runtime import open_table
    from team_table.settings import resolve

    team = load_team(path)
    with open_table(resolve({"db": str(db)}, {}, team, None), team, seat=False) as hub:
        assert len(audit_log.entries(hub, None, action="config_reloaded")) == 1  # ...and it was recorded once
    assert log_alarms(tmp_path / "logs") == []


def test_a_team_with_roles_lists_reads_back_as_the_config_applied(tmp_path: Path):
    """A second hub process on the database compares its team.yaml with the one applied: an agent declared with
    `roles: [...]` (as `team-table init` writes) must read back (it once stored `role: agent` beside the list)."""
    from team_table import reload
    from team_table.runtime import open_table as open_hub
    from team_table.settings import resolve

    path = tmp_path / "team.yaml"
    path.write_text("agents:\n  reviewer:\n    roles: [reviewer, tester]\n")
    team = load_team(path)
    settings = resolve({"db": stores.table_db(tmp_path)}, {}, team, path)
    for _process in range(2):
        with open_hub(settings, team) as hub:
            Reloader(hub, path).record_start()
            assert reload.applied(hub).agents["reviewer"].all_roles == ("reviewer", "tester")


async def test_a_team_yaml_beside_a_database_being_written_is_picked_up_at_its_save_by_the_event(tmp_path: Path):
    """The database's folder changes at every write: the watcher hears finished saves only (no comparison could
    find this one: the next is an hour away), and the file being written beside it does not disturb it."""
    from team_table.reload import watch

    path = tmp_path / "team.yaml"
    path.write_text("first")
    busy = (tmp_path / "hub.db-wal").open("ab")
    read: list[str] = []
    saw = {"first": anyio.Event(), "second": anyio.Event()}

    def reload() -> None:
        text = path.read_text()
        read.append(text)
        anyio.from_thread.run_sync(saw[text].set)

    stop = anyio.Event()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: watch({path: reload}, every=3600, stop=stop))
        with anyio.fail_after(10):
            await saw["first"].wait()
            for _ in range(50):
                busy.write(b"a page of the database" * 200)
                busy.flush()
            save(path, "second")
            await saw["second"].wait()
        stop.set()
    busy.close()
    assert read == ["first", "second"]


def test_the_watcher_hears_finished_saves_and_new_folders_not_a_file_still_being_written(tmp_path: Path):
    from team_table.reload import _ours
    from team_table.store.file_changes import IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_ISDIR, IN_MOVED_TO

    files: dict[Path, Callable[[], object]] = {tmp_path / "team.yaml": print, tmp_path / "workflows": print}
    assert _ours(files, tmp_path, "team.yaml", IN_CLOSE_WRITE)
    assert _ours(files, tmp_path, "team.yaml", IN_MOVED_TO)  # an editor's save: a new file renamed over it
    assert not _ours(files, tmp_path, "team.yaml", IN_CREATE)  # created empty: its contents come with its close
    assert _ours(files, tmp_path, "workflows", IN_CREATE | IN_ISDIR)
    assert _ours(files, tmp_path / "workflows", "review.yaml", IN_DELETE)
    assert not _ours(files, tmp_path / "workflows", "notes.txt", IN_CLOSE_WRITE)
    assert not _ours(files, tmp_path, "hub.db-wal", IN_CLOSE_WRITE)
