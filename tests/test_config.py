"""team.yaml loading and the settings precedence: flag > environment > file > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from team_table.config import EMPTY_TEAM, load_team, parse_team
from team_table.errors import ConfigError, Invalid
from team_table.settings import find_config, load, resolve
from team_table.tokens import file_hash

HASH = file_hash("a-token")


def problems_of(text: str) -> list:
    with pytest.raises(ConfigError) as caught:
        parse_team(text, "team.yaml")
    return caught.value.problems


def test_an_empty_file_is_the_default_team():
    assert parse_team("", "team.yaml") == EMPTY_TEAM


def test_a_misspelled_key_is_refused_with_its_path_and_line():
    [problem] = problems_of("hub:\n  port: 80\n  trasnport: stdio\n")
    assert problem.path == "hub.trasnport"
    assert problem.line == 3


def test_a_wrong_value_deep_in_the_file_names_its_key_path_and_line():
    text = "agents:\n  alice:\n    role: coder\n  bob:\n    capabilities: 7\n"
    [problem] = problems_of(text)
    assert problem.path == "agents.bob.capabilities"
    assert problem.line == 5
    assert "team.yaml:5" in problem.describe("team.yaml")


def test_an_agent_with_an_unknown_role_is_refused():
    [problem] = problems_of("agents:\n  alice:\n    role: wizard\n")
    assert "wizard" in problem.reason


def test_a_custom_role_can_be_declared_and_used():
    team = parse_team("roles:\n  ops: {privileged: true}\nagents:\n  al:\n    role: ops\n"
                      f"    token_hashes: ['{HASH}']\n", "team.yaml")
    assert team.is_privileged("ops")
    assert not team.is_privileged("coder")


def test_a_plain_token_in_place_of_a_hash_is_refused():
    [problem] = problems_of("agents:\n  alice:\n    token_hashes: ['my-secret-token']\n")
    assert problem.path.startswith("agents.alice.token_hashes")


def test_a_privileged_agent_without_a_token_hash_is_refused():
    [problem] = problems_of("agents:\n  boss:\n    role: lead\n")
    assert "token_hashes" in problem.reason


def test_one_hash_declared_for_two_agents_is_refused():
    problems = problems_of(f"agents:\n  a:\n    token_hashes: ['{HASH}']\n  b:\n    token_hashes: ['{HASH}']\n")
    assert problems


def test_invalid_yaml_names_the_line():
    [problem] = problems_of("hub:\n  port: [80\n")
    assert problem.line is not None


def test_the_file_must_be_a_mapping():
    assert problems_of("- a\n- b\n")


def test_load_team_names_a_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        load_team(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(caught.value)


def test_the_shipped_example_and_starter_files_are_valid():
    root = Path(__file__).parent.parent
    load_team(root / "team.yaml")
    load_team(root / "src" / "team_table" / "starter" / "team.yaml")


def test_flag_beats_environment_beats_file_beats_default():
    team = parse_team("hub:\n  port: 9001\n  host: 10.0.0.1\n  transport: sse\n", "team.yaml")
    env = {"TEAM_TABLE_PORT": "9002", "TEAM_TABLE_HOST": "127.0.0.2"}
    settings = resolve({"port": 9003}, env, team, None)
    assert settings.port == 9003  # flag
    assert settings.host == "127.0.0.2"  # environment
    assert settings.transport == "sse"  # file
    assert settings.require_tokens is True  # default
    assert resolve({}, {}, EMPTY_TEAM, None).port == 8741


@pytest.mark.parametrize("word", ["1", "true", "YES", "y", "on"])
def test_true_words_turn_a_switch_on(word: str):
    assert resolve({}, {"TEAM_TABLE_ALLOW_INSECURE": word}, EMPTY_TEAM, None).allow_insecure


def test_require_tokens_can_be_turned_off_by_the_environment():
    assert not resolve({}, {"TEAM_TABLE_REQUIRE_TOKENS": "false"}, EMPTY_TEAM, None).require_tokens


@pytest.mark.parametrize("value", ["http", "SSE2", ""])
def test_an_unknown_transport_is_refused_naming_the_choices(value: str):
    if value == "":
        assert resolve({}, {"TEAM_TABLE_TRANSPORT": value}, EMPTY_TEAM, None).transport == "stdio"
        return
    with pytest.raises(Invalid) as caught:
        resolve({}, {"TEAM_TABLE_TRANSPORT": value}, EMPTY_TEAM, None)
    assert "streamable-http" in caught.value.message


@pytest.mark.parametrize("value", ["0", "65536", "eighty"])
def test_a_bad_port_is_refused(value: str):
    with pytest.raises(Invalid):
        resolve({}, {"TEAM_TABLE_PORT": value}, EMPTY_TEAM, None)


def test_admins_come_from_the_environment_and_the_file():
    team = parse_team("hub:\n  admins: [filed]\n", "team.yaml")
    settings = resolve({}, {"TEAM_TABLE_ADMINS": "a, b"}, team, None)
    assert settings.admins == {"a", "b", "filed"}


def test_config_path_comes_from_flag_then_environment_then_the_local_file(tmp_path: Path):
    (tmp_path / "team.yaml").write_text("")
    assert find_config("x.yaml", {"TEAM_TABLE_CONFIG": "y.yaml"}, tmp_path) == tmp_path / "x.yaml"
    assert find_config(None, {"TEAM_TABLE_CONFIG": "y.yaml"}, tmp_path) == tmp_path / "y.yaml"
    assert find_config(None, {}, tmp_path) == tmp_path / "team.yaml"
    (tmp_path / "team.yaml").unlink()
    assert find_config(None, {}, tmp_path) is None


def test_a_relative_db_in_the_file_is_relative_to_the_file(tmp_path: Path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "team.yaml").write_text("hub:\n  db: data/t.db\n")
    settings, _ = load({"config": "conf/team.yaml"}, {}, tmp_path)
    assert settings.db_path == tmp_path / "conf" / "data" / "t.db"
    settings, _ = load({"config": "conf/team.yaml"}, {"TEAM_TABLE_DB": "/tmp/other.db"}, tmp_path)
    assert settings.db_path == Path("/tmp/other.db")


def test_a_key_given_twice_is_refused_with_the_lines_of_both():
    # What pasting `team-table token alice`'s block under an `alice:` already declared used to do: YAML kept the
    # second block, dropped the first, and the file read as valid.
    text = f"hub:\n  port: 8741\nagents:\n  alice:\n    role: coder\n  alice:\n    token_hashes: ['{HASH}']\n"
    [problem] = problems_of(text)
    assert problem.path == "agents.alice"
    assert problem.line == 6
    assert "line 4" in problem.reason
    assert "team.yaml:6" in problem.describe("team.yaml")


def test_a_key_given_twice_deep_in_a_list_is_refused_too():
    [problem] = problems_of("escalation:\n  patterns:\n    a: x\nlimits:\n  rate: {writes: 3, writes: 4}\n")
    assert problem.path == "limits.rate.writes"
    assert problem.line == 5


def test_a_key_given_twice_in_a_workflow_file_is_refused_with_file_and_line():
    from team_table.workflow.spec import parse

    text = ("name: twice\ntriggers:\n  - event: task_created\n    do:\n      - comment: hello\n"
            "    do:\n      - comment: again\n")
    with pytest.raises(ConfigError) as caught:
        parse(text, "workflows/twice.yaml")
    [problem] = caught.value.problems
    assert (problem.path, problem.line) == ("triggers.0.do", 6)
    assert "workflows/twice.yaml:6" in caught.value.message


@pytest.mark.parametrize(("text", "path", "line"), [
    ("# the team\n\nhub:\n  port: 8741\nagents:\n  alice:\n    role: wizard\n", "agents.alice.role", 7),
    ("hub:\n  port: 8741\nagents:\n  boss:\n    roles: [coder, lead]\n", "agents.boss.roles", 5),
    ("hub: {}\nroles:\n  ops:\n    inherits: [nope]\n", "roles.ops.inherits", 4),
    ("hub: {}\nroles:\n  a:\n    inherits: [b]\n  b:\n    inherits: [a]\n", "roles.b.inherits", 6),
    ("hub: {}\nescalation:\n  patterns:\n    x: {pattern: a, notify: {roles: [ghost]}}\n",
     "escalation.patterns.x.notify.roles", 4),
    (f"hub: {{}}\nagents:\n  a:\n    token_hashes: ['{HASH}']\n  b:\n    token_hashes: ['{HASH}']\n",
     "agents.b.token_hashes.0", 6),
    ("hub:\n  admins: [ok, 'bad name!']\n", "hub.admins.1", 2),
    ("hub: {}\nlimits:\n  roles:\n    ghost: {rate: {writes: 1, window_seconds: 1}}\n", "limits.roles.ghost", 4),
])
def test_a_problem_across_keys_points_at_the_key_at_fault_not_the_first_line(text: str, path: str, line: int):
    [problem] = problems_of(text)
    assert (problem.path, problem.line) == (path, line)
