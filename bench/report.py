"""The tables the bench prints: one per part, each row a figure beside its target, and the part's correctness."""

from __future__ import annotations

import os
import platform
import statistics
from importlib.metadata import version

from workloads import percentile

Row = tuple[str, str, str, str, str]
HEADER: Row = ("measure", "p50 / value (ms)", "p99 (ms)", "target", "")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


class Report:
    """One part's table. Speed rows say ok or MISSED; check rows say PASS or FAIL, and a FAIL fails the run."""

    def __init__(self, part: str, quick: bool, mode: str | None = None) -> None:
        client = f", client mode {mode}" if mode else ""
        run = "quick" if quick else "full"
        self.title = (f"team-table benchmark, {part}: {run} run{client}, mcp {version('mcp')}, "
                      f"Python {platform.python_version()}, {os.cpu_count()} CPUs")
        self.notes: list[str] = []  # printed under the title
        self.after: list[str] = []  # printed under the table
        self.rows: list[Row] = []
        self.header: Row = HEADER
        self.errors: list[str] = []
        self.correct = True

    def timing(self, label: str, samples: list[float], target: str = "reference", ok: bool | None = None) -> None:
        """A row of latencies: p50 and p99."""
        if not samples:
            self.rows.append((label, "-", "-", target, "no samples"))
            return
        self.rows.append((label, f"{statistics.median(samples):.2f}", f"{percentile(samples, 99):.2f}", target,
                          "" if ok is None else verdict(ok)))

    def value(self, label: str, value: str, target: str = "reference", ok: bool | None = None) -> None:
        self.rows.append((label, value, "", target, "" if ok is None else verdict(ok)))

    def check(self, label: str, value: str, target: str, passed: bool) -> None:
        self.rows.append((label, value, "", target, "PASS" if passed else "FAIL"))
        self.correct &= passed

    def tool_errors(self, errors: list[str]) -> None:
        """The row of tool errors (refusals, failed calls, wrong answers); each one fails the part."""
        self.errors += errors
        self.check("tool errors", str(len(errors)), "0", not errors)

    def print(self) -> bool:
        """Print the table; whether the part was correct."""
        print(f"\n{self.title}")
        for line in self.notes:
            print(line)
        print()
        widths = [max(len(str(row[i])) for row in [self.header, *self.rows]) for i in range(5)]
        for row in [self.header, tuple("-" * w for w in widths), *self.rows]:
            print("  ".join(str(cell).ljust(w) if i in (0, 3) else str(cell).rjust(w)
                            for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
        if self.after:
            print()
        for line in self.after:
            print(line)
        for line in self.errors[:5]:
            print(f"error: {line[:200]}")
        return self.correct


def delivery_line(ring: dict) -> str:
    return (f"exactly once: sent {ring['sent']} (expected {ring['expected']}), received {ring['received']}, "
            f"duplicates {ring['duplicates']}, lost {ring['lost']}, misdelivered {ring['strays']}")
