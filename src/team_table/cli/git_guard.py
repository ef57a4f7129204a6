"""`team-table guard`: git hooks that refuse a commit (or a push) touching paths another agent holds.

Who commits is TEAM_TABLE_AGENT; the hub is asked over HTTP at TEAM_TABLE_URL with TEAM_TABLE_TOKEN (or
TEAM_TABLE_TOKEN_<AGENT>), or the table's database is read directly (--db, or TEAM_TABLE_DB). A hub that cannot be
asked (down, unreachable, no identity to ask with) lets the commit through with a warning, unless the guard was
installed with --when-unreachable refuse. `git commit --no-verify` skips the hook: git's own escape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click

WHEN_UNREACHABLE = click.option(
    "--when-unreachable", type=click.Choice(["allow", "refuse"]), default=None,
    help="When the hub cannot be asked: let the commit through with a warning (allow, the default) or refuse it "
         "[env TEAM_TABLE_GUARD_UNREACHABLE].")
TIMEOUT = 5.0
BATCH = 2000  # files per question to the hub
ZERO = "0" * 40


class CannotAsk(Exception):
    """The hub could not be asked (unreachable, no identity, no database): the check is skipped or refuses."""


@click.group("guard")
def guard() -> None:
    """Git hooks that refuse commits touching paths another agent holds (path reservations).

    \b
    Examples:
      team-table guard install                      pre-commit hook in this repository
      team-table guard install --repo ../app --pre-push --db ~/.team-table/team_table.db
      team-table guard uninstall                    remove it; a hook that was there before comes back
    """


@guard.command("install")
@click.option("--repo", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."),
              show_default=True, help="The repository (any folder of its working tree).")
@click.option("--pre-push", is_flag=True, help="Also check the commits being pushed (a pre-push hook).")
@click.option("--db", metavar="PATH|URL", default=None,
              help="Read the table's database directly instead of asking a hub at TEAM_TABLE_URL.")
@click.option("--config", metavar="FILE", default=None,
              help="With --db: the team.yaml whose reservations.required and exempt apply.")
@WHEN_UNREACHABLE
def install(repo: Path, pre_push: bool, db: str | None, config: str | None, when_unreachable: str | None) -> None:
    """Install the guard's hooks in a repository, beside any hook already there (which keeps running first)."""
    from team_table.cli.git_hooks import install as write

    options = [*(["--db", str(Path(db).expanduser()) if "://" not in db else db] if db else []),
               *(["--config", str(Path(config).expanduser().resolve())] if config else []),
               *(["--when-unreachable", when_unreachable] if when_unreachable else [])]
    for line in write(repo.resolve(), ["pre-commit", *(["pre-push"] if pre_push else [])], options):
        click.echo(line)
    if not db:
        click.echo("Commits are checked with the hub at TEAM_TABLE_URL, as TEAM_TABLE_AGENT (token: TEAM_TABLE_TOKEN)"
                   ", set where the agent commits.")


@guard.command("uninstall")
@click.option("--repo", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."),
              show_default=True)
def uninstall(repo: Path) -> None:
    """Remove the guard's hooks; the hooks that were there before come back as they were."""
    from team_table.cli.git_hooks import uninstall as remove

    for line in remove(repo.resolve()) or ["no guard hook was installed"]:
        click.echo(line)


@guard.command("check")
@click.option("--hook", type=click.Choice(["pre-commit", "pre-push"]), default="pre-commit", show_default=True)
@click.option("--agent", default=None, help="Who commits [env TEAM_TABLE_AGENT].")
@click.option("--url", default=None, help="The hub to ask [env TEAM_TABLE_URL].")
@click.option("--db", default=None, help="The table's database, read directly [env TEAM_TABLE_DB].")
@click.option("--config", default=None, help="With --db: team.yaml for reservations.required/exempt.")
@WHEN_UNREACHABLE
@click.option("--timeout", default=TIMEOUT, show_default=True, type=click.FloatRange(0.1, 60))
@click.argument("hook_args", nargs=-1)
def check(hook: str, agent: str | None, url: str | None, db: str | None, config: str | None,
          when_unreachable: str | None, timeout: float, hook_args: tuple[str, ...]) -> None:
    """What a hook runs: exit 0 lets the commit (or push) through, 1 refuses it, saying why on stderr."""
    env = os.environ
    agent = agent or env.get("TEAM_TABLE_AGENT") or None
    url = url or (None if db else env.get("TEAM_TABLE_URL"))
    db = db or (None if url else env.get("TEAM_TABLE_DB"))
    refuse = (when_unreachable or env.get("TEAM_TABLE_GUARD_UNREACHABLE", "allow")) == "refuse"
    try:
        files = staged() if hook == "pre-commit" else pushed(sys.stdin.read())
        if not files:
            sys.exit(0)
        answer = ask_hub(url, agent, files, timeout) if url else read_table(db, config, agent, files)
    except CannotAsk as why:
        if refuse:
            click.echo(f"team-table guard: {why}; refusing the {_what(hook)} (installed with --when-unreachable "
                       f"refuse). To {_what(hook)} anyway: --no-verify.", err=True)
            sys.exit(1)
        click.echo(f"team-table guard: warning: {why}; the {_what(hook)} goes ahead unchecked.", err=True)
        sys.exit(0)
    if answer.get("ok"):
        sys.exit(0)
    if "refused" in answer:
        click.echo(f"team-table guard: {answer['refused']}. To {_what(hook)} anyway: --no-verify.", err=True)
        sys.exit(1)
    from team_table.commit_check import in_words

    click.echo(in_words(answer), err=True)
    sys.exit(1)


