"""The benchmark is a script of its own (bench/), run by hand: its modules must at least import and its parts be
listed, or a moved helper breaks it unseen until someone needs its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.processes

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench.py"


@pytest.mark.sqlite_only
def test_the_benchmark_imports_every_part_and_lists_them():
    done = subprocess.run([sys.executable, str(BENCH), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    for part in ("stdio", "http", "hearing", "reservations", "runner", "postgresql", "ceiling"):
        assert part in done.stdout
