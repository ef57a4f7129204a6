"""Push latency of the network hub: from the start of a send_message call to its `message` event on the
recipient's open `GET /events/{agent}` stream, with a check of one event per message."""

from __future__ import annotations

import json
import time
from collections import Counter

import anyio
import httpx2

from seats import Seating

WARMUP = 10


class Listener:
    """One agent's /events stream, read in a task: when each `message` event arrived, by message id."""

    def __init__(self) -> None:
        self.connected = anyio.Event()
        self.changed = anyio.Event()
        self.arrived: dict[int, float] = {}
        self.seen: Counter[int] = Counter()
        self.problems: list[str] = []

    async def read(self, http: httpx2.AsyncClient, url: str, agent: str, token: str) -> None:
        async with http.stream("GET", f"{url}/events/{agent}", headers={"Authorization": f"Bearer {token}"}) as resp:
            if resp.status_code != 200:
                self.problems.append(f"GET /events/{agent} answered {resp.status_code}")
                self.connected.set()
                return
            fields: dict[str, str] = {}
            async for line in resp.aiter_lines():
                if line:
                    name, _, value = line.partition(":")
                    if name:  # a line starting with ':' is a comment (keep-alive)
                        fields[name] = fields.get(name, "") + value.removeprefix(" ")
                    continue
                self._dispatch(fields, agent, time.perf_counter())
                fields = {}

    def _dispatch(self, fields: dict[str, str], agent: str, now: float) -> None:
        kind = fields.get("event")
        if kind == "connected":
            self.connected.set()
        elif kind == "message":
            data = json.loads(fields.get("data", "{}"))
            if data.get("recipient") != agent:
                self.problems.append(f"/events/{agent} carried a message event for {data.get('recipient')}")
            self.seen[data["id"]] += 1
            self.arrived.setdefault(data["id"], now)
            changed, self.changed = self.changed, anyio.Event()
            changed.set()

    async def wait_for(self, message_id: int) -> float | None:
        """When the event of `message_id` arrived; None if it did not come within 5 seconds."""
        with anyio.move_on_after(5):
            while message_id not in self.arrived:
                await self.changed.wait()
        return self.arrived.get(message_id)


async def push(seating: Seating, base: str, pushes: int) -> dict:
    """The first seat sends to the second, one message at a time; the second's /events stream is open."""
    sender, recipient = seating.seats[:2]
    listener = Listener()
    samples: list[float] = []
    sent_ids: list[int] = []
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=60)) as http, anyio.create_task_group() as tg:
        tg.start_soon(listener.read, http, base, recipient.agent, recipient.token)
        with anyio.fail_after(10):
            await listener.connected.wait()
        for n in range(WARMUP + pushes):
            start = time.perf_counter()
            message = await sender.send(recipient.agent, f"push #{n}")
            if message is None:
                continue
            sent_ids.append(message)
            arrived = await listener.wait_for(message)
            if arrived is None:
                listener.problems.append(f"no message event on /events/{recipient.agent} for message {message} "
                                         "within 5 s")
            elif n >= WARMUP:
                samples.append((arrived - start) * 1000)
        await anyio.sleep(0.2)  # a duplicate would come right after
        tg.cancel_scope.cancel()
    duplicates = sum(n - 1 for n in listener.seen.values() if n > 1)
    strays = len(set(listener.seen) - set(sent_ids))
    once = (duplicates == strays == 0 and all(listener.seen[i] == 1 for i in sent_ids)
            and len(sent_ids) == WARMUP + pushes)
    return {"push": samples, "events": sum(listener.seen.values()), "sent": len(sent_ids), "once": once,
            "duplicates": duplicates, "strays": strays, "problems": listener.problems}