def _what(hook: str) -> str:
    return "push" if hook == "pre-push" else "commit"


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CannotAsk(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def staged() -> list[str]:
    """The files the commit being made touches (renames as their two paths), relative to the repository root."""
    return [p for p in _git("diff", "--cached", "--name-only", "-z", "--no-renames").split("\0") if p]


def pushed(refs: str) -> list[str]:
    """The files the commits being pushed touch (pre-push's input: local ref, local sha, remote ref, remote sha)."""
    found: set[str] = set()
    for line in refs.splitlines():
        parts = line.split()
        if len(parts) != 4 or parts[1] == ZERO:
            continue  # a deletion pushes no file
        local, remote = parts[1], parts[3]
        if remote != ZERO and _known(remote):
            listed = _git("diff", "--name-only", "-z", "--no-renames", remote, local)
        else:
            listed = _git("log", "--name-only", "--no-renames", "--format=", "-z", local, "--not", "--remotes")
        found.update(p.strip("\n") for p in listed.split("\0") if p.strip("\n"))
    return sorted(found)


def _known(sha: str) -> bool:
    return subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], capture_output=True).returncode == 0


def ask_hub(url: str, agent: str | None, files: list[str], timeout: float) -> dict:
    """The hub's verdict over HTTP (POST /agents/NAME/reservations/check, bearer token)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    from team_table.names import token_variable

    if not agent:
        raise CannotAsk("TEAM_TABLE_AGENT is not set, so the hub cannot be asked who holds what for you")
    token = os.environ.get("TEAM_TABLE_TOKEN") or os.environ.get(token_variable(agent), "")
    answer: dict = {"ok": True, "blocked": [], "missing": []}
    try:
        for start in range(0, len(files), BATCH):  # a big commit is asked about in parts (the hub's body limit)
            request = urllib.request.Request(
                f"{url.rstrip('/')}/agents/{urllib.parse.quote(agent)}/reservations/check",
                data=json.dumps({"paths": files[start:start + BATCH]}).encode(), method="POST",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                part = json.loads(response.read())
            answer = {"ok": answer["ok"] and part["ok"], "blocked": answer["blocked"] + part["blocked"],
                      "missing": answer["missing"] + part["missing"]}
        return answer
    except urllib.error.HTTPError as refused:
        if refused.code >= 500:
            raise CannotAsk(f"the hub at {url} answered {refused.code}") from None
        try:
            said = json.loads(refused.read()).get("error", "")
        except ValueError:
            said = ""
        return {"ok": False, "refused": f"the hub at {url} refused to check for {agent}: {said or refused.code} "
                                        "(check TEAM_TABLE_AGENT and TEAM_TABLE_TOKEN)"}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CannotAsk(f"the hub at {url} cannot be reached ({exc})") from None


def read_table(db: str | None, config: str | None, agent: str | None, files: list[str]) -> dict:
    """The verdict from the table's database itself, opened read-only."""
    from team_table import commit_check
    from team_table.config import EMPTY_TEAM, load_team
    from team_table.errors import TeamTableError
    from team_table.store import is_url, open_store

    if not db:
        raise CannotAsk("no hub to ask: set TEAM_TABLE_URL (with TEAM_TABLE_AGENT and TEAM_TABLE_TOKEN), or "
                        "install the guard with --db")
    config = config or os.environ.get("TEAM_TABLE_CONFIG")
    try:
        team = load_team(Path(config).expanduser()) if config else EMPTY_TEAM
        store = open_store(db if is_url(db) else Path(db).expanduser(), read_only=True, pool_size=1)
    except TeamTableError as exc:
        raise CannotAsk(f"the table cannot be read ({exc.message.splitlines()[0]})") from None
    try:
        from team_table.clock import SystemClock

        return commit_check.verdict(store.query, team.reservations, agent, files, SystemClock().now().timestamp())
    except TeamTableError as exc:
        raise CannotAsk(f"the table cannot be read ({exc.message})") from None
    finally:
        store.close()
