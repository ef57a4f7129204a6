"""The `team-table` command, through click's runner: init, check, token, and the operator commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import stores
from answers import found
from team_table import members, messages, tasks
from team_table.cli import main
from team_table.config import EMPTY_TEAM, load_team
from team_table.runtime import open_table
from team_table.settings import resolve
from team_table.tokens import file_hash

import client_lines


@pytest.fixture
def run(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("TEAM_TABLE_CONFIG", "TEAM_TABLE_DB", "TEAM_TABLE_AGENT", "TEAM_TABLE_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TEAM_TABLE_DB", stores.table_db(tmp_path))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def seeded(tmp_path: Path):
    """A table with two members, a message and a task, made through the domain."""
    settings = resolve({"db": stores.table_db(tmp_path)}, {}, EMPTY_TEAM, None)
    with open_table(settings, EMPTY_TEAM) as hub:
        members.register(hub, "alice", "coder", '["python"]', "")
        members.register(hub, "bob", "reviewer", "[]", "")
        alice = hub.caller("alice", ("coder",))
        messages.send(hub, alice, "bob", "please review the parser")
        tasks.create(hub, alice, "review the parser", assignee="bob")
    return tmp_path


def test_help_teaches_every_command_with_an_example(run):
    result = run("--help")
    assert result.exit_code == 0
    for command in ("up", "init", "check", "token", "members", "tasks", "inbox", "log", "grant", "revoke"):
        assert command in result.output
        sub = run(command, "--help")
        assert sub.exit_code == 0
        assert "Example" in sub.output, f"{command} --help has no example"


def test_init_writes_a_valid_starter_and_refuses_to_overwrite(run, tmp_path: Path):
    assert run("init").exit_code == 0
    load_team(tmp_path / "team.yaml")
    before = (tmp_path / "team.yaml").read_text()
    again = run("init")
    assert again.exit_code == 1
    assert "already exists" in again.output
    assert (tmp_path / "team.yaml").read_text() == before


@pytest.mark.processes
def test_init_writes_the_example_workflows_beside_the_team_file(run, tmp_path: Path):
    result = run("init", "ops/team.yaml")
    assert result.exit_code == 0
    shipped = sorted(p.name for p in (Path(__file__).parent.parent / "workflows").glob("*.yaml"))
    assert shipped and sorted(p.name for p in (tmp_path / "ops" / "workflows").glob("*.yaml")) == shipped
    checked = run("check", "ops/team.yaml")
    assert checked.exit_code == 0 and f"{len(shipped)} valid workflow(s)" in checked.output


def test_init_keeps_a_workflow_already_there_and_can_skip_them(run, tmp_path: Path):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "review.yaml").write_text("mine\n")
    result = run("init")
    assert result.exit_code == 0 and "Kept as they were" in result.output
    assert (tmp_path / "workflows" / "review.yaml").read_text() == "mine\n"
    assert (tmp_path / "workflows" / "qa.yaml").is_file()
    assert run("init", "--no-workflows", "other/team.yaml").exit_code == 0
    assert not (tmp_path / "other" / "workflows").exists()


def test_check_passes_a_good_file_and_fails_a_bad_one_with_file_and_line(run, tmp_path: Path):
    run("init")
    assert run("check").exit_code == 0
    (tmp_path / "bad.yaml").write_text("agents:\n  alice:\n    rol: coder\n")
    result = run("check", "bad.yaml")
    assert result.exit_code == 1
    assert "bad.yaml:3" in result.output and "agents.alice.rol" in result.output


def test_check_without_a_file_says_what_to_do(run):
    result = run("check")
    assert result.exit_code == 1
    assert "team-table check FILE" in result.output


def test_token_prints_a_hash_that_works_and_connect_lines(run, tmp_path: Path):
    result = run("token", "alice")
    assert result.exit_code == 0
    token = found(r"^  (\S{43})$", result.output, re.M).group(1)
    digest = found(r"sha256:[0-9a-f]{64}", result.output).group(0)
    assert file_hash(token) == digest
    assert f"export TEAM_TABLE_TOKEN_ALICE={token}" in result.output and "connect claude-code alice" in result.output
    printed = client_lines.printed_commands(run("connect", "claude-code", "alice", "--print").output)
    # The server name comes before -e (Claude Code's -e takes several values), `--` before the command; the
    # token is a reference to the variable the user exports, not the token itself.
    assert re.match(r"claude mcp add --scope user team-table -e TEAM_TABLE_AGENT=alice "
                    r"-e 'TEAM_TABLE_TOKEN=\$\{TEAM_TABLE_TOKEN_ALICE\}' -- /\S+ up", printed["Claude Code"])
    assert printed["Codex"].startswith("[mcp_servers.team-table]\ncommand = \"/")
    assert printed["Gemini CLI"].startswith("gemini mcp add --scope user team-table -e TEAM_TABLE_AGENT=alice")
    assert token not in "".join(printed.values())


def test_tasks_help_lists_every_status(run):
    from team_table.task_states import TaskStatus

    shown = " ".join(run("tasks", "--help").output.split())
    assert all(status.value in shown for status in TaskStatus)


def test_token_refuses_a_bad_name(run):
    result = run("token", "bad/name")
    assert result.exit_code == 1


def test_members_and_tasks_print_tables_and_json(run, seeded):
    table = run("members")
    assert table.exit_code == 0 and "alice" in table.output and "reviewer" in table.output
    assert not table.output.lstrip().startswith("[")
    data = json.loads(run("members", "--json").output)
    assert {m["name"] for m in data} == {"alice", "bob"}
    tasks_out = json.loads(run("tasks", "--status", "pending", "--json").output)
    assert [t["title"] for t in tasks_out] == ["review the parser"]
    assert "No tasks match" in run("tasks", "--status", "done").output


def test_inbox_shows_messages_without_marking_them_read(run, seeded):
    first = json.loads(run("inbox", "bob", "--json").output)
    second = json.loads(run("inbox", "bob", "--json").output)
    # bob's inbox: alice's message and the hub's notice of the task she gave him (in the task's thread).
    assert [m["sender"] for m in first] == ["alice", "team-table"]
    assert first[0]["content"] == "please review the parser"
    assert first == second


def test_grant_and_revoke_are_audited_as_the_operator(run, seeded):
    assert run("grant", "bob", "lead").exit_code == 0
    assert json.loads(run("members", "--json").output)[1]["role"] == "lead"
    assert run("revoke", "alice").exit_code == 0
    log = json.loads(run("log", "--agent", "operator", "--json").output)
    assert [e["action"] for e in log] == ["revoke_tokens", "grant_role"]


def test_grant_of_an_unknown_member_or_role_fails_cleanly(run, seeded):
    assert run("grant", "nobody", "lead").exit_code == 1
    result = run("grant", "bob", "wizard")
    assert result.exit_code == 1 and "wizard" in result.output


def test_log_filters_by_action(run, seeded):
    data = json.loads(run("log", "--action", "send_message", "--json").output)
    assert [e["agent_name"] for e in data] == ["alice"]


def test_up_refuses_a_bad_transport_from_the_environment(run, monkeypatch):
    monkeypatch.setenv("TEAM_TABLE_TRANSPORT", "carrier-pigeon")
    result = run("up")
    assert result.exit_code == 1
    assert "stdio" in result.output and "streamable-http" in result.output


def test_check_diff_shows_what_a_reload_would_change_against_the_running_hub(run, tmp_path: Path):
    from team_table.reload import Reloader

    path = tmp_path / "team.yaml"
    path.write_text("agents:\n  alice:\n    role: coder\n")
    team = load_team(path)
    db = stores.table_db(tmp_path)
    assert "No hub has run" in run("check", "--diff", "--db", str(db)).output
    with open_table(resolve({"db": str(db)}, {}, team, path), team) as hub:
        Reloader(hub, path).record_start()  # what a running hub records
    assert "would change nothing" in run("check", "--diff", "--db", str(db)).output
    path.write_text("agents:\n  alice:\n    role: tester\n  bob:\n    role: reviewer\n")
    result = run("check", "--diff", "--db", str(db))
    assert result.exit_code == 0
    assert "agents added: bob" in result.output and "agents changed: alice" in result.output
    members_before = json.loads(run("members", "--json", "--db", str(db)).output)
    assert members_before == []  # checking changed nothing in the database


def test_check_also_validates_the_workflows_beside_the_team_file(run, tmp_path: Path):
    run("init")
    (tmp_path / "workflows").mkdir(exist_ok=True)
    (tmp_path / "workflows" / "x.yaml").write_text("name: x\ntriggers:\n  - event: nope\n    do: []\n")
    result = run("check")
    assert result.exit_code == 1 and "x.yaml:3" in result.output


EXAMPLE = Path(__file__).parent.parent / "team.yaml"


def minted(output: str) -> str:
    return found(r"^  (\S{43})$", output, re.M).group(1)


def test_token_for_a_declared_agent_says_how_to_add_the_hash_to_its_entry(run, tmp_path: Path):
    (tmp_path / "team.yaml").write_text(EXAMPLE.read_text())
    result = run("token", "alice")
    assert result.exit_code == 0
    assert "alice is declared in" in result.output and "(line 20)" in result.output
    assert "\n  alice:\n" not in result.output  # no second alice: block to paste (YAML would drop one of the two)
    assert f'    token_hashes: ["{file_hash(minted(result.output))}"]' in result.output
    assert "--write" in result.output


def test_token_write_adds_the_hash_under_the_declared_agent_and_keeps_every_other_line(run, tmp_path: Path):
    path = tmp_path / "team.yaml"
    path.write_text(EXAMPLE.read_text())
    result = run("token", "alice", "--write")
    assert result.exit_code == 0, result.output
    token = minted(result.output)
    before, after = EXAMPLE.read_text().splitlines(), path.read_text().splitlines()
    added = [line for line in after if line not in before]
    assert added == ["    token_hashes:", f'      - "{file_hash(token)}"']
    assert [line for line in after if line not in added] == before
    team = load_team(path)
    settings = resolve({"db": stores.table_db(tmp_path)}, {}, team, path)
    with open_table(settings, team) as hub:
        assert members.authenticate(hub, "alice", token).name == "alice"


def test_token_write_twice_declares_two_hashes_to_rotate_without_downtime(run, tmp_path: Path):
    path = tmp_path / "team.yaml"
    path.write_text("agents:\n  alice: {role: coder}  # the coder\n")
    first, second = minted(run("token", "alice", "--write").output), minted(run("token", "alice", "--write").output)
    assert load_team(path).agents["alice"].token_hashes == (file_hash(first), file_hash(second))
    assert "# the coder" in path.read_text()


def test_token_write_declares_a_new_member_with_its_role(run, tmp_path: Path):
    path = tmp_path / "team.yaml"
    path.write_text(EXAMPLE.read_text())
    result = run("token", "boss", "--role", "person", "--write")
    assert result.exit_code == 0, result.output
    boss = load_team(path).agents["boss"]
    assert boss.role == "person" and boss.token_hashes == (file_hash(minted(result.output)),)
    assert "/ui" in result.output


def test_token_write_mends_a_lead_declared_without_a_hash(run, tmp_path: Path):
    path = tmp_path / "team.yaml"
    path.write_text("agents:\n  lead:\n    role: lead\n")
    assert run("check").exit_code == 1  # a privileged agent needs token_hashes
    result = run("token", "lead", "--write")
    assert result.exit_code == 0, result.output
    assert load_team(path).agents["lead"].token_hashes == (file_hash(minted(result.output)),)


def test_token_write_changes_nothing_when_the_file_has_another_problem(run, tmp_path: Path):
    path = tmp_path / "team.yaml"
    text = "agents:\n  alice:\n    role: coder\n  bob:\n    role: wizard\n"
    path.write_text(text)
    result = run("token", "alice", "--write")
    assert result.exit_code == 1
    assert "agents.bob.role" in result.output
    assert path.read_text() == text


def test_token_write_that_cannot_be_spliced_says_so_and_shows_the_line_to_add(run, tmp_path: Path):
    # bob merges alice's mapping: adding a hash inside alice's would declare it for bob too.
    path = tmp_path / "team.yaml"
    text = "agents:\n  alice: &coder {role: coder}\n  bob: {<<: *coder, description: also codes}\n"
    path.write_text(text)
    result = run("token", "alice", "--write")
    assert result.exit_code == 1
    assert "was not changed" in result.output and "token_hashes" in result.output
    assert path.read_text() == text


def test_token_write_without_a_team_file_says_to_make_one(run, tmp_path: Path):
    result = run("token", "alice", "--write")
    assert result.exit_code == 1 and "init" in result.output
    assert not (tmp_path / "team.yaml").exists()


def test_token_port_and_transport_set_the_printed_lines(run, tmp_path: Path):
    result = run("token", "alice", "--transport", "streamable-http", "--port", "9123")
    assert result.exit_code == 0
    assert "connect claude-code alice --url http://127.0.0.1:9123" in result.output
    by_hand = run("connect", "claude-code", "alice", "--url", "http://127.0.0.1:9123", "--print").output
    assert "http://127.0.0.1:9123/mcp" in client_lines.printed_commands(by_hand)["Claude Code"]


def test_banners_repeat_the_command_as_it_was_run():
    from team_table.cli import invoked_as

    uv = {"UV": "/usr/bin/uv", "UV_RUN_RECURSION_DEPTH": "1", "PATH": ""}
    assert invoked_as(uv, "/clone/.venv/bin/team-table") == "uv run team-table"
    assert invoked_as({"PATH": ""}, "/clone/.venv/bin/team-table") == "/clone/.venv/bin/team-table"
    assert invoked_as({"PATH": ""}, "/x/team_table/__main__.py").endswith(" -m team_table")


def test_banners_say_team_table_when_it_is_on_path(tmp_path: Path):
    from team_table.cli import invoked_as

    script = tmp_path / "team-table"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert invoked_as({"PATH": str(tmp_path)}, str(script)) == "team-table"


def test_init_tells_the_next_commands_as_they_were_run(run, monkeypatch):
    monkeypatch.setenv("UV", "/usr/bin/uv")
    monkeypatch.setenv("UV_RUN_RECURSION_DEPTH", "1")
    assert "`uv run team-table token NAME --write`" in run("init").output


def test_tasks_add_posts_a_task_as_the_operator_and_the_board_and_its_assignee_see_it(run):
    import json

    made = run("tasks", "add", "Parse the config", "--assignee", "alice", "--reviewer", "bob", "--kind", "code",
               "--priority", "high", "--label", "config", "--json")
    assert made.exit_code == 0, made.output
    task = json.loads(made.output)
    assert (task["title"], task["assignee"], task["reviewer"], task["creator"], task["priority"]) == (
        "Parse the config", "alice", "bob", "operator", "high")
    board = json.loads(run("tasks", "--json").output)
    assert [t["id"] for t in board] == [task["id"]]
    told = json.loads(run("inbox", "alice", "--json").output)  # the hub told alice, in the task's thread
    assert [(m["sender"], m["kind"]) for m in told] == [("team-table", "task_assigned")]
    assert run("tasks", "add", "   ").exit_code == 1  # an empty title is refused, and nothing is posted
    assert len(json.loads(run("tasks", "--json").output)) == 1
