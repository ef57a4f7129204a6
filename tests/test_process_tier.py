"""The fast tier's guard (tests/process_tier.py): a test not marked `processes` that starts a process fails,
naming it and the marker; quick tools pass; a test so marked is not guarded. Checked on the guard itself, so no
process is started here (this test is in the fast tier)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from process_tier import MARKER, RECORD, StartsAProcess, allowed, guarded, program_of


def test_an_unmarked_test_starting_a_process_fails_naming_it_and_nothing_starts():
    started = []
    init = guarded(lambda self, args, *rest, **options: started.append(args), "tests/x.py::t", None)
    with pytest.raises(StartsAProcess, match=r"starts a process \(team-table\).*@pytest\.mark\.processes"):
        init(object(), ["/usr/bin/team-table", "up"])
    with pytest.raises(StartsAProcess, match=r"\(python3\)"):
        init(object(), "python3 -c pass", shell=True)
    assert started == []


def test_quick_tools_pass_and_a_record_file_notes_instead_of_failing(tmp_path: Path):
    started = []
    record = tmp_path / "record.txt"
    init = guarded(lambda self, args, *rest, **options: started.append(args), "tests/x.py::t", str(record))
    init(object(), ["git", "status"])
    init(object(), [b"/usr/bin/node", "cli.js"])
    assert started == [["git", "status"], [b"/usr/bin/node", "cli.js"]]
    assert record.read_text() == "tests/x.py::t\tnode\n"


def test_the_guard_is_on_in_this_unmarked_test():
    if os.environ.get(RECORD):
        pytest.skip(f"{RECORD} is set: the guard notes processes instead of refusing them")
    with pytest.raises(StartsAProcess):
        subprocess.run(["python3", "-c", "pass"], check=False)
    assert program_of(("git", "log")) == "git"
    assert allowed([sys.executable, "-m", "team_table.template_worker"])
    assert not allowed([sys.executable, "-m", "team_table"])


@pytest.mark.processes
def test_a_marked_test_starts_processes():
    assert MARKER == "processes"
    assert subprocess.run(["python3", "-c", "pass"], check=False).returncode == 0
