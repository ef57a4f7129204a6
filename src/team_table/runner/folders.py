"""Where a run works and what it is given: its working folder (its own git worktree when the team's folder is in a
git repository), the folder of its output, and its environment.

Under team.yaml's folder, in `runner.folder` (default `.team-table/`):
- `worktrees/NAME`: an agent's git worktree, on branch `team-table/NAME`, created on its first run from the
  repository's HEAD and reused after; the hub never deletes one that holds uncommitted work;
- `work/NAME`: an agent's folder when the team's folder is not in a git repository (or `worktree: false`);
- `runs/NAME`: the output of its runs (`run-ID.log`) and the files a preset generates.
`run.folder` names another working folder instead (relative to team.yaml's folder).
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from team_table.config import Team
from team_table.errors import Invalid
from team_table.runner.config import RunSpec

log = logging.getLogger("team_table.runner")

# What a run gets of the hub's own environment, besides what `run.pass_env` names.
BASE_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL", "TERM")
GIT_SECONDS = 60


def slug(agent: str) -> str:
    """The agent's name as a folder and branch name (names allow spaces, which branches do not)."""
    return re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]", "-", agent))


def base(team_folder: Path, team: Team) -> Path:
    return (team_folder / team.runner.folder).resolve()


def runs_folder(team_folder: Path, team: Team, agent: str) -> Path:
    folder = base(team_folder, team) / "runs" / slug(agent)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def environment(hub_env: Mapping[str, str], spec: RunSpec, agent: str, url: str, token: str,
                client: Mapping[str, str] | None = None) -> dict[str, str]:
    """A run's whole environment: a few of the hub's (PATH, HOME, LANG...), those `pass_env` names, what its
    client's preset sets (`client`), `env`, and the three the hub sets. Nothing else of the hub's environment (its
    secrets) reaches a run."""
    env = {name: hub_env[name] for name in (*BASE_VARIABLES, *spec.pass_env) if name in hub_env}
    env.update(client or {})
    env.update(spec.env)
    env.update(TEAM_TABLE_AGENT=agent, TEAM_TABLE_URL=url, TEAM_TABLE_TOKEN=token)
    return env


def working_folder(team_folder: Path, team: Team, agent: str, spec: RunSpec) -> Path:
    """The agent's working folder, made ready (a worktree created on first use). Raises Invalid if it cannot be."""
    chosen = (team_folder / spec.folder).resolve() if spec.folder else None
    repo = repository_of(team_folder)
    wanted = spec.worktree if spec.worktree is not None else (repo is not None and chosen is None)
    if wanted:
        if repo is None:
            raise Invalid(f"{agent}'s run says worktree: true, but {team_folder} is not in a git repository")
        path = chosen or base(team_folder, team) / "worktrees" / slug(agent)
        ensure_worktree(repo, path, f"team-table/{slug(agent)}")
        return path
    path = chosen or base(team_folder, team) / "work" / slug(agent)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_SECONDS,
                          check=False)


def repository_of(folder: Path) -> Path | None:
    """The top of the git work tree `folder` is in, if any."""
    try:
        done = _git("rev-parse", "--show-toplevel", cwd=folder)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def ensure_worktree(repo: Path, path: Path, branch: str) -> None:
    """A worktree of `repo` at `path` on `branch`: reused if there, else created (the branch too, from HEAD)."""
    if (path / ".git").exists():
        return
    if path.exists() and any(path.iterdir()):
        raise Invalid(f"{path} is meant to be a git worktree but holds other files; move them away")
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if not ignore.exists():  # the worktrees stay out of the main work tree's status
        ignore.write_text("*\n")
    _git("worktree", "prune", cwd=repo)
    known = _git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=repo).returncode == 0
    done = _git("worktree", "add", str(path), branch, cwd=repo) if known else \
        _git("worktree", "add", "-b", branch, str(path), "HEAD", cwd=repo)
    if done.returncode != 0:
        raise Invalid(f"git could not make the worktree {path} (branch {branch}): {done.stderr.strip()[:300]}")
    log.info("made the git worktree %s (branch %s)", path, branch)


def remove_worktree_if_clean(path: Path) -> bool:
    """Remove an agent's worktree if it holds no uncommitted work (its branch keeps its commits). True if removed."""
    if not (path / ".git").exists():
        return False
    status = _git("status", "--porcelain", cwd=path)
    if status.returncode != 0 or status.stdout.strip():
        log.info("kept the worktree %s: it holds uncommitted work", path)
        return False
    return _git("worktree", "remove", str(path), cwd=path).returncode == 0
