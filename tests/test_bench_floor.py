"""bench/domain_floor.py: the hub's database work for the round-trip loop's calls, which the ceiling part adds to
the ceiling's figures to show the least the hub can be. It drives the domain directly, so a changed domain call
would break it unseen until someone needs the figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.processes

FLOOR = Path(__file__).resolve().parents[1] / "bench" / "domain_floor.py"


@pytest.mark.sqlite_only
@pytest.mark.parametrize("synchronous", ["full", "normal"])
def test_the_database_work_alone_is_measured_and_each_message_read_once(tmp_path: Path, synchronous: str):
    (tmp_path / "team.yaml").write_text(f"hub:\n  synchronous: {synchronous}\n"
                                        "limits:\n  rate:\n    writes: 1000000\n    window_seconds: 60\n")
    done = subprocess.run([sys.executable, str(FLOOR), str(tmp_path), "30", "5"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout)
    assert set(figures) == {"cpu", "send_p50", "read_p50"}
    assert all(value > 0 for value in figures.values()), figures
    assert (tmp_path / "floor.db").is_file()


@pytest.mark.sqlite_only
def test_a_refused_call_stops_the_measure_with_its_reason(tmp_path: Path):
    """A floor measured on refused calls would be too low: a table whose rate limit refuses the second send stops the
    run, with the refusal."""
    (tmp_path / "team.yaml").write_text("limits:\n  rate:\n    writes: 1\n    window_seconds: 60\n")
    done = subprocess.run([sys.executable, str(FLOOR), str(tmp_path), "3", "0"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "Rate limit reached" in done.stderr
