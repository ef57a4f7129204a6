"""[AUTO] texts: Jinja templates from team.yaml, rendered in a sandbox; message contents are data, not templates."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

log = logging.getLogger("team_table.templates")

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
MAX_OUTPUT = 4000  # a small template can render a huge text; an [AUTO] message stays short

# The built-in texts, also what a failed custom template falls back to. They use only these variables.
AUTO_REPLY = ("[AUTO] {{ agent }} is away; your {{ count }} message{{ 's' if count != 1 else '' }} will be "
              "read when {{ agent }} is back. If it needs a decision now, say so: a person will be asked.")
ESCALATION_NOTICE = ("[AUTO] Your message to {{ agent }} needs a person's decision (rule {{ rule }}): "
                     "one has been asked (escalation {{ escalation_id }}); you will be told the answer.")
ESCALATION_ALERT = ("[AUTO] A decision is needed (escalation {{ escalation_id }}, rule {{ rule }}): {{ sender }} "
                    "wrote to {{ agent }} in message {{ message_id }}. Resolve it with resolve_escalation or "
                    "`team-table resolve {{ escalation_id }}`.")
CLAIM_RELEASED = ("[AUTO] Task {{ task_id }} ({{ title }}) went back to the board: {{ assignee }} was offline "
                  "longer than the claim lease.")

SAMPLE: dict[str, Any] = {
    "agent": "alice", "sender": "bob", "count": 2, "rule": "decision", "escalation_id": 7, "message_id": 42,
    "task_id": 3, "title": "Parse the config", "assignee": "carol", "messages": [
        {"id": 41, "sender": "bob", "content": "Can you look at the parser?",
         "created_at": "2026-11-24T09:00:00+00:00"},
    ],
}


WORKFLOW_SAMPLE: dict[str, Any] = {
    "task": {"id": 12, "title": "Parse the config", "kind": "code", "status": "awaiting_review", "assignee": "alice",
             "creator": "lead", "reviewer": "bob", "result": "done in #12", "priority": "medium", "labels": [],
             "parent_id": 3, "description": ""},
    "parent": {"id": 3, "title": "Config support", "kind": "", "status": "in_progress", "assignee": None,
               "creator": "lead", "reviewer": None, "result": None, "priority": "medium", "labels": [],
               "parent_id": None, "description": ""},
    "event": {"kind": "task_status", "id": 99, "note": "please handle empty input", "agent": "alice"},
    "actor": "alice", "round": 1, "workflow": "review",
}


def problems(source: str, sample: Mapping[str, Any] = SAMPLE) -> str | None:
    """Compile and render `source` against sample data; the problem as a sentence, or None."""
    try:
        _ENV.from_string(source).render(sample)
    except TemplateError as exc:
        return f"the template does not render: {exc}"
    except Exception as exc:  # e.g. arithmetic on sample values
        return f"the template fails on sample data: {type(exc).__name__}: {exc}"
    return None


def render(source: str | None, fallback: str, variables: Mapping[str, Any]) -> str:
    """Render a configured template (or the built-in one); on any error, the built-in text, and a log line."""
    if source is not None:
        try:
            return _ENV.from_string(source).render(variables)[:MAX_OUTPUT]
        except Exception as exc:  # a sandboxed template can still divide by zero: never lose the message
            log.warning("an [AUTO] template failed (%s: %s); sending the built-in text instead",
                        type(exc).__name__, exc)
    return _ENV.from_string(fallback).render(variables)[:MAX_OUTPUT]


class TemplateFailed(Exception):
    """A workflow template failed at run time: the run is recorded as failed and a person asked."""


def render_strict(source: str, variables: Mapping[str, Any]) -> str:
    """Render a workflow template; a failure is raised (the engine records it and escalates), not papered over."""
    try:
        return _ENV.from_string(source).render(variables)[:MAX_OUTPUT]
    except Exception as exc:
        raise TemplateFailed(f"a template failed: {type(exc).__name__}: {exc}") from exc
