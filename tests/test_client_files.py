"""What `connect` writes into another program's config: exactly its entries, once, taken out again byte for byte,
and never a file it cannot parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from answers import found
from team_table.clients import files
from team_table.clients.files import Entry
from team_table.errors import Invalid

SERVER = Entry(("mcpServers", "team-table"), {"type": "http", "url": "http://127.0.0.1:8741/mcp",
                                              "headers": {"Authorization": "Bearer ${TEAM_TABLE_TOKEN_ALICE}"}})
HOOK = Entry(("hooks", "Stop"), {"hooks": [{"type": "command", "command": "team-table hook claude-code Stop"}]},
             item=True)
EXISTING = """{
    "theme": "dark",
    "hooks": {
        "Stop": [
            {
                "hooks": [
                    {
                        "type": "command",
                        "command": "notify-send done"
                    }
                ]
            }
        ]
    },
    "émoji": "✓"
}"""


def connect(file: Path, entries: list[Entry], ledger: dict, kind: str = "json") -> files.FileChange:
    change = files.plan_add(file, entries, kind)
    files.write(change)
    files.record(ledger, str(file), change)
    return change


def disconnect(file: Path, ledger: dict, kind: str = "json") -> files.FileChange:
    kept = ledger[str(file)]
    change = files.plan_remove(file, files.entries_of(kept), kind, kept, files.made_of(kept))
    files.write(change)
    return change


@pytest.mark.parametrize("original", [None, "{}\n", EXISTING, EXISTING + "\n", '{"a":1,"b":[1,2]}'])
def test_connect_twice_changes_nothing_more_and_remove_restores_the_file_byte_for_byte(tmp_path, original):
    file = tmp_path / "settings.json"
    if original is not None:
        file.write_text(original)
    ledger: dict = {}
    first = connect(file, [SERVER, HOOK], ledger)
    assert first.changed
    written = file.read_bytes()
    assert not connect(file, [SERVER, HOOK], ledger).changed and file.read_bytes() == written
    disconnect(file, ledger)
    assert (file.read_text() if file.exists() else None) == original


def test_remove_after_the_user_edited_the_file_takes_out_only_what_connect_added(tmp_path):
    file = tmp_path / "settings.json"
    file.write_text(EXISTING)
    ledger: dict = {}
    connect(file, [SERVER, HOOK], ledger)
    edited = file.read_text().replace('"dark"', '"light"')
    file.write_text(edited)
    disconnect(file, ledger)
    import json

    assert json.loads(file.read_text()) == {**json.loads(EXISTING), "theme": "light"}


def test_an_entry_changed_by_hand_since_is_left_as_it_is(tmp_path):
    file = tmp_path / "settings.json"
    ledger: dict = {}
    connect(file, [SERVER], ledger)
    file.write_text(file.read_text().replace("8741", "9999"))
    change = disconnect(file, ledger)
    assert "9999" in file.read_text() and change.notes


def test_a_file_that_does_not_parse_is_left_untouched_with_an_error_saying_so(tmp_path):
    file = tmp_path / "settings.json"
    file.write_text('{"theme": "dark",')
    with pytest.raises(Invalid) as refused:
        files.plan_add(file, [SERVER], "json")
    assert "left untouched" in refused.value.message and file.read_text() == '{"theme": "dark",'


TOML = """# my codex settings
model = "o4"

[mcp_servers.other]
url = "https://example.com/mcp"  # keep this comment
"""


def test_a_toml_table_is_added_with_comments_kept_and_taken_out_byte_for_byte(tmp_path):
    file = tmp_path / "config.toml"
    file.write_text(TOML)
    ledger: dict = {}
    table = Entry(("mcp_servers", "team-table"), {"url": "http://127.0.0.1:8741/mcp",
                                                  "bearer_token_env_var": "TEAM_TABLE_TOKEN_ALICE"})
    connect(file, [table], ledger, "toml")
    text = file.read_text()
    assert "# keep this comment" in text and "[mcp_servers.team-table]" in text
    import tomllib

    assert tomllib.loads(text)["mcp_servers"]["team-table"]["bearer_token_env_var"] == "TEAM_TABLE_TOKEN_ALICE"
    assert not connect(file, [table], ledger, "toml").changed
    disconnect(file, ledger, "toml")
    assert file.read_text() == TOML


def test_a_dry_run_diff_says_what_would_change(tmp_path):
    file = tmp_path / "settings.json"
    file.write_text("{}\n")
    change = files.plan_add(file, [SERVER], "json")
    assert "+" in change.diff() and "team-table" in change.diff() and file.read_text() == "{}\n"


CLAUDE_JSON = """{
  "numStartups": 4,
  "theme": "dark",
  "mcpServers": {
    "other": {
      "type": "stdio",
      "command": "other-server"
    }
  },
  "projects": {
    "/home/me/app": {
      "hasTrustDialogAccepted": true
    }
  }
}"""
CLAUDE_SETTINGS = """{
  "permissions": {
    "allow": ["Bash(git status)"]
  },
  "hooks": {
    "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
  }
}
"""
CODEX_TOML = """model = "o4"  # mine

