"""The git guard in a real repository, with real `git commit` and `git push` running its hooks: a free path commits,
a held path is refused naming the holder, after the release it commits; a hook already there keeps running and is
put back exactly; a hub that cannot be reached lets the commit through with a warning, or refuses it when so
installed; `--no-verify` stays git's escape; team.yaml's required and exempt paths; the hub asked over HTTP or the
table's database read directly."""

from __future__ import annotations

import os
import subprocess
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from click.testing import CliRunner

import stores
from team_table.cli import main

from network_helpers import running_hub, seat
from stdio_helpers import hub_env
from support import free_port

pytestmark = pytest.mark.anyio


def git(repo: Path, *args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, input=stdin,
                          timeout=60)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True)
    for key, value in (("user.name", "Agent"), ("user.email", "agent@example.com"), ("commit.gpgsign", "false")):
        git(folder, "config", key, value)
    (folder / "README.md").write_text("hello\n")
    git(folder, "add", "README.md")
    assert git(folder, "commit", "-q", "-m", "start", "--no-verify").returncode == 0
    return folder


def as_agent(tmp_path: Path, agent: str | None, **more: str) -> dict:
    """The environment an agent commits in (no TEAM_TABLE_* of this machine)."""
    env = hub_env(tmp_path / "home-git", **more)
    (tmp_path / "home-git").mkdir(exist_ok=True)
    if agent:
        env["TEAM_TABLE_AGENT"] = agent
    return env


def commit(repo: Path, path: str, env: dict, *extra: str) -> subprocess.CompletedProcess:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(target.read_text() + "more\n" if target.exists() else "new\n")
    git(repo, "add", path)
    done = git(repo, "commit", "-m", f"change {path}", *extra, env=env)
    if done.returncode != 0:
        git(repo, "reset", "-q", "--hard")  # the next commit starts clean
    return done


def install(repo: Path, *options: str) -> str:
    result = CliRunner().invoke(main, ["guard", "install", "--repo", str(repo), *options])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.one_engine  # the guard asks over HTTP; reading the database itself on both engines is the test below
@pytest.mark.processes
async def test_through_a_network_hub_a_held_path_is_refused_naming_the_holder_until_it_is_released(tmp_path, repo):
    """The issue's "done when", end to end: two agents claim tasks declaring overlapping paths; the second is told
    who holds what; its commit to a held file is refused naming the holder; when the first finishes, the second is
    told, claims, and commits."""
    async with running_hub(tmp_path / "hub", "") as hub, AsyncExitStack() as stack:
        alice = await seat(stack, hub, "http-handshake", "alice")
        bob = await seat(stack, hub, "http-handshake", "bob")
        api = await alice.ok("create_task", title="api", paths=["src/api/**"])
        router = await alice.ok("create_task", title="router", paths=["src/api/routes.py"])
        await alice.ok("claim_task", task_id=api["id"])
        refused_claim = await bob.refused("claim_task", "conflict", task_id=router["id"])
        assert [(h["agent"], h["pattern"]) for h in refused_claim["holders"]] == [("alice", "src/api/**")]
        await bob.ok("watch_paths", paths=["src/api/routes.py"])
        install(repo)
        env = as_agent(tmp_path, "bob", TEAM_TABLE_URL=hub.url, TEAM_TABLE_TOKEN=bob.token)

        assert commit(repo, "docs/guide.md", env).returncode == 0  # a free path commits
        refused = commit(repo, "src/api/routes.py", env)
        assert refused.returncode != 0
        assert "alice" in refused.stderr and "src/api/**" in refused.stderr and f"task {api['id']}" in \
            refused.stderr and "--no-verify" in refused.stderr, refused.stderr
        mine = as_agent(tmp_path, "alice", TEAM_TABLE_URL=hub.url, TEAM_TABLE_TOKEN=alice.token)
        assert commit(repo, "src/api/models.py", mine).returncode == 0  # the holder herself commits

        await alice.ok("update_task", task_id=api["id"], status="done")
        told = await bob.ok("wait_for_messages", timeout_seconds=10)
        assert any("src/api/routes.py" in m["content"] and "free" in m["content"] for m in told["messages"]), told
        await bob.ok("claim_task", task_id=router["id"])
        done = commit(repo, "src/api/routes.py", env)
        assert done.returncode == 0, done.stderr

        await alice.ok("reserve_paths", paths=["lib/**"])
        forced = commit(repo, "lib/x.py", env, "--no-verify")  # git's own escape
        assert forced.returncode == 0, forced.stderr
        wrong = as_agent(tmp_path, "bob", TEAM_TABLE_URL=hub.url, TEAM_TABLE_TOKEN="not-bobs-token")
        denied = commit(repo, "docs/other.md", wrong)
        assert denied.returncode != 0 and "refused to check" in denied.stderr, denied.stderr


