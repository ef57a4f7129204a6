"""The runner's parts, in this process: `run:` in team.yaml, what waits for an agent, a run's token, the caps and
leases of a start, working folders and environments, the output files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from team_table import members, messages, tasks, tokens
from team_table.errors import ConfigError, Invalid, Unauthorized
from team_table.runner import folders, leases, processes, runs, work
from team_table.runner.clients import SETTINGS, Gemini
from team_table.runner.config import RunSpec
from team_table.runner.presets import Context, Reading

from conftest import team_from

pytestmark = pytest.mark.anyio

LEAD = tokens.mint()
TEAM = f"""
agents:
  boss: {{role: lead, token_hashes: ["{tokens.file_hash(LEAD)}"]}}
  builder:
    role: coder
    run: {{command: [python, agent.py]}}
  checker:
    role: reviewer
    token_hashes: ["{tokens.file_hash(tokens.mint())}"]
    run: {{command: [python, agent.py], next_task: true}}
  taker:
    role: coder
    capabilities: [python]
    run: {{command: [python, agent.py], next_task: true}}
"""


def problems_of(text: str) -> list:
    with pytest.raises(ConfigError) as caught:
        team_from(text)
    return caught.value.problems


@pytest.mark.parametrize(("run", "path", "says"), [
    ("{command: [a], preset: claude}", "agents.a.run", "not both"),
    ("{args: [x]}", "agents.a.run", "not both and not neither"),
    ("{preset: cursor}", "agents.a.run.preset", "gemini"),
    ("{command: []}", "agents.a.run", "argv"),
    ("{command: [a], args: [x]}", "agents.a.run", "args go with a preset"),
    ("{command: [a], env: {TEAM_TABLE_TOKEN: x}}", "agents.a.run.env", "TEAM_TABLE_"),
    ("{command: [a], pass_env: [PGPASSWORD]}", "agents.a.run.pass_env", "database secret"),
    ("{command: [a], pass_env: ['not a name']}", "agents.a.run.pass_env", "not an environment variable"),
    ("{command: [a], start: sometimes}", "agents.a.run.start", "on_work"),
    ("{command: [a], restart: {backoff_seconds: 9, max_backoff_seconds: 1}}", "agents.a.run.restart", "at least"),
    ("{command: [a], stall: {action: shrug}}", "agents.a.run.stall.action", "restart"),
    ("{command: [a], max_seconds: 0}", "agents.a.run.max_seconds", "greater than 0"),
    ("{command: [a], shell: true}", "agents.a.run.shell", "not a known key"),
    ("{command: [a], prompt: '{{ nope( }}'}", "agents.a.run.prompt", "does not render"),
])
@pytest.mark.processes
def test_a_bad_run_key_is_refused_with_its_path_and_line(run: str, path: str, says: str):
    [problem] = problems_of(f"hub: {{}}\nagents:\n  a:\n    role: coder\n    run: {run}\n")
    assert problem.path == path and says in problem.reason, (problem.path, problem.reason)
    assert problem.line == 5


def test_a_person_is_not_run_and_caps_name_known_roles():
    person = (f"agents:\n  p:\n    role: person\n    token_hashes: ['{tokens.file_hash('t')}']\n"
              "    run: {command: [a]}\n")
    assert "person is not run" in problems_of(person)[0].reason
    assert "unknown role" in problems_of("runner:\n  max_running_per_role: {wizard: 1}\n")[0].reason


def test_what_changes_how_a_run_starts_is_told_from_what_applies_to_a_live_run():
    base = RunSpec(command=("a",))
    assert base.model_copy(update={"env": {"X": "1"}}).launch_part() != base.launch_part()
    assert base.model_copy(update={"max_seconds": 5.0}).launch_part() == base.launch_part()


async def test_work_waits_for_an_agent_in_its_tasks_reviews_rework_and_messages(table_with):
    async with table_with(TEAM) as table:
        hub = table.hub
        boss = hub.caller("boss", ("lead",))
        agents = {n: s for n, s in hub.team.agents.items() if s.run is not None}
        assert work.waiting(hub, agents) == {"builder": [], "checker": [], "taker": []}
        reserved = tasks.create(hub, boss, "Reserved", assignee="builder")
        blocked_by = tasks.create(hub, boss, "First")
        later = tasks.create(hub, boss, "Later", assignee="builder", depends_on=[blocked_by.id])
        messages.send(hub, boss, "builder", "hello")
        found = work.waiting(hub, agents)
        kinds = [(item.kind, item.id) for item in found["builder"]]
        assert ("task", reserved.id) in kinds and ("task", later.id) not in kinds  # it waits for another task
        assert [k for k, _ in kinds].count("messages") == 1
        # a free task goes to one agent whose roles or capabilities fit it, not to all of them
        assert [(i.kind, i.id) for i in found["checker"] + found["taker"]] == [("free", blocked_by.id)]
        coded = tasks.create(hub, boss, "Code it", kind="code")
        taken = work.waiting(hub, agents)
        assert [(i.kind, i.id) for i in taken["taker"]] == [("free", coded.id)]  # a reviewer does not code
        review = tasks.create(hub, boss, "Check it", reviewer="checker")
        tasks.update(hub, boss, review.id, "in_progress")
        tasks.update(hub, boss, review.id, "awaiting_review")
        assert ("review", review.id) in [(i.kind, i.id) for i in work.waiting(hub, agents)["checker"]]
        before = work.fingerprint(work.waiting(hub, agents)["builder"])
        messages.send(hub, boss, "builder", "and another")
        assert work.fingerprint(work.waiting(hub, agents)["builder"]) != before  # new work, new fingerprint


async def test_a_run_token_binds_its_agent_even_one_declared_with_token_hashes_and_dies_with_the_run(table_with):
    async with table_with(TEAM) as table:
        hub = table.hub
        owner = leases.Owner.here()
        begun = runs.begin(hub, owner, "checker", [], None)
        assert isinstance(begun, runs.Begun)
        assert members.identify(hub, begun.token) == "checker"
        assert members.authenticate(hub, "checker", begun.token).roles == ("reviewer",)
        with pytest.raises(Unauthorized):
            members.authenticate(hub, "builder", begun.token)  # bound to its own agent
        stored = hub.store.query("SELECT hash, source FROM token WHERE member = 'checker' AND source = 'run'")
        assert [row["hash"] for row in stored] == [tokens.digest(begun.token)]  # only the hash is kept
        runs.end(hub, owner, "checker", begun.run_id, runs.Outcome.EXITED, 0, "exited 0",
                 state=runs.AgentState.EXITED, detail=None, last_line="", session=None, keep_lease=False)
        assert members.identify(hub, begun.token) is None
        with pytest.raises(Unauthorized):
            members.authenticate(hub, "checker", begun.token)


async def test_a_live_runs_state_set_after_the_run_ended_leaves_the_state_it_ended_in(table_with):
    """The supervisor looks at a live run while the run's end is being recorded: the look's 'working' comes after
    the end's 'failed' and must not undo it (a person would see a failed agent as working)."""
    async with table_with(TEAM) as table:
        hub, owner = table.hub, leases.Owner.here()
        begun = runs.begin(hub, owner, "builder", [], None)
        assert isinstance(begun, runs.Begun)
        runs.set_state(hub, owner, "builder", runs.AgentState.WORKING, "task 1", run_id=begun.run_id)
        assert hub.store.query("SELECT state FROM agent_state WHERE agent = 'builder'")[0]["state"] == "working"
        runs.end(hub, owner, "builder", begun.run_id, runs.Outcome.FAILED, 3, "exited 3",
                 state=runs.AgentState.FAILED, detail="the hub stopped trying", last_line="", session=None,
                 keep_lease=False)
        runs.set_state(hub, owner, "builder", runs.AgentState.WORKING, "task 1", run_id=begun.run_id)
        row = hub.store.query("SELECT state, detail FROM agent_state WHERE agent = 'builder'")[0]
        assert (row["state"], row["detail"]) == ("failed", "the hub stopped trying")


