"""What the seated agents do, whatever the transport: round trips one at a time, and a ring of agents exchanging
messages with an exactly-once check."""

from __future__ import annotations

import time
from typing import Any

from processes import own_cpu_ms
from seats import Seating

import support


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
    """Each agent sends `messages_per_agent` messages to the next one while draining its own inbox (support.ring).

    Distinct messages received per second, the server CPU per call, and the exactly-once check."""
    seats, tally = seating.seats, seating.tally
    count = len(seats)
    for seat in seats:
        await seat.can_send(messages_per_agent)

    async def send(i: int, target: int, n: int) -> int | None:
        return await seats[i].send(seats[target].agent, f"{seats[i].agent} #{n}")

    async def read(i: int) -> list[int]:
        return await seats[i].inbox()

    cpu_before, own_before, calls_before = seating.cpu_ms(), own_cpu_ms(), tally.calls
    start = time.perf_counter()
    done = await support.ring(count, messages_per_agent, send, read, within=bound)
    elapsed = time.perf_counter() - start
    hub_cpu, own_cpu = seating.cpu_ms() - cpu_before, own_cpu_ms() - own_before
    calls = tally.calls - calls_before
    received = done["received"]
    return {"agents": count, "per_agent": messages_per_agent,
            **support.deliveries(done["sent"], received, count * messages_per_agent), "seconds": elapsed,
            "rate": sum(len(set(ids)) for ids in received.values()) / elapsed, "calls": calls,
            "cpu_per_call": hub_cpu / calls, "hub_busy": hub_cpu / (elapsed * 1000),
            "client_busy": own_cpu / (elapsed * 1000)}