async def test_a_hub_that_cannot_be_reached_lets_the_commit_through_with_a_warning_or_refuses_it(tmp_path, repo):
    nowhere = f"http://127.0.0.1:{free_port()}"
    install(repo)
    env = as_agent(tmp_path, "bob", TEAM_TABLE_URL=nowhere, TEAM_TABLE_TOKEN="t")
    through = commit(repo, "src/a.py", env)
    assert through.returncode == 0 and "warning" in through.stderr and "cannot be reached" in through.stderr
    nobody = commit(repo, "src/b.py", as_agent(tmp_path, None, TEAM_TABLE_URL=nowhere))
    assert nobody.returncode == 0 and "TEAM_TABLE_AGENT" in nobody.stderr
    install(repo, "--when-unreachable", "refuse")
    refused = commit(repo, "src/c.py", env)
    assert refused.returncode != 0 and "refusing the commit" in refused.stderr
    assert commit(repo, "src/c.py", env, "--no-verify").returncode == 0
    by_env = commit(repo, "src/d.py", {**env, "TEAM_TABLE_GUARD_UNREACHABLE": "allow"})
    assert by_env.returncode != 0, "the option given at install wins over the environment"


async def test_a_hook_already_there_keeps_running_first_and_uninstall_puts_it_back_exactly(tmp_path, repo):
    hooks = repo / ".git" / "hooks"
    theirs = hooks / "pre-commit"
    theirs.write_text("#!/bin/sh\necho ran >> \"$(git rev-parse --show-toplevel)/../their-hook.log\"\n"
                      "test ! -e \"$(git rev-parse --show-toplevel)/BLOCK\"\n")
    theirs.chmod(0o751)
    os.utime(theirs, (1_700_000_000, 1_700_000_000))
    before = (theirs.read_bytes(), theirs.stat().st_mode, theirs.stat().st_mtime)
    output = install(repo, "--pre-push")
    assert "kept as pre-commit.before-team-table" in output
    assert install(repo) and (hooks / "pre-commit.before-team-table").read_bytes() == before[0]  # twice: no harm
    env = as_agent(tmp_path, "bob", TEAM_TABLE_URL=f"http://127.0.0.1:{free_port()}")
    assert commit(repo, "a.txt", env).returncode == 0
    assert (tmp_path / "their-hook.log").read_text() == "ran\n"
    (repo / "BLOCK").write_text("x")
    stopped = commit(repo, "b.txt", env)
    assert stopped.returncode != 0 and "team-table guard" not in stopped.stderr  # their hook said no, first
    (repo / "BLOCK").unlink()
    result = CliRunner().invoke(main, ["guard", "uninstall", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert (theirs.read_bytes(), theirs.stat().st_mode, theirs.stat().st_mtime) == before
    assert not (hooks / "pre-push").exists() and not (hooks / "pre-commit.before-team-table").exists()


async def test_with_the_tables_database_the_guard_applies_team_yamls_required_and_exempt_paths(tmp_path, repo,
                                                                                             table_with):
    yaml = "reservations:\n  required: [\"core/**\"]\n  exempt: [\"core/generated/**\", \"*.lock\"]\n"
    config = tmp_path / "team.yaml"
    config.write_text(yaml)
    async with table_with(yaml) as table:
        alice, bob = await table.join("alice"), await table.join("bob")
        await alice.ok("reserve_paths", paths=["app/**", "uv.lock"])
        install(repo, "--db", stores.table_db(tmp_path), "--config", str(config))
        env = as_agent(tmp_path, "bob")
        held = commit(repo, "app/main.py", env)
        assert held.returncode != 0 and "alice holds app/**" in held.stderr, held.stderr
        assert commit(repo, "uv.lock", env).returncode == 0  # exempt, even though alice holds it
        needed = commit(repo, "core/engine.py", env)
        assert needed.returncode != 0 and "needs your exclusive reservation" in needed.stderr, needed.stderr
        assert commit(repo, "core/generated/table.py", env).returncode == 0
        await bob.ok("reserve_paths", paths=["core/engine.py"])
        assert commit(repo, "core/engine.py", env).returncode == 0
        person = commit(repo, "app/other.py", as_agent(tmp_path, None))
        assert person.returncode != 0 and "alice" in person.stderr  # someone who holds nothing


@pytest.mark.one_engine  # which commits a push carries is git's; the guard reading either engine is the test above
async def test_pre_push_refuses_pushing_commits_that_touch_a_held_path(tmp_path, repo, table_with):
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    assert git(repo, "push", "-q", "origin", "main").returncode == 0
    async with table_with() as table:
        alice = await table.join("alice")
        install(repo, "--pre-push", "--db", stores.table_db(tmp_path))
        env = as_agent(tmp_path, "bob")
        assert commit(repo, "web/app.js", env).returncode == 0
        assert git(repo, "push", "-q", "origin", "main", env=env).returncode == 0
        await alice.ok("reserve_paths", paths=["web/**"])
        assert commit(repo, "web/app.js", env, "--no-verify").returncode == 0  # committed past the guard ...
        pushed = git(repo, "push", "-q", "origin", "main", env=env)
        assert pushed.returncode != 0 and "alice holds web/**" in pushed.stderr, pushed.stderr  # ... not pushed
        await alice.ok("release_paths")
        assert git(repo, "push", "-q", "origin", "main", env=env).returncode == 0
        git(repo, "checkout", "-q", "-b", "feature")
        await alice.ok("reserve_paths", paths=["api/**"])
        assert commit(repo, "api/x.py", env, "--no-verify").returncode == 0
        new_branch = git(repo, "push", "-q", "origin", "feature", env=env)
        assert new_branch.returncode != 0 and "api/**" in new_branch.stderr, new_branch.stderr
