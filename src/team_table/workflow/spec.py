"""The workflow file format: YAML under workflows/ declaring what the hub does when something happens.

    name: review
    triggers:
      - event: task_status              # what happened (see TRIGGERS)
        when: {kind: code, status: awaiting_review}
        do:
          - assign_reviewer: {role: reviewer, strategy: least_loaded}
          - message: {to: reviewer, text: "[AUTO] Please review task {{ task.id }}: {{ task.title }}"}
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from team_table import templates
from team_table.task_states import TaskStatus
from team_table.yaml_files import validate_yaml

TriggerKind = Literal["task_created", "task_status", "review", "children_done", "comment", "agent_offline",
                      "message_to_role", "schedule", "started"]
TRIGGERS: tuple[str, ...] = get_args(TriggerKind)
Strategy = Literal["round_robin", "least_loaded"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _template(source: str | None) -> str | None:
    if source is not None and (problem := templates.problems(source, templates.WORKFLOW_SAMPLE)):
        raise ValueError(problem)
    return source


class When(Frozen):
    """Conditions on the event: all that are given must hold."""

    kind: str | tuple[str, ...] | None = None
    status: str | tuple[str, ...] | None = None
    labels: tuple[str, ...] = ()  # the task has at least one of these
    role: str | None = None  # the actor (or, for message_to_role, the recipient) holds this role
    verdict: Literal["approved", "rework"] | None = None  # for review
    has_claims: bool | None = None  # for agent_offline: the agent holds in-progress tasks

    def matches_value(self, wanted: str | tuple[str, ...] | None, actual: Any) -> bool:
        if wanted is None:
            return True
        return actual in ((wanted,) if isinstance(wanted, str) else wanted)


class CreateTaskStep(Frozen):
    title: str
    description: str = ""
    kind: str = ""
    parent: Literal["task", "parent", "none"] = "task"  # under the event's task, its parent, or at the top
    depends_on_task: bool = False  # waits for the event's task to be done
    labels: tuple[str, ...] = ()
    assign: AssignStep | None = None
    priority: Literal["low", "medium", "high"] | None = None  # default: the event task's priority

    _check = field_validator("title", "description")(_template)


class AssignStep(Frozen):
    role: str
    strategy: Strategy = "least_loaded"
    never_author: bool = True  # never the member who did the event's task


class MessageStep(Frozen):
    to: str  # an agent's name, role:NAME for every member holding a role, or assignee, reviewer, creator, author
    text: str

    _check = field_validator("text")(_template)


class Step(Frozen):
    """One action; exactly one key."""

    create_task: CreateTaskStep | None = None
    assign_reviewer: AssignStep | None = None
    set_status: TaskStatus | None = None
    set_parent_status: Literal["in_progress", "blocked", "done", "cancelled"] | None = None  # TaskStatus values
    send_back_to_author: bool | None = None  # the event's task (or its parent, for qa) back to in_progress
    comment: str | None = None
    message: MessageStep | None = None
    escalate: str | None = None  # the reason; a person is asked
    start: str | None = None  # run another workflow's triggers of type "started" with this event

    @model_validator(mode="after")
    def _one(self) -> Step:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a step has exactly one action; found {given or 'none'}")
        return self

    @field_validator("comment")
    @classmethod
    def _comment(cls, source: str | None) -> str | None:
        return _template(source)

    @property
    def action(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)


class Trigger(Frozen):
    event: TriggerKind
    when: When = When()
    every_seconds: float | None = Field(default=None, gt=0)  # for schedule
    do: tuple[Step, ...]

    @model_validator(mode="after")
    def _schedule(self) -> Trigger:
        if (self.event == "schedule") != (self.every_seconds is not None):
            raise ValueError("every_seconds goes with event: schedule, and only with it")
        return self

    def in_words(self) -> str:
        """'when a task's status changes (kind code; status awaiting_review): assign_reviewer, message', for people."""
        def said(value: Any) -> str:
            if isinstance(value, tuple):
                return " or ".join(map(said, value))
            return ("yes" if value else "no") if isinstance(value, bool) else (str(value) or "none")

        when = "; ".join(f"{key.replace('_', ' ')} {said(value)}"
                         for key, value in self.when.model_dump(exclude_defaults=True).items())
        every = f" every {self.every_seconds:g} s" if self.every_seconds else ""
        return (f"{EVENT_WORDS[self.event]}{every}{f' ({when})' if when else ''}: "
                f"{', '.join(step.action.replace('_', ' ') for step in self.do)}")


EVENT_WORDS: dict[str, str] = {
    "task_created": "when a task is created", "task_status": "when a task's status changes",
    "review": "when a review is given", "children_done": "when a task's subtasks are all done",
    "comment": "when a task is commented on", "agent_offline": "when an agent goes offline",
    "message_to_role": "when a message goes to a role", "schedule": "on a schedule",
    "started": "when another workflow starts it",
}


class Workflow(Frozen):
    name: str
    description: str = ""
    enabled: bool = True
    max_rounds: int = Field(default=3, ge=1)  # rework rounds per task before a person is asked
    max_runs_per_task: int = Field(default=20, ge=1)  # a bound on any loop
    triggers: tuple[Trigger, ...]
    _file: str = PrivateAttr("")

    @property
    def file(self) -> str:
        """The file it was read from."""
        return self._file


CreateTaskStep.model_rebuild()


def parse(text: str, file: str) -> Workflow:
    workflow = validate_yaml(Workflow, text, file, "must be a mapping with name and triggers")
    workflow._file = file
    return workflow