async def test_a_start_is_refused_past_the_caps_and_while_another_hub_holds_the_agent(table_with):
    async with table_with(TEAM + "runner:\n  max_running: 2\n  max_running_per_role: {coder: 1}\n") as table:
        hub = table.hub
        here, there = leases.Owner.here(), leases.Owner("elsewhere:1:x", "elsewhere")
        assert isinstance(runs.begin(hub, here, "builder", [], None), runs.Begun)
        assert "max_running_per_role.coder" in str(runs.begin(hub, here, "taker", [], None))
        assert runs.begin(hub, there, "builder", [], None) == "another hub runs it"
        assert isinstance(runs.begin(hub, there, "checker", [], None), runs.Begun)
        assert "max_running = 2" in str(runs.begin(hub, here, "taker", [], None))
        assert leases.renew(hub, here.id) == {"builder"}


def test_a_run_gets_a_few_of_the_hubs_variables_those_it_names_and_the_three_of_the_table():
    spec = RunSpec(command=("a",), env={"MODE": "fast"}, pass_env=("ANTHROPIC_API_KEY",))
    hub_env = {"PATH": "/bin", "HOME": "/home/h", "ANTHROPIC_API_KEY": "k", "PGPASSWORD": "secret",
               "TEAM_TABLE_DB": "postgresql://x", "AWS_SECRET_ACCESS_KEY": "s"}
    env = folders.environment(hub_env, spec, "builder", "http://127.0.0.1:1/mcp", "tok")
    assert env == {"PATH": "/bin", "HOME": "/home/h", "ANTHROPIC_API_KEY": "k", "MODE": "fast",
                   "TEAM_TABLE_AGENT": "builder", "TEAM_TABLE_URL": "http://127.0.0.1:1/mcp", "TEAM_TABLE_TOKEN": "tok"}


