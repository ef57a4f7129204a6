"""What the tests and the benchmark both need to drive real hubs: a free port, the ring of agents with its
exactly-once check, and seating clients at stdio hub processes started all at once.

The bench imports this module too (bench/bench.py puts this folder on its path), so it imports nothing of the
tests' own (no conftest, no pytest).
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio

Client = TypeVar("Client")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (the OS's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- the ring ------------------------------------------------------------------------------------------

Send = Callable[[int, int, int], Awaitable[Any]]  # (sender's index, recipient's index, n) -> the message's id
Read = Callable[[int], Awaitable[list[Any]]]  # (reader's index) -> the ids it read (each read once)


async def ring(count: int, per_agent: int, send: Send, read: Read, *, within: float = 180) -> dict:
    """Each of `count` agents sends `per_agent` messages to the next one while reading its own inbox, until every
    agent has sent all of its messages; then each reads once more. The ids sent to each and read by each."""
    sent: dict[int, list[Any]] = {i: [] for i in range(count)}  # by recipient
    received: dict[int, list[Any]] = {i: [] for i in range(count)}
    finished = 0
    all_sent = anyio.Event()

    async def sender(i: int) -> None:
        nonlocal finished
        target = (i + 1) % count
        for n in range(per_agent):
            message = await send(i, target, n)
            if message is not None:
                sent[target].append(message)
        finished += 1
        if finished == count:
            all_sent.set()

    async def reader(i: int) -> None:
        while not all_sent.is_set():
            received[i].extend(await read(i))
        received[i].extend(await read(i))  # what came after the last read

    with anyio.fail_after(within):
        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(sender, i)
                tg.start_soon(reader, i)
    return {"sent": sent, "received": received}


def deliveries(sent: dict[int, list[Any]], received: dict[int, list[Any]], expected: int) -> dict:
    """The exactly-once check of a ring: the ids sent to each agent against the ids it read."""
    duplicates = sum(n - 1 for ids in received.values() for n in Counter(ids).values() if n > 1)
    lost = sum(len(set(sent[i]) - set(received[i])) for i in sent)
    strays = sum(len(set(received[i]) - set(sent[i])) for i in sent)
    total_sent = sum(len(ids) for ids in sent.values())
    total_received = sum(len(ids) for ids in received.values())
    exactly_once = duplicates == lost == strays == 0 and total_sent == expected == total_received
    return {"sent": total_sent, "received": total_received, "duplicates": duplicates, "lost": lost,
            "strays": strays, "expected": expected, "exactly_once": exactly_once}


# ---- stdio hub processes -------------------------------------------------------------------------------

@asynccontextmanager
async def stdio_clients(count: int, open_client: Callable[[int, Any], AbstractAsyncContextManager[Client]],
                        ready: Callable[[Client], Awaitable[Any]], logs: Path, *, within: float = 120,
                        names: Sequence[str] | None = None) -> AsyncIterator[list[Client]]:
    """`count` stdio hub processes started at once, each by its own client (`open_client(index, errlog)`, whose
    stderr goes to logs/<name>.log); yielded once every one has answered `ready(client)`, closed at the end.

    Each client is held open by a task of its own, so the processes start in parallel (a handshake-era client waits
    for its initialize inside `async with`)."""
    logs.mkdir(parents=True, exist_ok=True)
    found: list[Client | None] = [None] * count
    up = [anyio.Event() for _ in range(count)]
    closing = anyio.Event()

    async def hold(index: int) -> None:
        log = logs / f"{names[index] if names else f'server-{index}'}.log"
        try:
            with log.open("a") as errlog:
                async with open_client(index, errlog) as client:
                    await ready(client)
                    found[index] = client
                    up[index].set()
                    await closing.wait()
        except Exception as exc:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-8:]) if log.exists() else ""
            raise RuntimeError(f"hub process {index} failed: {exc!r}; its log ends:\n{tail}") from exc

    async with anyio.create_task_group() as tg:
        for index in range(count):
            tg.start_soon(hold, index)
        try:
            with anyio.fail_after(within):
                for event in up:
                    await event.wait()
            yield [client for client in found if client is not None]
        finally:
            closing.set()
