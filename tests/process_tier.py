"""The fast tier: tests that start no process (no hub, CLI command, real client, browser or agent) run in seconds
with `pytest -m "not processes"`. A test that starts one is marked `processes`; an unmarked test that starts one
fails, saying so, in every run, so the fast tier stays what it says.

Starting a process is caught where every way of starting one in Python ends (`subprocess.Popen`, which
`subprocess.run`, asyncio's and anyio's subprocesses and Playwright's driver all use). The few tools below start in
milliseconds and are allowed, and so is the hub's own sandbox for templates (a worker process that an in-process
table starts as a running hub does, kept for the next render).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

MARKER = "processes"
DESCRIPTION = ("processes: starts a process (a hub, a CLI command, a real client, a browser, an agent); "
               "-m 'not processes' runs the fast tier without them")
QUICK_TOOLS = frozenset({"git"})  # what the fast tier may start: milliseconds each
HUB_HELPERS = ("team_table.template_worker",)  # python -m these: part of an in-process table
RECORD = "TEAM_TABLE_RECORD_PROCESSES"  # a file: note the unmarked tests that start processes there, do not fail


class StartsAProcess(RuntimeError):
    """Raised in a test that is not marked `processes` when it starts one."""


def program_of(args: Any) -> str:
    """The name of the program an argument list (or command string) runs."""
    first = args if isinstance(args, (str, bytes, os.PathLike)) else next(iter(args), "")
    if isinstance(first, bytes):
        first = first.decode(errors="replace")
    text = str(first)
    if isinstance(args, str):
        text = (shlex.split(args) or [""])[0]
    return Path(text).name


def allowed(args: Any) -> bool:
    """A quick tool, or a helper process of the hub's own."""
    if program_of(args) in QUICK_TOOLS:
        return True
    argv = [] if isinstance(args, (str, bytes, os.PathLike)) else [str(arg) for arg in args]
    return len(argv) >= 3 and argv[1] == "-m" and argv[2] in HUB_HELPERS


def guarded(real: Callable[..., None], test: str, record: str | None) -> Callable[..., None]:
    """`subprocess.Popen.__init__` for a test not marked `processes`: refuses (or, given a `record` file, notes
    there) every process but a quick tool, then starts what it lets through with `real`."""

    def init(self: subprocess.Popen, args: Any, *rest: Any, **options: Any) -> None:
        if not allowed(args):
            program = program_of(args)
            if not record:
                raise StartsAProcess(
                    f"this test starts a process ({program}) but is not marked `{MARKER}`: mark it "
                    f"(@pytest.mark.{MARKER}, or pytestmark in its module) so the fast tier leaves it out")
            with open(record, "a") as out:
                out.write(f"{test}\t{program}\n")
        real(self, args, *rest, **options)

    return init


@pytest.fixture(autouse=True)
def process_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test not marked `processes` runs with Popen guarded."""
    if request.node.get_closest_marker(MARKER) is None:
        monkeypatch.setattr(subprocess.Popen, "__init__",
                            guarded(subprocess.Popen.__init__, request.node.nodeid, os.environ.get(RECORD)))
    yield