def test_a_presets_variables_sit_beneath_team_yamls_env_and_never_replace_the_tables_three():
    spec = RunSpec(preset="gemini", env={"MODE": "fast"})
    env = folders.environment({"HOME": "/home/h"}, spec, "builder", "http://127.0.0.1:1/mcp", "tok",
                              {"GEMINI_CLI_HOME": "/runs/builder/gemini-home", "MODE": "client's",
                               "TEAM_TABLE_TOKEN": "not this"})
    assert env == {"HOME": "/home/h", "GEMINI_CLI_HOME": "/runs/builder/gemini-home", "MODE": "fast",
                   "TEAM_TABLE_AGENT": "builder", "TEAM_TABLE_URL": "http://127.0.0.1:1/mcp", "TEAM_TABLE_TOKEN": "tok"}


def test_the_gemini_preset_gives_the_agent_your_gemini_with_the_hub_added_and_keeps_its_sessions(tmp_path: Path):
    yours = tmp_path / "home" / ".gemini"
    (yours / "extensions").mkdir(parents=True)
    (yours / "tmp" / "yours").mkdir(parents=True)  # your sessions
    (yours / "oauth_creds.json").write_text('{"refresh_token": "yours"}')
    (yours / SETTINGS).write_text(json.dumps({"security": {"auth": {"selectedType": "oauth-personal"}},
                                              "mcpServers": {"docs": {"command": "docs-server"}}}))
    before = (yours / SETTINGS).read_text()
    ctx = Context("builder", "http://127.0.0.1:8741/mcp", None, tmp_path / "runs", tmp_path / "home")
    gemini = Gemini()
    env = gemini.env(RunSpec(preset="gemini"), ctx)
    agents = Path(env["GEMINI_CLI_HOME"]) / ".gemini"
    assert agents.parent == tmp_path / "runs" / "gemini-home"
    settings = json.loads((agents / SETTINGS).read_text())
    assert settings["security"] == {"auth": {"selectedType": "oauth-personal"}}  # you sign in, so does the agent
    assert settings["mcpServers"] == {"docs": {"command": "docs-server"}, "team-table": {
        "type": "http", "url": "http://127.0.0.1:8741/mcp", "headers": {"Authorization": "Bearer ${TEAM_TABLE_TOKEN}"},
        "trust": True}}
    assert (agents / "oauth_creds.json").resolve() == (yours / "oauth_creds.json").resolve()  # a link, not a copy
    assert (agents / "extensions").is_symlink()
    assert not (agents / "tmp").exists()  # its sessions are its own, not among yours
    assert (yours / SETTINGS).read_text() == before  # yours is never written
    (agents / "tmp").mkdir()  # the agent's sessions
    (yours / SETTINGS).write_text(json.dumps({"general": {"vimMode": True}}))
    gemini.env(RunSpec(preset="gemini"), ctx)  # the next run
    assert json.loads((agents / SETTINGS).read_text())["general"] == {"vimMode": True}
    assert (agents / "tmp").is_dir() and not (agents / "tmp").is_symlink()
    assert gemini.argv(RunSpec(preset="gemini", args=("--model", "x")), ctx)[-2:] == ("--model", "x")
    resumed = gemini.argv(RunSpec(preset="gemini"), Context("builder", ctx.url, "s-1", ctx.files, ctx.home))
    assert resumed[resumed.index("--resume") + 1] == "s-1"
    (yours / SETTINGS).write_text("{not json")
    with pytest.raises(Invalid, match="is not JSON"):
        gemini.env(RunSpec(preset="gemini"), ctx)


@pytest.mark.parametrize(("line", "reading"), [
    ('{"type":"init","session_id":"s-1","model":"auto"}', Reading(text="session s-1 started", session="s-1")),
    ('{"type":"message","role":"user","content":"the prompt"}', Reading()),
    ('{"type":"message","role":"assistant","content":"Done.","delta":true}', Reading(text="Done.")),
    ('{"type":"tool_use","tool_name":"mcp_team-table_next_task","parameters":{}}',
     Reading(text="→ mcp_team-table_next_task", tool="mcp_team-table_next_task")),
    ('{"type":"result","status":"success","stats":{}}', Reading(text="done")),
    ('{"type":"result","status":"error","error":{"message":"quota"}}', Reading(text='error: {"message": "quota"}')),
    ("Ripgrep is not available.", Reading(text="Ripgrep is not available.")),
])
def test_the_gemini_preset_reads_its_stream_json(line: str, reading: Reading):
    assert Gemini().read(line) == reading


def test_in_a_git_repository_each_agent_gets_its_own_worktree_kept_while_it_holds_work(tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                                                   "--allow-empty", "-m", "start"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    team = team_from("agents:\n  dev one:\n    role: coder\n    run: {command: [a]}\n")
    spec = team.agents["dev one"].run
    assert spec is not None
    folder = folders.working_folder(repo, team, "dev one", spec)
    assert folder == repo / ".team-table" / "worktrees" / "dev-one"
    branch = subprocess.run(["git", "branch", "--show-current"], cwd=folder, capture_output=True, text=True)
    assert branch.stdout.strip() == "team-table/dev-one"
    assert folders.working_folder(repo, team, "dev one", spec) == folder  # reused
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True)
    assert status.stdout == ""  # the main work tree does not see the worktrees
    (folder / "draft.txt").write_text("unfinished")
    assert not folders.remove_worktree_if_clean(folder) and (folder / "draft.txt").exists()
    (folder / "draft.txt").unlink()
    assert folders.remove_worktree_if_clean(folder) and not folder.exists()
    outside = tmp_path / "plain"
    outside.mkdir()
    assert folders.working_folder(outside, team, "dev one", spec) == outside / ".team-table" / "work" / "dev-one"
    with pytest.raises(Invalid):
        folders.working_folder(outside, team, "dev one", spec.model_copy(update={"worktree": True}))


def test_a_runs_output_is_rotated_and_only_the_newest_runs_are_kept(tmp_path: Path):
    output = processes.OutputFile(tmp_path / "run-7.log", 4096)
    for number in range(200):
        output.write("out", f"line {number:04d} " + "x" * 40)
    output.close()
    current, older = tmp_path / "run-7.log", tmp_path / "run-7.log.1"
    assert current.stat().st_size <= 4096 and older.stat().st_size <= 4096
    assert current.read_text().splitlines()[-1].startswith("line 0199")
    for number in range(1, 6):
        (tmp_path / f"run-{number}.log").write_text("x")
    processes.prune_outputs(tmp_path, 3)
    assert sorted(p.name for p in tmp_path.glob("run-*.log*")) == ["run-4.log", "run-5.log", "run-7.log",
                                                                    "run-7.log.1"]


def test_the_prompt_says_what_waits_in_the_built_in_text_or_the_configured_template():
    items = [work.Item("task", 7, "Parse", "task 7 (Parse) is reserved for you: claim_task it")]
    text = work.prompt(None, "builder", ("coder",), items, run=1, resumed=False, hub_url="http://h/mcp")
    assert "task 7 (Parse)" in text and "builder" in text
    own = work.prompt("{{ agent }}: {% for i in items %}{{ i.kind }} {{ i.id }}{% endfor %}", "builder",
                      ("coder",), items, run=1, resumed=False, hub_url="http://h/mcp")
    assert own == "builder: task 7"


async def test_the_work_a_run_starts_with_is_kept_on_its_record_and_its_messages_are_surfaced(table_with):
    async with table_with(TEAM) as table:
        hub = table.hub
        boss = hub.caller("boss", ("lead",))
        told = messages.send(hub, boss, "builder", "Please look at the parser")
        items = work.waiting(hub, {"builder": hub.team.agents["builder"]})["builder"]
        later = messages.send(hub, boss, "builder", "(sent after the prompt was written)")
        begun = runs.begin(hub, leases.Owner.here(), "builder", items, None)
        assert isinstance(begun, runs.Begun), begun
        row = hub.store.query("SELECT surfaced FROM agent_run WHERE id = ?", (begun.run_id,))[0]
        assert json.loads(row["surfaced"]) == {"via": "run", "items": [
            {"kind": "messages", "id": told.id, "title": "", "text": "1 unread message (get_messages)"}]}
        shown = {r["message_id"]: r["surfaced_via"] for r in hub.store.query(
            "SELECT message_id, surfaced_via FROM delivery WHERE agent = 'builder'")}
        assert shown == {told.id: "run", later.id: None}
