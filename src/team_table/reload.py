"""Live config: team.yaml is watched, validated whole, and swapped in atomically, or the last good one is kept.

Every hub process on a database watches the file and swaps on its own; the database records which
config was applied, so the audit entry and the push event of a change are written once, by whichever
process applies it first.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import anyio
from pydantic import ValidationError

from team_table import audit, events, members
from team_table.config import Team, parse_team
from team_table.errors import ConfigError
from team_table.event_kinds import ConfigRefused, ConfigReloaded, K
from team_table.hub import Hub
from team_table.names import OPERATOR
from team_table.store import Tx
from team_table.yaml_files import read_config_file

log = logging.getLogger("team_table.config")


@dataclass(frozen=True)
class Change:
    """What a new config changes against the one in force."""

    agents_added: list[str] = field(default_factory=list)
    agents_removed: list[str] = field(default_factory=list)
    agents_disabled: list[str] = field(default_factory=list)
    agents_changed: list[str] = field(default_factory=list)
    roles_changed: list[str] = field(default_factory=list)
    limits_changed: bool = False
    escalation_changed: bool = False
    presence_changed: bool = False
    runner_changed: bool = False  # the limits on the runs of agents the hub runs
    hub_changed: bool = False  # transport, port and the like take effect on the next start

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}

    @property
    def empty(self) -> bool:
        return not self.summary()

    @property
    def locked_out(self) -> list[str]:
        return sorted(set(self.agents_removed) | set(self.agents_disabled))


def diff(old: Team, new: Team) -> Change:
    before, after = old.agents, new.agents
    return Change(
        agents_added=sorted(set(after) - set(before)),
        agents_removed=sorted(set(before) - set(after)),
        agents_disabled=sorted(n for n in set(before) & set(after) if before[n].enabled and not after[n].enabled),
        agents_changed=sorted(n for n in set(before) & set(after)
                              if before[n] != after[n] and (before[n].enabled == after[n].enabled)),
        roles_changed=sorted(r for r in set(old.all_roles()) | set(new.all_roles())
                             if old.all_roles().get(r) != new.all_roles().get(r)),
        limits_changed=old.limits != new.limits,
        escalation_changed=old.escalation != new.escalation,
        presence_changed=old.presence != new.presence,
        runner_changed=old.runner != new.runner,
        hub_changed=old.hub != new.hub,
    )


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def applied(hub: Hub) -> Team | None:
    """The config the hubs on this database last applied, if any (for `team-table check --diff`)."""
    rows = hub.store.query("SELECT team FROM config_applied ORDER BY id DESC LIMIT 1")
    if not rows:
        return None
    try:
        return Team.model_validate(json.loads(rows[0]["team"]))
    except ValidationError:  # written by a version that stored defaults the file never said (role beside roles)
        log.warning("the config last applied on this database cannot be read back; comparing with none")
        return None


class Reloader:
    """Reloads one team.yaml into one hub."""

    def __init__(self, hub: Hub, path: Path, *, on_change: Callable[[Change], None] | None = None,
                 observe: Callable[[str], None] | None = None) -> None:
        self.hub = hub
        self.path = path
        self.on_change = on_change or (lambda change: None)
        self.observe = observe or (lambda result: None)
        # What the team in force was read from (a save since then, even before this reloader was made, is a
        # change to apply), else the file as it is now.
        self.digest = hub.settings.config_digest or self._read_digest()
        self.error: ConfigError | None = None  # the problem of the file on disk, until it is fixed

    def _read_digest(self) -> str:
        try:
            return digest(self.path.read_text(encoding="utf-8"))
        except OSError:
            return ""

    def record_start(self) -> None:
        """Note the config this process started with. If it differs from what the hubs on this database last
        applied (edited while no hub ran, or just before this one started), it is a reload like any other:
        removed agents are retired and the change is audited, once."""
        last = applied(self.hub)
        change = diff(last, self.hub.team) if last is not None else None
        self._record_applied(self.hub.team, self.digest, audit_change=change)

    def reload(self) -> Change | None:
        """Apply the file if it changed and is valid; returns what changed, or None if nothing was applied."""
        try:
            text = read_config_file(self.path)
        except ConfigError as exc:
            new_digest = f"unreadable:{exc.message}"
            if new_digest != self.digest:
                self.digest = new_digest
                self._reject(new_digest, exc)
            return None
        new_digest = digest(text)
        if new_digest == self.digest:
            return None
        self.error = None
        try:
            new = parse_team(text, str(self.path))
        except ConfigError as exc:
            self.digest = new_digest
            self._reject(new_digest, exc)
            return None
        old, self.digest = self.hub.team, new_digest
        change = diff(old, new)
        self.hub.team = new  # one reference swap: calls in flight keep the config they pinned
        members.sync_declared(self.hub)
        self._record_applied(new, new_digest, audit_change=change)
        log.info("config %s reloaded: %s", self.path, change.summary() or "no effective change")
        self.observe("ok")
        self.on_change(change)
        return change

    def _record_applied(self, team: Team, new_digest: str, audit_change: Change | None) -> None:
        now = self.hub.now()
        with self.hub.store.write() as conn:
            conn.lock("config")  # replicas seeing the same edit announce it once
            last = conn.execute("SELECT digest FROM config_applied ORDER BY id DESC LIMIT 1").fetchone()
            if last is not None and last["digest"] == new_digest:
                return  # another hub process applied (and announced) it already
            conn.execute("INSERT INTO config_applied (digest, file, at, team) VALUES (?, ?, ?, ?)",
                         (new_digest, str(self.path), now, team.model_dump_json(exclude_unset=True)))
            if audit_change is None:
                return
            for name in audit_change.agents_removed:  # a removed agent's issued tokens stop working too
                members.retire(conn, self.hub, name, now, "it was removed from team.yaml")
            summary = audit_change.summary()
            audit.record(conn, now, OPERATOR, "config_reloaded", "config", str(self.path), summary)
            events.emit(conn, now, K.CONFIG_RELOADED, ConfigReloaded(file=str(self.path), **summary))

    def _reject(self, new_digest: str, error: ConfigError) -> None:
        self.error = error
        problems = [p.describe(error.file) for p in error.problems]
        log.error("config %s is invalid; keeping the config in force:\n  %s", self.path, "\n  ".join(problems))
        self.observe("invalid")
        with self.hub.store.write() as conn:
            last = conn.execute("SELECT id FROM config_applied ORDER BY id DESC LIMIT 1").fetchone()
            report_once(conn, self.hub, f"{new_digest}:{last['id'] if last else 0}", "config", str(self.path),
                        problems)



def report_once(conn: Tx, hub: Hub, key: str, target_type: str, target: str, problems: list[str]) -> bool:
    """Audit a rejected config file and push it to the admins, once across hub processes (keyed by the edit)."""
    now = hub.now()
    if not conn.execute("INSERT INTO config_rejected (key, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        (key, now)).rowcount:
        return False  # another hub process reported this edit already
    audit.record(conn, now, OPERATOR, "config_error", target_type, target, {"problems": problems})
    for admin in members.holding(conn, hub, hub.team.privileged_roles()):
        events.emit(conn, now, K.CONFIG_ERROR, ConfigRefused(file=target, problems=problems), to=admin)
    return True


COMPARE_EVERY = 30.0  # seconds between comparisons of the files, a safety net where no event is sent
SETTLE = 0.05  # seconds after the last event before looking: the steps of one save are looked at once


async def watch(files: dict[Path, Callable[[], object]], *, every: float = COMPARE_EVERY,
                stop: anyio.Event | None = None) -> None:
    """Run a file's callback (on a worker thread) after every save of it, or of a YAML file in it for a folder.

    Folders are watched, not files, since editors save by writing a new file and renaming it over the old one:
    inotify, read by the event loop itself (no thread, no timer), for finished saves only (a file closed after
    writing, moved in or out, deleted; not each write, so a database beside team.yaml wakes nothing). Every `every`
    seconds the files' names, sizes and times are compared too (every second where inotify cannot be had): a change
    on a file system that sends no events is picked up then. Callbacks are cheap when nothing changed (they compare
    digests first); each runs once at the start."""
    from team_table.store.file_changes import SAVES, FileWatch

    seen: dict[Path, object] = {}  # nothing seen yet: the first turn looks at everything
    watches: dict[Path, FileWatch | None] = {}
    loop = asyncio.get_running_loop()
    turn = [anyio.Event()]
    settling: list[asyncio.TimerHandle | None] = [None]

    def heard() -> None:
        if settling[0] is not None:
            settling[0].cancel()
        settling[0] = loop.call_later(SETTLE, turn[0].set)

    async def look() -> None:
        for target, callback in files.items():
            signature = _signature(target)
            if signature == seen.get(target):
                continue
            seen[target] = signature
            try:
                await anyio.to_thread.run_sync(callback)
            except Exception:
                log.exception("reloading %s failed; keeping what is in force", target)

    async def until(event: anyio.Event, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            async with anyio.create_task_group() as tasks:
                async def ended(what: anyio.Event) -> None:
                    await what.wait()
                    tasks.cancel_scope.cancel()

                tasks.start_soon(ended, event)
                if stop is not None:
                    tasks.start_soon(ended, stop)

    try:
        while stop is None or not stop.is_set():
            for folder in {_folder_of(target) for target in files} - watches.keys():
                if folder.is_dir():  # a folder that appears later is watched from the turn after
                    found = FileWatch(folder, set(), heard, mask=SAVES, wanted=partial(_ours, files, folder))
                    watches[folder] = found if found.start() else None
            turn[0] = anyio.Event()
            await look()
            blind = not watches or None in watches.values()
            await until(turn[0], min(every, 1.0) if blind else every)
    finally:
        if settling[0] is not None:
            settling[0].cancel()
        for found in watches.values():
            if found is not None:
                found.close()


def _ours(files: dict[Path, Callable[[], object]], folder: Path, name: str, mask: int) -> bool:
    """An event in `folder` about one of the files, or a YAML file of a watched folder (a new file only once
    written: its creation comes before its contents)."""
    from team_table.store.file_changes import IN_CREATE, IN_ISDIR

    if mask & IN_CREATE and not mask & IN_ISDIR:
        return False
    path = folder / name
    return any(path == target or (path.parent == target and path.suffix in (".yaml", ".yml")) for target in files)


def _folder_of(target: Path) -> Path:
    return target if target.is_dir() else target.parent


def _signature(target: Path) -> object:
    """What changes when the file, or a YAML file of the folder, is saved: names, sizes, modification times."""
    def stat(path: Path) -> tuple:
        try:
            info = path.stat()
        except OSError:
            return (path.name, None)
        return (path.name, info.st_size, info.st_mtime_ns, info.st_ino)

    if target.is_dir():
        return tuple(stat(p) for p in sorted(target.glob("*.y*ml")))
    return stat(target)
