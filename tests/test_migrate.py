"""`team-table migrate`: a SQLite hub's table, filled through the domain, copied into an empty PostgreSQL database
through the CLI's runner, then read there through the domain.

It is SQLite to PostgreSQL by nature, so it runs once (in the SQLite pass), with a PostgreSQL database of its own
(stores.empty_db, dropped after the test); without TEAM_TABLE_TEST_POSTGRES it is skipped.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import stores
from team_table import comments, context, events, jobs, members, messages, reservations, tasks
from team_table.cli import main
from team_table.config import Team, parse_team
from team_table.runtime import open_table
from team_table.settings import resolve
from team_table.store.postgres_schema import TABLES
from team_table.workflow.engine import open_engine

pytestmark = [pytest.mark.sqlite_only,
              pytest.mark.skipif(not stores.SERVER, reason="needs a PostgreSQL server: set TEAM_TABLE_TEST_POSTGRES")]

TEAM = parse_team("escalation:\n  patterns:\n    decision: '(?i)should we'\n", "team.yaml")
GREET = """name: greet
triggers:
  - event: task_created
    do:
      - message: {to: creator, text: "[AUTO] Task {{ task.id }} is on the board."}
"""


@dataclass
class Source:
    db: Path
    tokens: dict[str, str]
    broadcast: int


def _hub(where: str | Path, team: Team = TEAM):
    return open_table(resolve({"db": str(where)}, {}, team, None), team)


@pytest.fixture
def source(tmp_path: Path) -> Source:
    """A SQLite table with something in every kind of row: members and tokens, a direct message, a broadcast that
    one of its two readers read, tasks with a comment and a dependency, context, an escalation, a workflow run,
    reservations and a watch; its
    events were then pruned, so that the ids SQLite gave them are above every id left."""
    db = tmp_path / "hub" / "team.db"
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "greet.yaml").write_text(GREET)
    with _hub(db) as hub:
        tokens = {name: members.register(hub, name, "agent", '["python"]', "").token for name in ("ann", "bo", "cy")}
        ann, bo = hub.caller("ann", ("agent",)), hub.caller("bo", ("agent",))
        engine = open_engine(hub, tmp_path / "workflows")
        messages.send(hub, ann, "bo", "the parser is ready")
        said = messages.broadcast(hub, ann, "standup in five")
        messages.inbox(hub, bo)  # bo reads it; cy does not
        messages.send(hub, bo, "ann", "should we ship on Friday?")  # an escalation
        parent = tasks.create(hub, ann, "ship 0.3")
        child = tasks.create(hub, ann, "write the notes", assignee="bo", parent_id=parent.id, depends_on=[parent.id])
        comments.comment(hub, bo, child.id, "on it")
        context.share(hub, ann, "release", "0.3")
        reservations.reserve(hub, ann, ["docs/**"], reason="release notes", task_id=parent.id)
        reservations.reserve(hub, bo, ["src/a.py"], exclusive=False)
        with hub.store.write() as conn:  # someone waits for docs to free
            conn.execute("INSERT INTO reservation_watch (agent, pattern, anchor, exclusive, created_at, expires)"
                         " VALUES ('cy', 'docs/x.md', 'docs/x.md', 1, '2026-01-01', 9e9)")
        engine.step()  # greet runs for both tasks
        events.prune(hub.store, "9999", keep=0)  # every event is gone: their ids must not be given again
    return Source(db, tokens, said.id)


@pytest.fixture
def run(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("TEAM_TABLE_CONFIG", "TEAM_TABLE_DB"):
        monkeypatch.delenv(var, raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, ["migrate", *args], catch_exceptions=False)


def _everything(where: str | Path) -> dict[str, list[list[tuple]]]:
    """Every row of every copied table (as column: value), in a stable order."""
    with _hub(where) as hub:
        return {table: sorted((sorted(dict(row).items()) for row in hub.store.query(f"SELECT * FROM {table}")),
                              key=repr) for table, _ in TABLES}


# What a new database holds: the workflow engine's place, at the start.
AS_NEW = {table: int(table == "workflow_state") for table, _ in TABLES}


def _counts(url: str) -> dict[str, int]:
    with _hub(url) as hub:
        return {table: hub.store.query(f"SELECT COUNT(*) FROM {table}")[0][0] for table, _ in TABLES}


def test_every_row_arrives_as_it_was_and_the_table_works_on_postgresql(source, run, tmp_path: Path):
    url = stores.empty_db(tmp_path / "pg")
    result = run("--db", str(source.db), "--to", url)
    assert result.exit_code == 0, result.output
    before = _everything(source.db)
    assert all(before[table] for table in ("member", "token", "message", "delivery", "task", "task_dependency",
                                           "task_comment", "context_entry", "audit", "escalation", "workflow_run",
                                           "workflow_state"))
    assert _everything(url) == before
    assert f"copied {sum(len(rows) for rows in before.values())} rows into {url};" in result.output

    with _hub(source.db) as hub:
        last = {table: hub.store.query(f"SELECT seq FROM sqlite_sequence WHERE name = '{table}'")[0][0]
                for table in ("message", "task", "event")}
    with _hub(url) as hub:
        assert {name: members.identify(hub, token) for name, token in source.tokens.items()} == \
            {name: name for name in source.tokens}
        members.authenticate(hub, "cy", source.tokens["cy"])
        assert [m.read for m in messages.peek(hub, "bo", include_all=True) if m.id == source.broadcast] == [True]
        assert [m.id for m in messages.peek(hub, "cy")] == [source.broadcast]  # still unread by cy
        ann = hub.caller("ann", ("agent",))
        assert messages.send(hub, ann, "cy", "hello from PostgreSQL").id == last["message"] + 1
        assert tasks.create(hub, ann, "run on PostgreSQL").id == last["task"] + 1
        assert events.last_id(hub.store) > last["event"]  # so the workflow engine, past them, sees the new ones
        open_engine(hub, tmp_path / "workflows").step()
        assert len(hub.store.query("SELECT * FROM workflow_run")) == len(before["workflow_run"]) + 1


def test_a_target_that_holds_a_table_is_refused_and_left_as_it_was(source, run, tmp_path: Path):
    url = stores.empty_db(tmp_path / "pg")
    assert run("--db", str(source.db), "--to", url).exit_code == 0
    with _hub(url) as hub:
        messages.send(hub, hub.caller("ann", ("agent",)), "bo", "written on PostgreSQL")
    before = _everything(url)
    again = run("--db", str(source.db), "--to", url)
    assert again.exit_code == 1
    assert "already holds a table" in again.output
    assert _everything(url) == before


def test_a_target_that_is_not_postgresql_or_a_source_that_is_not_sqlite_is_refused(source, run, tmp_path: Path):
    other = tmp_path / "other.db"
    assert run("--db", str(source.db), "--to", str(other)).exit_code == 2  # a usage error
    assert not other.exists()
    url = stores.empty_db(tmp_path / "pg")
    assert run("--db", url, "--to", url).exit_code == 1
    assert run("--db", str(tmp_path / "missing.db"), "--to", url).exit_code == 1
    assert _counts(url) == AS_NEW


def test_a_failure_halfway_leaves_the_target_empty(source, run, tmp_path: Path):
    with sqlite3.connect(source.db) as conn:  # a comment on a task that is not there (foreign keys were off)
        conn.execute("INSERT INTO task_comment (task_id, author, text, at) VALUES (999, 'ann', 'lost', '2026')")
    url = stores.empty_db(tmp_path / "pg")
    result = run("--db", str(source.db), "--to", url)
    assert result.exit_code == 1
    assert "task_comment" in result.output
    assert _counts(url) == AS_NEW  # members, messages and tasks were copied before it: all undone


def test_a_column_on_one_side_only_is_refused_by_name(source, run, tmp_path: Path):
    with sqlite3.connect(source.db) as conn:
        conn.execute("ALTER TABLE task ADD COLUMN estimate TEXT")
    url = stores.empty_db(tmp_path / "pg")
    result = run("--db", str(source.db), "--to", url)
    assert result.exit_code == 1
    assert "task.estimate" in result.output
    assert _counts(url) == AS_NEW


def test_a_hub_still_running_on_the_file_is_refused(source, run, tmp_path: Path):
    with _hub(source.db) as hub:
        assert jobs.take_lease(hub, jobs.HEARTBEAT, "a-running-hub", 60)
    url = stores.empty_db(tmp_path / "pg")
    assert run("--db", str(source.db), "--to", url).exit_code == 1
    assert _counts(url) == AS_NEW


@pytest.mark.anyio
@pytest.mark.processes
async def test_a_hub_with_the_file_open_is_refused_even_without_a_lease_and_the_copy_runs_once_it_stops(
        run, tmp_path: Path):
    from contextlib import AsyncExitStack

    from network_helpers import join_all, running_hub

    live = tmp_path / "live"
    async with running_hub(live) as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        await alice.ok("send_message", recipient="bob", content="before the copy")
        db = stores.table_db(live)
        with sqlite3.connect(db) as conn:  # it holds no job lease (as when the hub that held them stopped)
            conn.execute("DELETE FROM job_lease")
        url = stores.empty_db(tmp_path / "pg")
        refused = run("--db", db, "--to", url)
        assert refused.exit_code == 1 and "open" in refused.output, refused.output
        assert _counts(url) == AS_NEW
        await alice.ok("send_message", recipient="bob", content="acknowledged after the refusal")
    copied = run("--db", db, "--to", url)
    assert copied.exit_code == 0, copied.output
    with _hub(url) as hub:
        assert [r[0] for r in hub.store.query("SELECT content FROM message ORDER BY id")] == [
            "before the copy", "acknowledged after the refusal"]


def test_a_hub_cannot_open_the_file_while_migrate_copies_it(source):
    from team_table.errors import Unavailable
    from team_table.store.sqlite import SqliteStore
    from team_table.store.sqlite_file import only_user

    with only_user(source.db), pytest.raises(Unavailable, match="migrate"):
        SqliteStore.open(source.db)
    SqliteStore.open(source.db).close()  # and can, once it is done


def test_text_with_a_nul_character_is_refused_by_table_and_row_and_replace_nul_copies_it(source, run, tmp_path: Path):
    with sqlite3.connect(source.db) as conn:  # what an older hub on SQLite stored
        bad = conn.execute("INSERT INTO message (sender, recipient, content, created_at) VALUES"
                           " ('ann', 'bo', ?, '2026-12-01T00:00:00+00:00') RETURNING id",
                           ("before\0after",)).fetchone()[0]
    url = stores.empty_db(tmp_path / "pg")
    refused = run("--db", str(source.db), "--to", url)
    assert refused.exit_code == 1
    assert f"message rowid {bad}" in refused.output and "--replace-nul" in refused.output, refused.output
    assert _counts(url) == AS_NEW
    copied = run("--db", str(source.db), "--to", url, "--replace-nul")
    assert copied.exit_code == 0, copied.output
    assert "1 text" in copied.output
    with _hub(url) as hub:
        assert hub.store.query("SELECT content FROM message WHERE id = ?", (bad,))[0][0] == "before\ufffdafter"
