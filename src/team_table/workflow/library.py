"""The workflows in force: the files of a folder, loaded and validated whole, replaced only by a valid set."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from team_table.config import read_config_file
from team_table.errors import ConfigError, ConfigProblem
from team_table.hub import Hub
from team_table.reload import report_once
from team_table.workflow.spec import Workflow, parse

log = logging.getLogger("team_table.workflows")


def load_folder(folder: Path) -> tuple[dict[str, Workflow], str]:
    """Every *.yaml of the folder, validated whole; raises ConfigError naming file, line, key path and reason."""
    found: dict[str, Workflow] = {}
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        text = read_config_file(path)
        digest.update(path.name.encode() + b"\0" + text.encode())
        workflow = parse(text, str(path))
        if workflow.name in found:
            raise ConfigError(str(path), [ConfigProblem("name", f"the workflow name {workflow.name!r} is used twice")])
        found[workflow.name] = workflow
    return found, digest.hexdigest()


class Library:
    """The workflows of one folder. Re-read on a change (the runtime's watcher calls reload); an invalid edit
    changes nothing and is reported once."""

    def __init__(self, hub: Hub, folder: Path, workflows: dict[str, Workflow] | None = None) -> None:
        self.hub = hub
        self.folder = folder
        self.workflows: dict[str, Workflow] = workflows or {}
        self.digest = ""
        self.ready = workflows is not None  # no valid set yet: events wait (an empty set must not consume them)
        self.error: ConfigError | None = None  # the problem of the files on disk, until they are fixed

    @classmethod
    def of(cls, workflows: dict[str, Workflow]) -> Library:
        """A fixed set, read from no folder (a dry run)."""
        return cls(None, Path(), workflows)  # type: ignore[arg-type]

    def reload(self) -> bool:
        """Load the folder if it changed; returns whether the set in force changed."""
        try:
            found, digest = load_folder(self.folder)
        except ConfigError as exc:
            self.error = exc
            self._reject(exc)
            return False
        self.error = None
        self.ready = True
        if digest == self.digest:
            return False
        self.workflows, self.digest = found, digest
        log.info("workflows loaded from %s: %s", self.folder, ", ".join(sorted(found)) or "none")
        return True

    def _reject(self, error: ConfigError) -> None:
        problems = [p.describe(error.file) for p in error.problems]
        with self.hub.store.write() as conn:
            if report_once(conn, self.hub, "workflows:" + "|".join(problems), "workflows", error.file, problems):
                log.error("a workflow file is invalid; keeping the workflows in force:\n  %s", "\n  ".join(problems))
