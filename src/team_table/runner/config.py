"""team.yaml's `run:` (under an agent: how the hub runs it) and `runner:` (the hub's limits on all runs)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from team_table import templates
from team_table.config_base import Frozen

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Set by the hub for every run; never taken from the file or from the hub's own environment.
RUN_VARIABLES = ("TEAM_TABLE_AGENT", "TEAM_TABLE_URL", "TEAM_TABLE_TOKEN")
# The hub's own secrets: a run never inherits them, whatever pass_env says.
HUB_SECRETS = ("PGPASSWORD", "PGPASSFILE", "PGSERVICEFILE")
Preset = Literal["claude", "codex", "gemini"]

PROMPT_SAMPLE: dict[str, Any] = {
    "agent": "alice", "roles": ["coder"], "run": 3, "resumed": True, "hub": "http://127.0.0.1:8741/mcp",
    "items": [{"kind": "task", "id": 7, "title": "Parse the config", "text": "task 7 (Parse the config) is yours"},
              {"kind": "messages", "id": None, "title": "", "text": "2 unread messages"}],
}


class Restart(Frozen):
    """What happens when a run fails (exits non-zero, is killed, stalls, runs out of time)."""

    backoff_seconds: float = Field(default=2.0, gt=0, le=3600)  # the first wait; doubled after each failure
    max_backoff_seconds: float = Field(default=300.0, gt=0, le=86_400)
    max_failures: int = Field(default=5, ge=1, le=1000)  # this many failures ...
    window_seconds: float = Field(default=600.0, gt=0)  # ... within this long: stop trying, ask a person
    # Runs in a row that end well (exit 0) with the same work still waiting before a person is asked instead.
    max_reruns: int = Field(default=3, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Restart:
        if self.max_backoff_seconds < self.backoff_seconds:
            raise ValueError("max_backoff_seconds must be at least backoff_seconds")
        return self


class Stall(Frozen):
    """A run that holds work but makes no tool call and prints nothing for `after_seconds` is stalled."""

    after_seconds: float = Field(default=900.0, gt=0)
    action: Literal["restart", "escalate"] = "restart"


class Permissions(Frozen):
    """What the client asks before a tool it may not use on its own (Claude Code's permission prompt): a question on
    the people's Needs you page, answered with a button; with no answer by the deadline, `default`."""

    ask: bool = True  # relay the prompt to the people (off: the client's own rules decide, headless: no)
    timeout_seconds: int = Field(default=300, ge=5, le=3600)
    default: Literal["deny", "allow"] = "deny"


class RunSpec(Frozen):
    """How the hub runs one agent: a command (argv, no shell) or a preset, when, where, and within what bounds."""

    command: tuple[str, ...] | None = None
    preset: Preset | None = None
    args: tuple[str, ...] = ()  # appended to the preset's command line (e.g. ["--model", "sonnet"])
    start: Literal["on_work", "always", "manual"] = "on_work"
    next_task: bool = False  # also start for free tasks its roles or capabilities fit (what next_task would give)
    folder: str | None = None  # its working folder, relative to team.yaml's folder (default: see docs)
    worktree: bool | None = None  # its own git worktree (default: when the team's folder is in a git repository)
    env: dict[str, str] = Field(default_factory=dict)
    pass_env: tuple[str, ...] = ()  # names of the hub's variables handed on (e.g. ANTHROPIC_API_KEY)
    prompt: str | None = None  # the first input: a Jinja template (variables: agent, roles, items, run, resumed, hub)
    max_seconds: float = Field(default=3600.0, gt=0)  # wall time of one run
    grace_seconds: float = Field(default=10.0, gt=0, le=300)  # SIGTERM, then SIGKILL this long after
    restart: Restart = Restart()
    stall: Stall = Stall()
    permissions: Permissions = Permissions()

    @model_validator(mode="after")
    def _one_way_to_run(self) -> RunSpec:
        if (self.command is None) == (self.preset is None):
            raise ValueError("give command (an argv list) or preset (claude, codex or gemini), not both and not "
                             "neither")
        if self.command is not None and (not self.command or not self.command[0].strip()):
            raise ValueError("command is an argv list with the program first, e.g. [\"python\", \"agent.py\"]")
        if self.args and self.preset is None:
            raise ValueError("args go with a preset; with command, put them in the command list")
        return self

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            _check_variable(name)
        return env

    @field_validator("pass_env")
    @classmethod
    def _passed_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            _check_variable(name)
            if name in HUB_SECRETS:
                raise ValueError(f"{name} is the hub's database secret; a run never gets it")
        return names

    @field_validator("prompt")
    @classmethod
    def _renders(cls, source: str | None) -> str | None:
        if source is not None and (problem := templates.problems(source, PROMPT_SAMPLE)):
            raise ValueError(problem)
        return source

    def launch_part(self) -> tuple:
        """What changing restarts a live run (how it is started); the rest applies to the live run as it is."""
        return (self.command, self.preset, self.args, self.folder, self.worktree, tuple(sorted(self.env.items())),
                self.pass_env)


def _check_variable(name: str) -> None:
    if not ENV_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an environment variable name (letters, digits, _)")
    if name.startswith("TEAM_TABLE_"):
        raise ValueError(f"{name}: TEAM_TABLE_* variables are the hub's; a run gets exactly "
                         f"{', '.join(RUN_VARIABLES)}, set by the hub")


class Output(Frozen):
    """What is kept of each run's output (stdout and stderr, one file per run)."""

    max_bytes: int = Field(default=1_048_576, ge=4096)  # a run's file is rotated past this (one older part kept)
    keep_runs: int = Field(default=20, ge=1, le=10_000)  # per agent, the newest runs' files


class RunnerSection(Frozen):
    """The hub's limits on the runs of every agent with `run:`."""

    max_running: int = Field(default=8, ge=1, le=1000)  # at once, on the whole team (every replica together)
    max_running_per_role: dict[str, int] = Field(default_factory=dict)  # at once, per role
    folder: str = ".team-table"  # agents' folders, worktrees and run output, relative to team.yaml's folder
    output: Output = Output()
    sweep_seconds: float = Field(default=30.0, ge=1, le=3600)  # the safety look besides the wake-ups on events

    @field_validator("max_running_per_role")
    @classmethod
    def _positive(cls, caps: dict[str, int]) -> dict[str, int]:
        for role, cap in caps.items():
            if cap < 0:
                raise ValueError(f"{role}: a cap is 0 or more")
        return caps
