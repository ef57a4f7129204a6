"""What `team-table connect` writes for a client, and carrying it out or taking it back.

A plan is a list of config files to edit (entries added to another program's JSON or TOML, see files.py) and a
folder of files team-table owns outright (the Claude Code plugin), created whole and removed whole. Carried out,
each edit and each owned file is recorded in the ledger, so `--remove` takes out exactly that and nothing else.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from team_table.clients import files
from team_table.clients.files import Entry, FileChange
from team_table.names import token_variable

SERVER = "team-table"  # the MCP server's name in every client's config


@dataclass(frozen=True)
class Where:
    """Who is connected, to which hub, where the client keeps its config."""

    agent: str
    url: str | None  # the network hub's base URL; None: each client starts a stdio hub itself
    hub: list[str]  # the command that starts a stdio hub (absolute paths)
    exe: list[str]  # this installation's team-table command, for the hooks
    db: str  # the table, for stdio hooks that read it directly
    home: Path
    project: Path | None = None

    @property
    def variable(self) -> str:
        return token_variable(self.agent)

    def command(self, *args: str) -> str:
        """A shell command line running this installation's team-table."""
        return shlex.join([*self.exe, *args])

    def where(self) -> list[str]:
        """How a hook reaches the table: the network hub, or the stdio table's file."""
        return ["--url", self.url] if self.url else ["--db", self.db]


@dataclass
class Owned:
    """A file team-table owns outright (made by connect, removed by --remove)."""

    path: Path
    body: bytes
    mode: int = 0o644


@dataclass
class Plan:
    client: str
    edits: list[tuple[Path, list[Entry], str]] = field(default_factory=list)  # file, entries, json or toml
    owned: list[Owned] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def this_team_table() -> list[str]:
    """This very installation's `team-table` (beside its Python), so a hook works from any folder."""
    script = Path(sys.executable).parent / "team-table"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "team_table"]


def scope_of(project: Path | None) -> str:
    """Where a connect was made: a project's folder, or the user's own settings."""
    return str(project.resolve()) if project is not None else "user"


def key(client: str, scope: str, path: Path) -> str:
    return f"{client}|{scope}|{path}"


def carry_out(plan: Plan, home: Path, scope: str, *, dry_run: bool = False) -> list[FileChange]:
    """Add the plan's entries and write its owned files; returns what changed (nothing is written on a dry run).
    Every file is parsed before any is written: one that cannot be read stops the whole plan."""
    changes = [files.plan_add(path, entries, kind) for path, entries, kind in plan.edits]
    owned = [_owned_change(item) for item in plan.owned]
    if dry_run:
        return [c for c in changes + owned if c.changed]
    ledger = files.read_ledger(home)
    for change in changes:
        files.write(change)
        files.record(ledger, key(plan.client, scope, change.file), change)
    for item, change in zip(plan.owned, owned, strict=True):
        files.write(change)
        os.chmod(item.path, item.mode)
        ledger[key(plan.client, scope, item.path)] = {"owned": True, "after": _digest(item.body)}
    files.save_ledger(ledger, home)
    return [c for c in changes + owned if c.changed]


def take_back(client: str, home: Path, scope: str, *, dry_run: bool = False) -> list[FileChange]:
    """Take out what connect added for `client` in `scope`, and nothing else."""
    ledger = files.read_ledger(home)
    prefix = f"{client}|{scope}|"
    mine = {k: v for k, v in ledger.items() if k.startswith(prefix)}
    changes = []
    for name, kept in mine.items():
        path = Path(name[len(prefix):])
        if kept.get("owned"):
            change = FileChange(path, [], before=files.read_bytes(path), after=None)
            if change.before is not None and _digest(change.before) != kept.get("after"):
                change.after = change.before
                change.notes.append("changed since connect wrote it; left as it is")
        else:
            change = files.plan_remove(path, files.entries_of(kept), kept.get("kind", "json"), kept,
                                       files.made_of(kept))
        changes.append(change)
    if dry_run:
        return [c for c in changes if c.changed or c.notes]
    for change in changes:
        files.write(change)
        _drop_empty_parents(change.file, home)
    for name in mine:
        del ledger[name]
    files.save_ledger(ledger, home)
    return [c for c in changes if c.changed or c.notes]


def _owned_change(item: Owned) -> FileChange:
    return FileChange(item.path, [], before=files.read_bytes(item.path), after=item.body)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _drop_empty_parents(path: Path, home: Path) -> None:
    """Folders connect made for its own files go when they are empty (never the home or a project's top)."""
    parent = path.parent
    while parent != home and ".team-table" in parent.parts:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent
