"""What the seated agents do, whatever the transport: round trips one at a time, and a ring of agents exchanging
messages with an exactly-once check."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import anyio

from processes import own_cpu_ms
from seats import Seating


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def timed(samples: list[float], call) -> Any:
    start = time.perf_counter()
    result = await call
    samples.append((time.perf_counter() - start) * 1000)
    return result


async def latency(seating: Seating, calls: int, warmup: int) -> dict:
    """Round trips through the first seat, one at a time: send to itself, read that message, poll the empty inbox.

    Latencies after the warm-up, and the server CPU per call over the timed calls."""
    seat, tally = seating.seats[0], seating.tally
    await seat.can_send(warmup + calls)
    send_ms: list[float] = []
    read_ms: list[float] = []
    poll_ms: list[float] = []
    cpu_before = calls_before = 0.0
    for n in range(warmup + calls):
        if n == warmup:  # measure from here on
            for samples in (send_ms, read_ms, poll_ms):
                samples.clear()
            cpu_before, calls_before = seating.cpu_ms(), tally.calls
        sent = await timed(send_ms, seat.send(seat.agent, f"message {n}"))
        inbox = await timed(read_ms, seat.inbox())
        if inbox != [sent]:
            tally.errors.append(f"get_messages returned ids {inbox} right after message {sent}")
        again = await timed(poll_ms, seat.inbox())
        if again:
            tally.errors.append(f"get_messages returned ids {again} a second time")
    cpu = (seating.cpu_ms() - cpu_before) / (tally.calls - calls_before)
    return {"send": send_ms, "read": read_ms, "poll": poll_ms, "cpu_per_call": cpu}


async def sends(seating: Seating, count: int) -> dict:
    """One client sending to itself as fast as it can, one call at a time: sends per second."""
    seat = seating.seats[0]
    await seat.can_send(count)
    start = time.perf_counter()
    for n in range(count):
        await seat.send(seat.agent, f"tight loop {n}")
    return {"count": count, "rate": count / (time.perf_counter() - start)}


async def echo_latency(seating: Seating, calls: int, warmup: int) -> dict:
    """Round trips to a bare server's echo tool after a warm-up; their latencies and the server CPU per call."""
    seat = seating.seats[0]
    samples: list[float] = []
    for _ in range(warmup):
        await seat.echo("warm up")
    cpu_before = seating.cpu_ms()
    for n in range(calls):
        await timed(samples, seat.echo(f"call {n}"))
    return {"echo": samples, "cpu_per_call": (seating.cpu_ms() - cpu_before) / calls}


async def ring(seating: Seating, messages_per_agent: int, bound: float = 180) -> dict:
    """Each agent sends `messages_per_agent` messages to the next one while draining its own inbox.

    Distinct messages received per second, the server CPU per call, and the exactly-once check."""
    seats, tally = seating.seats, seating.tally
    count = len(seats)
    for seat in seats:
        await seat.can_send(messages_per_agent)
    sent: dict[int, list[int]] = {i: [] for i in range(count)}  # by recipient
    received: dict[int, list[int]] = {i: [] for i in range(count)}
    finished = 0
    all_sent = anyio.Event()

    async def send(i: int) -> None:
        nonlocal finished
        target = (i + 1) % count
        for n in range(messages_per_agent):
            message = await seats[i].send(seats[target].agent, f"{seats[i].agent} #{n}")
            if message is not None:
                sent[target].append(message)
        finished += 1
        if finished == count:
            all_sent.set()

    async def drain(i: int) -> None:
        while not all_sent.is_set():
            received[i].extend(await seats[i].inbox())
        received[i].extend(await seats[i].inbox())  # what came after the last poll

    cpu_before, own_before, calls_before = seating.cpu_ms(), own_cpu_ms(), tally.calls
    start = time.perf_counter()
    with anyio.fail_after(bound):
        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(send, i)
                tg.start_soon(drain, i)
    elapsed = time.perf_counter() - start
    hub_cpu, own_cpu = seating.cpu_ms() - cpu_before, own_cpu_ms() - own_before
    calls = tally.calls - calls_before
    return {"agents": count, "per_agent": messages_per_agent,
            **deliveries(sent, received, count * messages_per_agent), "seconds": elapsed,
            "rate": sum(len(set(ids)) for ids in received.values()) / elapsed, "calls": calls,
            "cpu_per_call": hub_cpu / calls, "hub_busy": hub_cpu / (elapsed * 1000),
            "client_busy": own_cpu / (elapsed * 1000)}


def deliveries(sent: dict[int, list[int]], received: dict[int, list[int]], expected: int) -> dict:
    """The exactly-once check of a ring: message ids sent to each agent against the ids it read."""
    duplicates = sum(n - 1 for ids in received.values() for n in Counter(ids).values() if n > 1)
    lost = sum(len(set(sent[i]) - set(received[i])) for i in sent)
    strays = sum(len(set(received[i]) - set(sent[i])) for i in sent)
    total_sent = sum(len(ids) for ids in sent.values())
    total_received = sum(len(ids) for ids in received.values())
    exactly_once = duplicates == lost == strays == 0 and total_sent == expected == total_received
    return {"sent": total_sent, "received": total_received, "duplicates": duplicates, "lost": lost,
            "strays": strays, "expected": expected, "exactly_once": exactly_once}