[mcp_servers.other]
command = "other-server"
"""
GEMINI_JSON = '{\n  "security": {"auth": {"selectedType": "gemini-api-key"}},\n  "hooks": {}\n}\n'


@pytest.mark.parametrize("client, files", [
    ("claude-code", {".claude.json": CLAUDE_JSON, ".claude/settings.json": CLAUDE_SETTINGS}),
    ("codex", {".codex/config.toml": CODEX_TOML}),
    ("gemini", {".gemini/settings.json": GEMINI_JSON}),
])
@pytest.mark.parametrize("url", ["http://127.0.0.1:8741", None])
def test_connect_twice_changes_nothing_and_remove_gives_each_config_back_byte_for_byte(tmp_path, client, files, url):
    from click.testing import CliRunner

    from team_table.cli import main

    home = tmp_path / "home"
    for name, text in files.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text)
    before = {p.relative_to(home): p.read_bytes() for p in home.rglob("*") if p.is_file()}
    args = ["connect", client, "alice", "--no-token", "--db", str(tmp_path / "t.db"),
            *(["--url", url] if url else ["--config", str(tmp_path / "team.yaml")])]
    (tmp_path / "team.yaml").write_text("hub:\n  transport: stdio\n")
    run = CliRunner()

    first = run.invoke(main, args, env={"HOME": str(home)}, catch_exceptions=False)
    assert first.exit_code == 0 and "wrote" in first.output, first.output
    written = {p.relative_to(home): p.read_bytes() for p in home.rglob("*") if p.is_file()}
    assert b"TEAM_TABLE_TOKEN_ALICE" in b"".join(written.values()) and written != before
    second = run.invoke(main, args, env={"HOME": str(home)}, catch_exceptions=False)
    assert "nothing changed" in second.output
    assert {p.relative_to(home): p.read_bytes() for p in home.rglob("*") if p.is_file()} == written
    dry = run.invoke(main, [*args, "--remove", "--dry-run"], env={"HOME": str(home)}, catch_exceptions=False)
    assert dry.exit_code == 0 and {p.relative_to(home): p.read_bytes() for p in home.rglob("*") if p.is_file()} \
        == written
    gone = run.invoke(main, [*args, "--remove"], env={"HOME": str(home)}, catch_exceptions=False)
    assert gone.exit_code == 0, gone.output
    assert {p.relative_to(home): p.read_bytes() for p in home.rglob("*") if p.is_file()} == before


def test_connect_leaves_a_config_it_cannot_parse_untouched_and_says_where(tmp_path):
    from click.testing import CliRunner

    from team_table.cli import main

    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text('{"hooks": ')
    (home / ".claude.json").write_text("{}")
    done = CliRunner().invoke(main, ["connect", "claude-code", "alice", "--url", "http://127.0.0.1:8741",
                                     "--no-token", "--db", str(tmp_path / "t.db")], env={"HOME": str(home)})
    assert done.exit_code == 1 and "settings.json" in done.output and "untouched" in done.output
    assert (home / ".claude" / "settings.json").read_text() == '{"hooks": '
    assert (home / ".claude.json").read_text() == "{}"  # nothing written anywhere: every file is read first


def test_connect_mints_a_token_for_an_agent_without_one_once(tmp_path, monkeypatch):

    from click.testing import CliRunner

    from team_table.cli import main
    from team_table.config import load_team
    from team_table.tokens import file_hash

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TEAM_TABLE_TOKEN_ALICE", raising=False)
    (tmp_path / "team.yaml").write_text("agents:\n  alice:\n    role: coder\n")
    args = ["connect", "claude-code", "alice", "--url", "http://127.0.0.1:8741", "--db", str(tmp_path / "t.db")]
    first = CliRunner().invoke(main, args, env={"HOME": str(tmp_path / "home")}, catch_exceptions=False)
    token = found(r"export TEAM_TABLE_TOKEN_ALICE=(\S+)", first.output).group(1)
    assert load_team(tmp_path / "team.yaml").agents["alice"].token_hashes == (file_hash(token),)
    again = CliRunner().invoke(main, args, env={"HOME": str(tmp_path / "home")}, catch_exceptions=False)
    assert "export" not in again.output and "nothing changed" in again.output  # no second token
    assert load_team(tmp_path / "team.yaml").agents["alice"].token_hashes == (file_hash(token),)
    settings = (tmp_path / "home" / ".claude.json").read_text()
    assert token not in settings and "${TEAM_TABLE_TOKEN_ALICE}" in settings  # a reference, never the token
