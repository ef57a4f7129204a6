"""The guard's git hooks in a repository: written beside whatever hook was there before, never over it.

An existing hook is moved aside, byte for byte (a rename keeps its content, mode and time), to
`<hook>.before-team-table`; the guard's hook runs it first, with the same arguments and input, and stops where it
stops. Uninstalling removes the guard's hook and moves the old one back: the hooks folder is then as it was. The
hooks folder is the one git uses (`git rev-parse --git-path hooks`: core.hooksPath and worktrees included).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from team_table.errors import Invalid

MARK = "# team-table guard"
HOOKS = ("pre-commit", "pre-push")
KEPT = ".before-team-table"  # the suffix of the hook that was there before

SCRIPT = """#!/bin/sh
{mark} ({hook}): installed by `team-table guard install`; `team-table guard uninstall` removes it and puts back
# the hook that was here before (kept beside it as {hook}{kept}, and run first).
chained="$(dirname "$0")/{hook}{kept}"
if [ -x "$chained" ]; then
    "$chained" "$@" || exit $?
fi
exec {command} --hook {hook} -- "$@"
"""

# pre-push reads the refs being pushed on its input: both the hook before and the guard get them.
PUSH_SCRIPT = """#!/bin/sh
{mark} ({hook}): installed by `team-table guard install`; `team-table guard uninstall` removes it and puts back
# the hook that was here before (kept beside it as {hook}{kept}, and run first).
chained="$(dirname "$0")/{hook}{kept}"
refs="$(cat)"
if [ -x "$chained" ]; then
    if [ -n "$refs" ]; then printf '%s\\n' "$refs"; fi | "$chained" "$@" || exit $?
fi
if [ -n "$refs" ]; then printf '%s\\n' "$refs"; fi | {command} --hook {hook} -- "$@"
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise Invalid(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip() or done.returncode}")
    return done.stdout.strip()


def hooks_folder(repo: Path) -> Path:
    """The folder git runs this repository's hooks from (created if missing)."""
    git(repo, "rev-parse", "--show-toplevel")  # a working tree, or a clear refusal
    folder = Path(git(repo, "rev-parse", "--git-path", "hooks"))
    folder = folder if folder.is_absolute() else repo / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_command(options: list[str]) -> str:
    """How a hook runs the check: this Python, this team-table, the options given at install."""
    return " ".join(shlex.quote(part) for part in [sys.executable, "-m", "team_table", "guard", "check", *options])


def is_ours(path: Path) -> bool:
    try:
        with path.open(errors="replace") as file:
            return any(line.startswith(MARK) for line in (file.readline(), file.readline()))
    except OSError:
        return False


def install(repo: Path, hooks: list[str], options: list[str]) -> list[str]:
    """Write the guard's hooks; returns what was done, one line each."""
    folder = hooks_folder(repo)
    done = []
    for hook in hooks:
        target, kept = folder / hook, folder / f"{hook}{KEPT}"
        if os.path.lexists(target) and not is_ours(target):
            if os.path.lexists(kept):
                raise Invalid(f"{target} is not the guard's, and {kept} exists already: move one of them away, then "
                              "install again. Nothing was changed.")
            os.rename(target, kept)
            done.append(f"{hook}: the hook that was there is kept as {kept.name} and runs first")
        script = (PUSH_SCRIPT if hook == "pre-push" else SCRIPT).format(
            mark=MARK, hook=hook, kept=KEPT, command=check_command(options))
        temporary = folder / f".{hook}.team-table.tmp"
        temporary.write_text(script)
        temporary.chmod(0o755)
        os.replace(temporary, target)
        done.append(f"{hook}: installed in {folder}")
    return done


def uninstall(repo: Path) -> list[str]:
    """Remove the guard's hooks and put back those that were there before."""
    folder = hooks_folder(repo)
    done = []
    for hook in HOOKS:
        target, kept = folder / hook, folder / f"{hook}{KEPT}"
        if not is_ours(target):
            if os.path.lexists(kept):
                done.append(f"{hook}: {target.name} is not the guard's; {kept.name} left where it is")
            continue
        target.unlink()
        if os.path.lexists(kept):
            os.rename(kept, target)
            done.append(f"{hook}: removed; the hook that was there before is back")
        else:
            done.append(f"{hook}: removed")
    return done
