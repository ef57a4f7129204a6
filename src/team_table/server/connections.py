"""Connections bound to an agent, and what the hub pushes into them from the agent's events:

- Claude Code channel notifications (`notifications/claude/channel`, research preview): a short pointer for a new
  message or broadcast, a task assigned or reserved for the agent, a review requested of it, work sent back to
  it, an escalation of its resolved. Nothing is marked read by a push: the inbox stays the record.
- `notifications/tools/list_changed` when what the agent may call changes (a team.yaml reload, a grant).

A connection is one stdio process or one legacy HTTP session (kept alive by its GET stream). The 2026 protocol
has no stream outside a request, so 2026-era HTTP connections get no pushes; stdio ones do.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from mcp.types import Notification

from team_table.events import Event
from team_table.fanout import Fanout
from team_table.hub import Hub

log = logging.getLogger("team_table.push")

CHANNEL = "claude/channel"
# The events that may make a push (the others, presence above all, are dropped before any database read).
PUSHED = frozenset({"message", "broadcast", "task_assigned", "task_updated", "escalation", "config_reloaded",
                    "roles_changed"})
PREVIEW = 200  # characters of a message a channel notification carries


class ChannelNotification(Notification[dict[str, Any], Literal["notifications/claude/channel"]]):
    method: Literal["notifications/claude/channel"] = "notifications/claude/channel"


def channel_note(hub: Hub, agent: str, event: Event) -> dict | None:
    """The channel notification for one of the agent's events, or None when it is not one to push."""
    data = event.data
    if event.kind in ("message", "broadcast") and data.get("sender") != agent:
        rows = hub.store.query("SELECT content FROM message WHERE id = ?", (data["id"],))
        if not rows:
            return None
        text = " ".join(rows[0]["content"].split())
        text = text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"
        to = "everyone" if event.kind == "broadcast" else "you"
        meta = {"kind": event.kind, "message_id": str(data["id"]), "sender": data["sender"]}
        if data.get("thread_id"):
            meta["thread_id"] = str(data["thread_id"])
        return {"content": f"{data['sender']} wrote to {to} (message {data['id']}): {text} — read it with "
                           "get_messages", "meta": meta}
    if event.kind == "task_assigned" and agent in (data.get("reviewer"), data.get("assignee")):
        title, task = data.get("title", ""), data["id"]
        if data.get("reviewer") == agent:
            return {"content": f"Your review is asked for task {task} ({title}) — see get_task({task}), then "
                               "review_task", "meta": {"kind": "review_requested", "task_id": str(task)}}
        return {"content": f"Task {task} ({title}) is assigned to you — see get_task({task}); claim_task or "
                           "next_task takes it", "meta": {"kind": "task_assigned", "task_id": str(task)}}
    if event.kind == "task_updated" and data.get("status") == "awaiting_review" and data.get("reviewer") == agent \
            and data.get("was") != "awaiting_review":
        return {"content": f"Your review is asked for task {data['id']} — see get_task({data['id']}), then "
                           "review_task", "meta": {"kind": "review_requested", "task_id": str(data["id"])}}
    if event.kind == "task_updated" and data.get("review") == "rework" and data.get("assignee") == agent:
        return {"content": f"Task {data['id']} came back from review ({data.get('by')}): {data.get('note', '')} — "
                           f"see get_task({data['id']})",
                "meta": {"kind": "sent_back", "task_id": str(data["id"]), "reviewer": str(data.get("by"))}}
    if event.kind == "escalation" and data.get("status") == "resolved":
        return {"content": f"Escalation {data['id']} was resolved by {data.get('by')} — the decision is in your "
                           "inbox (get_messages)", "meta": {"kind": "escalation_resolved",
                                                            "escalation_id": str(data["id"])}}
    return None


@dataclass(eq=False)
class Bound:
    """One connection bound to an agent, and what it was last told it may call."""

    agent: str
    session: Any  # mcp ServerSession (its connection-scoped channel outlives the request it came with)
    listed: frozenset[str] = field(default_factory=frozenset)


class Connections:
    """The bound connections of one server, each with a listener on the agent's events."""

    def __init__(self, hub: Hub, fanout: Fanout, tasks: anyio.abc.TaskGroup,
                 tool_names: Callable[[Hub, str], frozenset[str]],
                 run: Callable[[Callable[[], Any]], Awaitable[Any]]) -> None:
        self.hub, self.fanout, self.tasks, self.tool_names, self.run = hub, fanout, tasks, tool_names, run
        self._by_key: dict[object, Bound] = {}

    def has(self, key: object) -> bool:
        return key in self._by_key

    def attach(self, key: object, agent: str, session: Any, on_close: Callable[[Callable[[], None]], None]) -> Bound:
        """The connection `key` is bound to `agent`: start listening for it (once)."""
        found = self._by_key.get(key)
        if found is not None:
            return found
        bound = self._by_key[key] = Bound(agent, session, self.tool_names(self.hub, agent))
        scope = anyio.CancelScope()
        self.tasks.start_soon(self._listen, bound, scope)

        def closed() -> None:
            scope.cancel()
            self._by_key.pop(key, None)

        on_close(closed)
        return bound

    async def _listen(self, bound: Bound, scope: anyio.CancelScope) -> None:
        sub = None
        try:
            with scope:
                sub, start = await self.fanout.subscribe_from_now(bound.agent, self.run)
                while True:
                    event = await sub.queue.get()
                    if event is None:
                        if sub.closed and sub.closed.startswith("overflow"):  # fell behind: start afresh
                            self.fanout.unsubscribe(sub)
                            sub = self.fanout.subscribe(bound.agent)
                            continue
                        return  # revoked, or the hub is stopping
                    if event.id > start and event.kind in PUSHED:  # nothing from before it was bound
                        await self._push(bound, event)
        finally:
            if sub is not None:
                self.fanout.unsubscribe(sub)

    async def _push(self, bound: Bound, event: Event) -> None:
        try:
            if event.kind in ("config_reloaded", "roles_changed"):
                now = self.tool_names(self.hub, bound.agent)
                if now != bound.listed:
                    bound.listed = now
                    await bound.session.send_tool_list_changed()
                return
            if event.kind in ("message", "broadcast"):  # only these read the database (the message's words)
                note = await self.run(lambda: channel_note(self.hub, bound.agent, event))
            else:
                note = channel_note(self.hub, bound.agent, event)
            if note is not None:
                await bound.session.send_notification(ChannelNotification(params=note))
        except Exception:  # a push is best effort: the inbox and the board stay the record
            log.debug("a push to %s was not sent", bound.agent, exc_info=True)
