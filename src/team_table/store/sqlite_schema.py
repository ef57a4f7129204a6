"""The SQLite schema, as an ordered list of migrations; the store records which ones a database has."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from team_table.store.sqlite_core import CORE
from team_table.store.sqlite_legacy import import_0_2_1


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[sqlite3.Connection], None]


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def apply(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)

    return apply


EVENTS = """
CREATE TABLE event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    exclude TEXT,
    data TEXT NOT NULL
);
CREATE INDEX event_recipient ON event(recipient, id);
CREATE INDEX event_at ON event(at)
"""

ESCALATIONS = """
CREATE TABLE escalation (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    message_id INTEGER,
    sender TEXT NOT NULL,
    agent TEXT NOT NULL,
    rule TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    resolved_by TEXT,
    resolved_at TEXT,
    note TEXT
);
CREATE INDEX escalation_status ON escalation(status, id);
CREATE INDEX escalation_agent ON escalation(agent, status);

CREATE TABLE config_applied (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    digest TEXT NOT NULL,
    file TEXT NOT NULL,
    at TEXT NOT NULL,
    team TEXT NOT NULL
);
CREATE TABLE config_rejected (
    key TEXT PRIMARY KEY,
    at TEXT NOT NULL
)
"""

JOBS = """
ALTER TABLE member ADD COLUMN last_seen TEXT;
ALTER TABLE member ADD COLUMN presence TEXT NOT NULL DEFAULT 'offline';
ALTER TABLE task ADD COLUMN reserved_for TEXT;
UPDATE task SET reserved_for = assignee WHERE status = 'pending' AND assignee IS NOT NULL;
CREATE TABLE auto_reply (
    message_id INTEGER PRIMARY KEY REFERENCES message(id) ON DELETE CASCADE,
    agent TEXT NOT NULL,
    sender TEXT NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX auto_reply_agent ON auto_reply(agent, at);
CREATE TABLE job_lease (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
)
"""

TASK_TREE = """
ALTER TABLE task ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE task ADD COLUMN parent_id INTEGER REFERENCES task(id);
ALTER TABLE task ADD COLUMN reviewer TEXT;
ALTER TABLE task ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
CREATE INDEX task_parent ON task(parent_id);
CREATE TABLE task_dependency (
    task_id INTEGER NOT NULL REFERENCES task(id) ON DELETE CASCADE,
    depends_on INTEGER NOT NULL REFERENCES task(id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, depends_on)
) WITHOUT ROWID;
CREATE INDEX task_dependency_on ON task_dependency(depends_on);
CREATE TABLE task_comment (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL REFERENCES task(id) ON DELETE CASCADE,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX task_comment_task ON task_comment(task_id, id)
"""

WORKFLOWS = """
CREATE TABLE workflow_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE workflow_run (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow TEXT NOT NULL,
    trigger TEXT NOT NULL,
    event_id INTEGER,
    task_id INTEGER,
    status TEXT NOT NULL,
    steps TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    at TEXT NOT NULL
);
CREATE INDEX workflow_run_task ON workflow_run(workflow, task_id);
CREATE INDEX workflow_run_at ON workflow_run(workflow, id)
"""

REVIEWS = """
ALTER TABLE task ADD COLUMN review_rounds INTEGER NOT NULL DEFAULT 0;
CREATE TABLE task_worker (
    task_id INTEGER NOT NULL REFERENCES task(id) ON DELETE CASCADE,
    member TEXT NOT NULL,
    PRIMARY KEY (task_id, member)
) WITHOUT ROWID;
INSERT INTO task_worker (task_id, member)
    SELECT DISTINCT CAST(target_id AS INTEGER), actor FROM audit WHERE action = 'claim_task' AND target_type = 'task'
    ON CONFLICT DO NOTHING;
INSERT INTO task_worker (task_id, member)
    SELECT id, assignee FROM task WHERE assignee IS NOT NULL AND status IN ('in_progress', 'blocked', 'awaiting_review')
    ON CONFLICT DO NOTHING;
UPDATE task SET review_rounds = (SELECT COUNT(*) FROM audit a WHERE a.action = 'review_task'
    AND a.target_type = 'task' AND a.target_id = CAST(task.id AS TEXT) AND a.details LIKE '%"approve":false%');
INSERT INTO workflow_state (key, value) SELECT 'events', COALESCE(MAX(id), 0) FROM event WHERE true
    ON CONFLICT DO NOTHING
"""

THREADS = """
ALTER TABLE message ADD COLUMN thread_id INTEGER;
ALTER TABLE message ADD COLUMN reply_to INTEGER;
CREATE INDEX message_thread ON message(thread_id, id) WHERE thread_id IS NOT NULL;
ALTER TABLE task ADD COLUMN thread_id INTEGER;
ALTER TABLE member ADD COLUMN caught_up_at TEXT
"""

UI_SESSIONS = """
CREATE TABLE ui_session (
    id TEXT PRIMARY KEY,
    member TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX ui_session_expires ON ui_session(expires_at)
"""

# What became of each thing addressed to an agent (a delivery row per reader): pushed (which way), surfaced into
# the model's context (how), read, acted on (how); a deadline for an answer and how far the hub went after it.
# The kind of a message (an agent's, or one of the hub's notices), and each wake the hub sent or failed to send.
RECEIPTS = """
ALTER TABLE message ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE delivery ADD COLUMN pushed_at TEXT;
ALTER TABLE delivery ADD COLUMN pushed_via TEXT;
ALTER TABLE delivery ADD COLUMN surfaced_at TEXT;
ALTER TABLE delivery ADD COLUMN surfaced_via TEXT;
ALTER TABLE delivery ADD COLUMN acted_at TEXT;
ALTER TABLE delivery ADD COLUMN acted_how TEXT;
ALTER TABLE delivery ADD COLUMN due_at TEXT;
ALTER TABLE delivery ADD COLUMN overdue_step INTEGER NOT NULL DEFAULT 0;
CREATE INDEX delivery_due ON delivery(due_at) WHERE due_at IS NOT NULL AND acted_at IS NULL;
CREATE INDEX message_pair ON message(sender, recipient, id);
CREATE INDEX task_thread ON task(thread_id) WHERE thread_id IS NOT NULL;
CREATE TABLE wake (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    at TEXT NOT NULL,
    via TEXT NOT NULL,
    messages INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    detail TEXT
);
CREATE INDEX wake_agent ON wake(agent, id)
"""

RESERVATIONS = """
CREATE TABLE reservation (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    pattern TEXT NOT NULL,
    anchor TEXT NOT NULL,
    exclusive INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    task_id INTEGER,
    ttl_seconds INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires REAL NOT NULL,
    warned INTEGER NOT NULL DEFAULT 0,
    UNIQUE (agent, pattern)
);
CREATE INDEX reservation_anchor ON reservation(anchor);
CREATE INDEX reservation_task ON reservation(task_id);
CREATE INDEX reservation_expires ON reservation(expires);
CREATE TABLE reservation_watch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    pattern TEXT NOT NULL,
    anchor TEXT NOT NULL,
    exclusive INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires REAL NOT NULL,
    UNIQUE (agent, pattern)
);
CREATE INDEX reservation_watch_anchor ON reservation_watch(anchor);
ALTER TABLE task ADD COLUMN paths TEXT NOT NULL DEFAULT '[]'
"""

SEAT = """
ALTER TABLE ui_session ADD COLUMN flash TEXT;
ALTER TABLE escalation ADD COLUMN task_id INTEGER;
CREATE TABLE escalation_alert (
    escalation_id INTEGER NOT NULL REFERENCES escalation(id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (escalation_id, message_id)
) WITHOUT ROWID;
CREATE TABLE question (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    asker TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '[]',
    asked TEXT NOT NULL DEFAULT '[]',
    default_answer TEXT,
    deadline TEXT,
    task_id INTEGER,
    details TEXT,
    message_id INTEGER,
    status TEXT NOT NULL DEFAULT 'open',
    answer TEXT,
    answered_by TEXT,
    answered_at TEXT
);
CREATE INDEX question_status ON question(status, id);
CREATE INDEX question_deadline ON question(deadline) WHERE status = 'open' AND deadline IS NOT NULL;
CREATE TABLE notify_state (
    target TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    next_try_at TEXT,
    last_error TEXT
)
"""

AGENT_RUNS = """
CREATE TABLE agent_run (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER,
    pgid INTEGER,
    proc_start TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT,
    exit_code INTEGER,
    reason TEXT,
    token_hash TEXT,
    surfaced TEXT NOT NULL DEFAULT '[]',
    output TEXT,
    last_line TEXT,
    last_output_at TEXT,
    session_id TEXT
);
CREATE INDEX agent_run_agent ON agent_run(agent, id);
CREATE INDEX agent_run_open ON agent_run(ended_at, agent);
CREATE TABLE agent_state (
    agent TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    since TEXT NOT NULL,
    run_id INTEGER,
    detail TEXT,
    session_client TEXT,
    session_id TEXT,
    requested TEXT
);
CREATE TABLE agent_lease (
    agent TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
)
"""

MIGRATIONS: list[Migration] = [
    Migration(1, "core schema", _script(CORE)),
    Migration(2, "carry over team-table 0.2.1 tables (when present)", import_0_2_1),
    Migration(3, "events kept for push and replay", _script(EVENTS)),
    Migration(4, "escalations and the config each hub applied", _script(ESCALATIONS)),
    Migration(5, "presence, reserved tasks, auto-replies and job leases", _script(JOBS)),
    Migration(6, "task kinds, trees, dependencies, reviewers, labels and comments", _script(TASK_TREE)),
    Migration(7, "workflow runs and the engine's place in the event log", _script(WORKFLOWS)),
    Migration(8, "review rounds on the task, who worked on each task, the workflow engine's place from the start",
              _script(REVIEWS)),
    Migration(9, "threads of messages (one per task for the hub's own), and each member's last catch_up",
              _script(THREADS)),
    Migration(10, "the dashboard's sign-in sessions (their ids and the token each was opened with, as hashes)",
              _script(UI_SESSIONS)),
    Migration(11, "why the hub itself asked a person (a workflow's escalation has no message)",
              _script("ALTER TABLE escalation ADD COLUMN reason TEXT")),
    Migration(12, "delivery receipts, answers due, and the wakes sent", _script(RECEIPTS)),
    Migration(13, "path reservations (who may edit what, until when, for which task), who waits for a path to "
                  "free, and the paths a task declares", _script(RESERVATIONS)),
    Migration(14, "the person's seat: a notice kept with the session, escalations about a task and the alerts they "
                  "sent, questions with answers, where each notification target is", _script(SEAT)),
    Migration(15, "the runs of agents the hub starts, their states and sessions, and which hub runs each",
              _script(AGENT_RUNS)),
]
