"""The core tables of the SQLite schema (migration 1): members, their tokens, messages and each reader's delivery,
tasks, shared context, audit and the rate limit's events."""

CORE = """
CREATE TABLE member (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL DEFAULT 'agent',
    capabilities TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'active',
    registered_at TEXT NOT NULL,
    last_heartbeat TEXT NOT NULL
);
CREATE INDEX member_status ON member(status, name);

CREATE TABLE token (
    hash TEXT PRIMARY KEY,
    member TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'issued',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX token_member ON token(member, revoked_at);

CREATE TABLE message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX message_created ON message(created_at);

CREATE TABLE delivery (
    agent TEXT NOT NULL,
    message_id INTEGER NOT NULL REFERENCES message(id) ON DELETE CASCADE,
    read_at TEXT,
    archived_at TEXT,
    deleted_at TEXT,
    PRIMARY KEY (agent, message_id)
) WITHOUT ROWID;
CREATE INDEX delivery_message ON delivery(message_id);
CREATE INDEX delivery_unread ON delivery(agent, message_id)
    WHERE read_at IS NULL AND archived_at IS NULL AND deleted_at IS NULL;

CREATE TABLE task (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending',
    priority TEXT NOT NULL DEFAULT 'medium',
    creator TEXT NOT NULL,
    assignee TEXT,
    result TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX task_status ON task(status, id);
CREATE INDEX task_assignee ON task(assignee, status, id);

CREATE TABLE context_entry (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    set_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_actor ON audit(actor, id);
CREATE INDEX audit_action ON audit(action, id);
CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_target ON audit(target_type, target_id, id);

CREATE TABLE rate_event (
    actor TEXT NOT NULL,
    family TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX rate_event_actor ON rate_event(actor, family, at)
"""
