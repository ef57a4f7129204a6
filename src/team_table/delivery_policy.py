"""team.yaml's `delivery:` section: how the hub wakes agents, and when an answer is overdue.

    delivery:
      channels: true                   # Claude Code channel notes for bound Claude Code connections
      wakes_per_minute: 6              # per agent: more events than that are told in one wake
      wake_order: [socket, monitor, hook, channel, stream]   # the first way an agent has is the one used
      answer_within:                   # seconds, by kind of message (send_message(answer_within_seconds=...) for one)
        review_requested: 1800
      overdue:
        every_seconds: 300             # between the steps below, once an answer is late
        steps: [rewake, tell_sender, escalate]
        notify: {roles: [person, lead]}   # who an overdue answer is escalated to (default: escalation.notify)
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator

from team_table.config_base import Frozen, Notify
from team_table.message_kinds import Kind

MAX_ANSWER_WITHIN = 7 * 86_400  # a week


class Way(StrEnum):
    """The ways a hub can wake an agent, each once per event (receipts.Via names how a delivery was pushed)."""

    SOCKET = "socket"
    MONITOR = "monitor"
    HOOK = "hook"
    CHANNEL = "channel"
    STREAM = "stream"


class Step(StrEnum):
    REWAKE = "rewake"  # wake the agent again, through the next way it has
    TELL_SENDER = "tell_sender"  # tell the sender the answer is late
    ESCALATE = "escalate"  # ask a person


class Overdue(Frozen):
    every_seconds: float = Field(default=300.0, ge=1, le=MAX_ANSWER_WITHIN)
    steps: tuple[Step, ...] = (Step.REWAKE, Step.TELL_SENDER, Step.ESCALATE)
    notify: Notify | None = None  # None: escalation.notify


class DeliveryPolicy(Frozen):
    # Claude Code channel notes: a Claude Code connection bound to an agent is answered with the 2025-11-25
    # handshake (the only one that carries them) and offered claude/channel. Off: 2026 for all, no channel.
    channels: bool = True
    wakes_per_minute: int = Field(default=6, ge=1, le=600)
    wake_order: tuple[Way, ...] = (Way.SOCKET, Way.MONITOR, Way.HOOK, Way.CHANNEL, Way.STREAM)
    answer_within: dict[Kind, int] = {}
    overdue: Overdue = Overdue()

    @field_validator("wake_order")
    @classmethod
    def _once_each(cls, order: tuple[Way, ...]) -> tuple[Way, ...]:
        if len(set(order)) != len(order):
            raise ValueError("name each way once")
        return order

    @field_validator("answer_within")
    @classmethod
    def _bounded(cls, within: dict[Kind, int]) -> dict[Kind, int]:
        for kind, seconds in within.items():
            if not 1 <= seconds <= MAX_ANSWER_WITHIN:
                raise ValueError(f"{kind}: give 1 to {MAX_ANSWER_WITHIN} seconds")
        return within

    def rank(self, way: str) -> int:
        """Where a way comes in wake_order (ways left out of it are never used)."""
        try:
            return self.wake_order.index(Way(way))
        except ValueError:
            return len(Way)
