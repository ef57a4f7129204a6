"""Rules the hub writes once: what "unread" is, which task statuses count as finished or working, the order of
priorities (delivery_states.py, task_states.py), the kinds of events and their payloads (event_kinds.py). These
tests fail when one is written out again somewhere else (where a copy would drift), when the schema's partial index
stops covering what "unread" is, and when an event is emitted with another kind's payload. (Every in-process test
also checks the events it wrote against the catalogue: conftest.off_catalogue.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

import pytest

from team_table import delivery_states, task_states
from team_table.errors import Busy, RateLimited, TeamTableError, Unauthorized, Unavailable
from team_table.event_kinds import PAYLOADS, EventKind
from team_table.server import refusals
from team_table.server.auth_failures import FailedAuth
from team_table.server.metrics import Metrics
from team_table.store.sqlite import SqliteStore
from team_table.task_states import TaskStatus
from team_table.workflow.spec import Step

SOURCE = Path(__file__).resolve().parent.parent / "src" / "team_table"
# Migrations are history: what they wrote stays as it was, whatever the rules say now.
HISTORY = {"store/sqlite_schema.py", "store/sqlite_core.py", "store/sqlite_legacy.py", "store/postgres_schema.py"}


def _lines(*also_skipped: str):
    for path in sorted(SOURCE.rglob("*.py")):
        name = path.relative_to(SOURCE).as_posix()
        if name in HISTORY or name in also_skipped:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            yield f"{name}:{number}", line


def test_unread_and_its_kin_are_written_only_in_delivery_states():
    spelled = re.compile(r"(read|archived|deleted|pushed)_at IS NULL")
    found = [where for where, line in _lines("delivery_states.py") if spelled.search(line)
             and "SET read_at" not in line]  # marking read what is not read yet is a guard of the UPDATE, not the rule
    assert found == [], "write these with team_table.delivery_states (unread, in_inbox, kept, unpushed, seen_by)"


def test_task_statuses_and_priorities_in_sql_come_from_task_states():
    values = "|".join(s.value for s in TaskStatus) + "|high|medium|low"
    quoted = re.compile(rf"'({values})'")
    found = [where for where, line in _lines("task_states.py") if quoted.search(line)
             and "workflow_run" not in line  # a workflow run's own status, not a task's
             and "list_tasks(" not in line]  # the instructions' example of a call
    assert found == [], "write these with team_table.task_states (S.X, FINISHED_SQL, WORKING_SQL, TO_DO_SQL, ...)"


def test_the_groups_of_statuses_are_as_the_board_describes_them():
    S = TaskStatus
    assert {S.DONE, S.CANCELLED} == task_states.FINISHED
    assert {S.IN_PROGRESS, S.BLOCKED, S.AWAITING_REVIEW} == task_states.WORKING
    assert {S.PENDING, S.IN_PROGRESS, S.BLOCKED} == task_states.TO_DO
    assert task_states.FINISHED_SQL == "('cancelled', 'done')"


def test_a_workflow_sets_a_parent_only_to_statuses_a_task_has():
    allowed = get_args(get_args(Step.model_fields["set_parent_status"].annotation)[0])
    assert set(allowed) <= {s.value for s in TaskStatus}


@pytest.mark.sqlite_only
def test_the_unread_index_covers_exactly_what_is_unread(tmp_path: Path):
    """SQLite reads an inbox through the partial index only when the query's condition implies the index's; the
    queries say `INDEXED BY delivery_unread`, so a rule and an index that part ways would fail every inbox read."""
    store = SqliteStore.open(tmp_path / "team.db")
    try:
        sql = store.query("SELECT sql FROM sqlite_master WHERE name = 'delivery_unread'")[0][0]
    finally:
        store.close()
    assert " ".join(sql.split()).endswith(f"WHERE {delivery_states.unread('')}")


def _payload_named(call: ast.Call, function: ast.AST) -> str | None:
    """The payload type an emit call builds: `Kind(...)` in place, or a name assigned one in the same function."""
    data = call.args[3]
    if isinstance(data, ast.Call) and isinstance(data.func, ast.Name):
        return data.func.id
    if isinstance(data, ast.Name):
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == data.id for t in node.targets) \
                    and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name):
                return node.value.func.id
    return None


def test_every_event_is_emitted_with_its_kind_from_the_catalogue_and_that_kinds_payload():
    emitted, wrong = set(), []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]:
            for call in [n for n in ast.walk(function) if isinstance(n, ast.Call)]:
                if not (isinstance(call.func, ast.Attribute) and call.func.attr == "emit"
                        and isinstance(call.func.value, ast.Name) and call.func.value.id == "events"):
                    continue
                where = f"{path.relative_to(SOURCE)}:{call.lineno}"
                kind = call.args[2]
                if not (isinstance(kind, ast.Attribute) and isinstance(kind.value, ast.Name) and kind.value.id == "K"):
                    wrong.append(f"{where}: the kind is not an EventKind (K.X)")
                    continue
                emitted.add(EventKind[kind.attr])
                expected = PAYLOADS[EventKind[kind.attr]].__name__
                if _payload_named(call, function) != expected:
                    wrong.append(f"{where}: {kind.attr} is emitted with a payload other than {expected}")
    assert wrong == []
    assert emitted == set(EventKind), "a kind of the catalogue that nothing emits (or the other way round)"


def _codes(error: type[TeamTableError]) -> set[str]:
    return {error.code} | {code for sub in error.__subclasses__() for code in _codes(sub)}


def test_every_refusal_code_has_its_http_status_in_the_one_table():
    assert _codes(TeamTableError) == set(refusals.STATUS)
    assert refusals.status(RateLimited("wait", 2.5)) == 429
    assert refusals.headers(RateLimited("wait", 2.5)) == {"retry-after": "3"}
    assert refusals.body(RateLimited("wait", 2.5)) == {"error": "wait", "code": "rate_limited", "retry_after": 2.5}
    assert refusals.headers(RateLimited("wait", 10)) == {"retry-after": "10"}  # whole seconds are not rounded up
    assert refusals.headers(Unavailable("away")) == refusals.headers(Busy("locked")) == {"retry-after": "2"}


def test_a_failed_authentication_is_counted_and_an_address_past_its_limit_is_told_to_wait():
    metrics, now = Metrics(), [0.0]
    failures = FailedAuth(metrics, limit=2, window=60, clock=lambda: now[0])
    wrong = Unauthorized("no")
    assert [failures.refused("/mcp", "10.0.0.1", wrong).code for _ in range(3)] == [
        "unauthorized", "unauthorized", "rate_limited"]
    assert failures.refused("/mcp", "10.0.0.2", wrong) is wrong  # another address has its own count
    assert failures.refused("/mcp", None, wrong) is wrong  # not a guess (an empty bearer): in metrics only
    now[0] = 61
    assert failures.refused("/mcp", "10.0.0.1", wrong) is wrong  # the window passed
    assert metrics.registry.get_sample_value("team_table_auth_failures_total", {"route": "/mcp"}) == 6
