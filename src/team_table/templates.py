"""[AUTO] texts: the built-in ones, and the Jinja templates of team.yaml and workflow files.

The built-in texts are ours and render in this process. A configured template is untrusted code: it renders in a
separate, memory-capped process (template_worker) under Jinja's immutable sandbox, with a deadline for each
render and a bound on its output; message contents are data passed to templates, never templates themselves.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import select
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("team_table.templates")

MAX_OUTPUT = 4000  # a small template can render a huge text; an [AUTO] message stays short
RENDER_SECONDS = 1.0  # a configured template that takes longer is stopped (its process is replaced)
START_SECONDS = 10.0  # for the template process to start and answer its first render

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


class TemplateFailed(Exception):
    """A configured template could not be rendered: it failed, took too long, or needed too much."""


@functools.cache
def _builtin_env():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class _Worker:
    """The template process: started on first use, replaced when a render misses its deadline or it dies."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        atexit.register(self.stop)

    def render(self, source: str, variables: Mapping[str, Any], limit: int = MAX_OUTPUT) -> str:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._start()
            line = self._ask(source, variables, limit, RENDER_SECONDS)
        answer = json.loads(line)
        if "error" in answer:
            raise TemplateFailed(answer["error"])
        return answer["text"]

    def _ask(self, source: str, variables: Mapping[str, Any], limit: int, seconds: float) -> bytes:
        """One request to the running process and its answer line, within `seconds` (else the process is
        replaced and the render refused)."""
        process = self._process
        assert process is not None and process.stdin and process.stdout  # _start made both pipes
        request = json.dumps({"source": source, "variables": variables, "limit": limit}, default=str) + "\n"
        try:
            process.stdin.write(request.encode())
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], seconds)
            line = process.stdout.readline() if ready else b""
        except OSError:
            line, ready = b"", True
        if not line:
            self._kill()
            raise TemplateFailed(f"the template took longer than {seconds:g} s" if not ready
                                 else "the template process stopped")
        return line

    def _start(self) -> None:
        """A new process, answering a first trivial render before it is used: its start-up (an interpreter and
        Jinja) never counts against a template's deadline."""
        self._process = subprocess.Popen([sys.executable, "-m", "team_table.template_worker"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, close_fds=True)
        self._ask("", {}, 1, START_SECONDS)

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                assert self._process.stdin  # _start made it a pipe
                self._process.stdin.close()
                try:
                    self._process.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    self._kill()
            self._process = None


_worker = _Worker()


def problems(source: str, sample: Mapping[str, Any] = SAMPLE) -> str | None:
    """Render `source` against sample data, as at run time; the problem as a sentence, or None."""
    try:
        _worker.render(source, sample)
    except TemplateFailed as exc:
        return f"the template does not render on sample data: {exc}"
    return None


def render(source: str | None, fallback: str, variables: Mapping[str, Any]) -> str:
    """Render a configured template (or the built-in one); on any failure, the built-in text, and a log line."""
    if source is not None:
        try:
            return _worker.render(source, variables)
        except TemplateFailed as exc:  # never lose the message over its template
            log.warning("an [AUTO] template failed (%s); sending the built-in text instead", exc)
    return _builtin_env().from_string(fallback).render(variables)[:MAX_OUTPUT]


def render_strict(source: str, variables: Mapping[str, Any]) -> str:
    """Render a workflow template; a failure is raised (the engine records it and escalates), not papered over."""
    try:
        return _worker.render(source, variables)
    except TemplateFailed as exc:
        raise TemplateFailed(f"a template failed: {exc}") from None
