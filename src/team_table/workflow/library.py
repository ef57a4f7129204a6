"""The workflows in force: the files of a folder, loaded and validated whole, replaced only by a valid set."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from team_table.errors import ConfigError, ConfigProblem
from team_table.hub import Hub
from team_table.reload import report_once
from team_table.workflow.spec import Workflow, parse
from team_table.yaml_files import read_config_file

log = logging.getLogger("team_table.workflows")


def read_folder(folder: Path) -> tuple[list[tuple[Path, str]], str]:
    """The texts of every *.yaml of the folder, and one digest of them all."""
    texts = [(path, read_config_file(path)) for path in (sorted(folder.glob("*.yaml")) if folder.is_dir() else [])]
    digest = hashlib.sha256()
    for path, text in texts:
        digest.update(path.name.encode() + b"\0" + text.encode() + b"\0")
    return texts, digest.hexdigest()


def load_folder(folder: Path) -> tuple[dict[str, Workflow], str]:
    """Every *.yaml of the folder, validated whole; raises ConfigError naming file, line, key path and reason."""
    texts, digest = read_folder(folder)
    return parse_all(texts), digest


def parse_all(texts: list[tuple[Path, str]]) -> dict[str, Workflow]:
    found: dict[str, Workflow] = {}
    for path, text in texts:
        workflow = parse(text, str(path))
        if workflow.name in found:
            raise ConfigError(str(path), [ConfigProblem("name", f"the workflow name {workflow.name!r} is used twice")])
        found[workflow.name] = workflow
    return found


class Library:
    """The workflows of one folder. Re-read on a change (the runtime's watcher calls reload); an invalid edit
    changes nothing and is reported once."""

    def __init__(self, hub: Hub, folder: Path, workflows: dict[str, Workflow] | None = None) -> None:
        self.hub = hub
        self.folder = folder
        self.workflows: dict[str, Workflow] = workflows or {}
        self.digest = ""
        self.rejected = ""  # the digest of the last invalid set, not parsed again until the files change
        self.ready = workflows is not None  # no valid set yet: events wait (an empty set must not consume them)
        self.error: ConfigError | None = None  # the problem of the files on disk, until they are fixed

    @classmethod
    def of(cls, workflows: dict[str, Workflow]) -> Library:
        """A fixed set, read from no folder (a dry run)."""
        return cls(None, Path(), workflows)  # type: ignore[arg-type]

    def reload(self) -> bool:
        """Load the folder if its files changed (compared by digest, before anything is parsed); returns whether
        the set in force changed."""
        digest = ""
        try:
            texts, digest = read_folder(self.folder)
            if digest in (self.digest, self.rejected):
                return False
            found = parse_all(texts)
        except ConfigError as exc:
            self.error, self.rejected = exc, digest
            self._reject(exc)
            return False
        self.error = None
        self.ready = True
        self.workflows, self.digest = found, digest
        log.info("workflows loaded from %s: %s", self.folder, ", ".join(sorted(found)) or "none")
        return True

    def _reject(self, error: ConfigError) -> None:
        problems = [p.describe(error.file) for p in error.problems]
        with self.hub.store.write() as conn:
            if report_once(conn, self.hub, "workflows:" + "|".join(problems), "workflows", error.file, problems):
                log.error("a workflow file is invalid; keeping the workflows in force:\n  %s", "\n  ".join(problems))
