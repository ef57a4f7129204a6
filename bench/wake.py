"""Agents that hear the table: how soon a waiting agent is woken by a message, what 200 open waits cost an otherwise
idle network hub, and the size of what a connection lists (tools/list) and of a catch_up.

One network hub serves, in order: the sizes (catch_up lists who is active, so the team is still small then), the
wake-ups over HTTP, the 200 waiters; then two stdio hub processes on one database wake each other.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time

import anyio
from mcp.types import TextContent

from processes import CLOCK_TICK_MS, cpu_ms, listening
from report import Report
from seats import Seat, Seating, http_seating, stdio_seating
from servers import CEILING_SERVER, NO_RATE_LIMIT, Workspace, network_hub, write_team

from support import free_port

TARGET_HTTP_MS, TARGET_STDIO_MS, TARGET_SHARE, TARGET_CATCH_UP = 5.0, 150.0, 2.0, 1024
WAKES = {"full": (200, 100), "quick": (50, 30)}  # timed wake-ups: over HTTP, across stdio processes
WARMUP = 5
GAP_SECONDS = (0.05, 0.15)  # how long a wait is open before the send that wakes it: at random, within these
WAITERS, SETTLE_SECONDS, MAX_SETTLE_SECONDS, WINDOW_SECONDS, QUIET_SHARE = 200, 3.0, 20.0, 10.0, 5.0
SWEEP_SECONDS = 16.0  # the hub's presence sweep runs every 15 s (with the default idle_after_seconds)
# Declared in team.yaml with a token: the catching-up coder, the lead and two peers who fill its backlog.
DECLARED = {"dev": "coder", "lead": "lead", "peer-1": "coder", "peer-2": "coder"}
THREADS, PER_THREAD, TASKS, REVIEWS = 6, 5, 5, 2


def _say(text: str) -> None:
    print(text, file=sys.stderr)


async def wake_part(ws: Workspace, mode: str, quick: bool) -> bool:
    from team_table import tokens  # here, so that the other parts run on a release without it
    from team_table.store import open_store

    http_wakes, stdio_wakes = WAKES["quick" if quick else "full"]
    folder, minted = ws.folder("wake"), {name: tokens.mint() for name in DECLARED}
    agents = "".join(f"  {name}:\n    role: {role}\n    token_hashes: [\"{tokens.file_hash(minted[name])}\"]\n"
                     for name, role in DECLARED.items())
    write_team(folder, extra=f"agents:\n{agents}{NO_RATE_LIMIT}")
    port, errors = free_port(), []
    url = f"http://127.0.0.1:{port}/mcp"
    async with listening(network_hub([sys.executable, "-m", "team_table"], folder, port), port,
                         ws.logs / "wake-hub.log", ws.env, folder) as pid:
        _say("measuring tool lists and a catch_up with a backlog...")
        async with http_seating(url, [None, *DECLARED], mode, pid, declared=minted) as seating:
            sizes = await _sizes(seating)
        errors += seating.tally.errors
        _say(f"measuring {http_wakes} wake-ups through the network hub...")
        async with http_seating(url, ["wake-a", "wake-b"], mode, pid) as seating:
            http = await wakes(seating, http_wakes)
        errors += seating.tally.errors
        _say(f"measuring {WAITERS} agents idle, then waiting, on the network hub (about 50 s)...")
        idle = await waiters(url, mode, pid)
        errors += idle["errors"]
    _say(f"measuring {http_wakes} sends through the ceiling, each after the same idle gap...")
    ceiling_port = free_port()
    async with listening([sys.executable, str(CEILING_SERVER), "http", str(ceiling_port)], ceiling_port,
                         ws.logs / "wake-ceiling.log", ws.env, folder) as ceiling_pid, \
            http_seating(f"http://127.0.0.1:{ceiling_port}/mcp", ["gap-a", "gap-b"], mode, ceiling_pid) as seating:
        ceiling = await sends_after_a_gap(seating, http_wakes)
    errors += seating.tally.errors
    _say(f"measuring {stdio_wakes} wake-ups across two stdio hub processes...")
    open_store(folder / "stdio.db").close()  # both processes start on an existing database
    async with stdio_seating(ws.hub(folder, "stdio.db"), ["wake-a", "wake-b"], mode, ws.logs) as seating:
        stdio = await wakes(seating, stdio_wakes)
    errors += seating.tally.errors

    report = Report("wake (waits, catch_up, tool lists)", quick, mode)
    report.notes.append(f"wake-ups: {WARMUP} warm-up then {http_wakes} (HTTP) and {stdio_wakes} (stdio) timed, one "
                        f"at a time; each wait is open {GAP_SECONDS[0] * 1000:.0f} to {GAP_SECONDS[1] * 1000:.0f} "
                        "ms (at random) before the send starts; the ceiling's sends wait as long")
    for label, found, target in (("HTTP", http, TARGET_HTTP_MS), ("stdio, across processes", stdio, TARGET_STDIO_MS)):
        report.timing(f"{label}: send_message start to wait_for_messages return", found["wake"],
                      f"p50 < {target:.0f} ms", bool(found["wake"]) and statistics.median(found["wake"]) < target)
        report.timing(f"{label}: the send_message round trip itself", found["send"])
        if label == "HTTP":
            report.timing("HTTP: the ceiling's send_message round trip after the same idle gap", ceiling)
    report.value(f"{WAITERS} bound sessions, no wait open: hub CPU, % of one core", f"{idle['sessions']:.2f}")
    report.value(f"{WAITERS} open waits, one per session: hub CPU, % of one core", f"{idle['share']:.2f}",
                 f"< {TARGET_SHARE:.0f} %", idle["share"] < TARGET_SHARE)
    report.value(f"{WAITERS} agents arriving: hub CPU until quiet (ms)", f"{idle['arrival_cpu']:.0f}")
    report.value(f"{WAITERS} waits issued: hub CPU until quiet (ms)", f"{idle['issue_cpu']:.0f}")
    report.value(f"{WAITERS} open waits: broadcast start to the last wait's return", f"{idle['last_ms']:.1f}")
    for label, size in (("unbound", sizes["unbound"]), ("bound to a coder", sizes["coder"]),
                        ("bound to a lead", sizes["lead"])):
        report.value(f"tools/list, {label} (bytes)", str(size))
    report.value(f"catch_up, {THREADS * PER_THREAD} unread in {THREADS} threads, {TASKS} tasks, {REVIEWS} reviews "
                 "(bytes)", str(sizes["catch_up"]),
                 f"< {TARGET_CATCH_UP} bytes", sizes["catch_up"] < TARGET_CATCH_UP)
    report.tool_errors(errors)
    for label, found in (("HTTP", http), ("stdio", stdio)):
        report.check(f"{label}: each wait returned its message, once", f"{found['woken']}/{found['sent']}",
                     "all", found["woken"] == found["sent"] == found["expected"])
    report.check(f"{WAITERS} waits: each returned the broadcast, once", f"{idle['once']}/{WAITERS}", "all",
                 idle["once"] == WAITERS)
    report.check("catch_up counted the backlog", sizes["counted"], sizes["backlog"],
                 sizes["counted"] == sizes["backlog"])
    for label, found in (("HTTP", http), ("stdio", stdio)):
        report.after.append(f"{label}: wake max {max(found['wake'], default=0):.1f} ms; wait return minus send "
                            f"return, p50 {_median(found['after_send']):+.2f} ms")
    report.after.append(f"{WAITERS} agents: each CPU window ({WINDOW_SECONDS:.0f} s) began once a second of the "
                        f"hub's CPU was under {QUIET_SHARE:.0f} % of a core (the first, past a presence sweep); CPU "
                        f"is counted in ticks of {CLOCK_TICK_MS:.0f} ms; waits returned before the broadcast: "
                        f"{idle['early']}; messages read again afterwards: {idle['again']}")
    report.after.append("sizes: tools/list, the tools array of the answer as compact JSON; catch_up, the text of the "
                        "answer (JSON) for a declared coder after 3 members wrote to it and its lead gave it tasks")
    return report.print()


async def wakes(seating: Seating, count: int) -> dict:
    """The first seat waits (wait_for_messages), the second sends it a message, one wake-up at a time: from the
    send's start to the wait's return, the send's own round trip, and whether each wait returned its message."""
    waiter, sender = seating.seats[:2]
    await sender.can_send(WARMUP + count)
    wake_ms: list[float] = []
    send_ms: list[float] = []
    after_send: list[float] = []
    woken = sent_count = 0
    for n in range(WARMUP + count):
        sent, start, answered, (at, ids) = await _wake(waiter, sender, f"wake up #{n}")
        if sent is None:
            continue
        if n >= WARMUP:
            sent_count += 1
        if ids != [sent]:
            seating.tally.errors.append(f"wait_for_messages returned {ids} for message {sent}")
        elif n >= WARMUP:
            woken += 1
            wake_ms.append((at - start) * 1000)
            send_ms.append((answered - start) * 1000)
            after_send.append((at - answered) * 1000)
    return {"wake": wake_ms, "send": send_ms, "after_send": after_send, "woken": woken, "sent": sent_count,
            "expected": count}


async def sends_after_a_gap(seating: Seating, count: int) -> list[float]:
    """The first seat sends the second a message after the idle gap a wake-up's wait leaves, one at a time, and the
    second reads it: the sends' round trips. Through the ceiling (bench/ceiling_server.py) this is the part of a
    wake-up the machine and the SDK take whatever the hub does (an idle process is slower to answer than a busy one)."""
    sender, reader = seating.seats[:2]
    samples: list[float] = []
    for n in range(WARMUP + count):
        await anyio.sleep(random.uniform(*GAP_SECONDS))
        start = time.perf_counter()
        sent = await sender.send(reader.agent, f"after a gap #{n}")
        if n >= WARMUP:
            samples.append((time.perf_counter() - start) * 1000)
        if await reader.inbox() != [sent]:
            seating.tally.errors.append(f"get_messages did not return message {sent} once")
    return samples


async def _wake(waiter: Seat, sender: Seat, content: str) -> tuple:
    """One wake-up: the id sent, when the send started and returned, and when the wait returned with what ids."""
    returned: list = []

    async def wait() -> None:
        ids = await waiter.wait(30)
        returned.append((time.perf_counter(), ids))

    with anyio.fail_after(40):
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            # The wait is open by now; a random delay lands the send at any point of a stdio hub's 0.1 s poll.
            await anyio.sleep(random.uniform(*GAP_SECONDS))
            start = time.perf_counter()
            sent = await sender.send(waiter.agent, content)
            answered = time.perf_counter()
    return sent, start, answered, returned[0]


def _median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else 0.0


async def waiters(url: str, mode: str, pid: int) -> dict:
    """WAITERS agents arrive (register, open a bound session, call heartbeat) and sit idle for a window; then each
    holds a wait open for a window; then one more agent broadcasts, and each wait must return that one message
    (and nothing be left to read afterwards). The hub's CPU: over each window, and until quiet before each.

    Arriving agents cost the hub a burst of work: within one presence sweep each turns active, an event that every
    bound connection hears. So the first window starts after a sweep has passed, and each once a second of the
    hub's CPU was under QUIET_SHARE."""
    answers: dict[str, list[int]] = {}
    returned: list[float] = []

    async def wait(seat: Seat) -> None:
        answers[seat.agent] = await seat.wait(50)
        returned.append(time.perf_counter())

    began, cpu_before = time.perf_counter(), cpu_ms({pid})
    async with http_seating(url, [*(f"waiter-{n}" for n in range(WAITERS)), "announcer"], mode, pid) as seating:
        *waiting, announcer = seating.seats
        for seat in seating.seats:
            await seat.call("heartbeat")  # a first call: the hub starts listening for a legacy session
        arrival_cpu = await _until_quiet(pid, began, SWEEP_SECONDS) - cpu_before
        sessions = await _share(pid, WINDOW_SECONDS)
        sent_at = time.perf_counter()  # set again when the broadcast goes out
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                issued, cpu_before = time.perf_counter(), cpu_ms({pid})
                for seat in waiting:
                    tg.start_soon(wait, seat)
                issue_cpu = await _until_quiet(pid, issued, SETTLE_SECONDS) - cpu_before
                share = await _share(pid, WINDOW_SECONDS)
                early = len(answers)
                sent_at = time.perf_counter()
                answer = await announcer.call("broadcast", content="stand-up in five minutes, everyone")
        broadcast = answer.get("id") if isinstance(answer, dict) else None
        again = {seat.agent: await seat.inbox() for seat in waiting}  # a second delivery would be here
    once = sum(1 for seat in waiting if answers.get(seat.agent) == [broadcast] and not again[seat.agent])
    return {"sessions": sessions, "share": share, "arrival_cpu": arrival_cpu, "issue_cpu": issue_cpu,
            "early": early, "once": once, "again": sum(map(len, again.values())),
            "last_ms": (max(returned, default=sent_at) - sent_at) * 1000, "errors": seating.tally.errors}


async def _until_quiet(pid: int, since: float, at_least: float) -> float:
    """Wait until `at_least` seconds have passed since `since`, then until a second of the process's CPU is under
    QUIET_SHARE (for MAX_SETTLE_SECONDS at most); its CPU time then."""
    await anyio.sleep(max(0.0, since + at_least - time.perf_counter()))
    give_up = time.perf_counter() + MAX_SETTLE_SECONDS
    while time.perf_counter() < give_up and await _share(pid, 1.0) >= QUIET_SHARE:
        continue
    return cpu_ms({pid})


async def _share(pid: int, seconds: float) -> float:
    """The process's CPU over the next `seconds`, in % of one core."""
    before, start = cpu_ms({pid}), time.perf_counter()
    await anyio.sleep(seconds)
    return (cpu_ms({pid}) - before) / ((time.perf_counter() - start) * 10)


def _bytes(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


async def _sizes(seating: Seating) -> dict:
    """tools/list of an unbound session and of sessions bound to a coder and to a lead; then a catch_up of the
    coder after its peers and its lead left it a backlog: messages in threads, tasks, reviews."""
    unbound, dev, lead, *peers = seating.seats
    lists = {name: await seat.client.list_tools() for name, seat in (("unbound", unbound), ("coder", dev),
                                                                     ("lead", lead))}
    sizes = {name: _bytes([tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in found.tools])
             for name, found in lists.items()}
    await dev.call("catch_up")  # it was here; what follows came while it was away
    senders = [lead, *peers]
    for thread in range(THREADS):
        who = senders[thread % len(senders)]
        first = await who.send("dev", f"Thread {thread}: the parser rejects nested lists in config files; I put "
                                      "a failing case in tests/test_config.py, can you look before the release?")
        for n in range(1, PER_THREAD):
            await who.call("send_message", recipient="dev", reply_to=first,
                           content=f"Follow-up {n} on thread {thread}: it also fails when the list is empty, and "
                                   "the error message names the wrong line. Logs are in the shared context.")
    for n in range(TASKS):
        await lead.call("create_task", title=f"Fix the config parser for nested lists, case {n}", assignee="dev",
                        priority="high" if n < 2 else "medium", description="See the thread and the failing test.")
    for n in range(REVIEWS):
        task = await lead.call("create_task", title=f"Add the migration for the audit index, part {n}",
                               assignee="peer-1", reviewer="dev")
        task_id = task.get("id") if isinstance(task, dict) else 0
        await peers[0].call("claim_task", task_id=task_id)
        await peers[0].call("update_task", task_id=task_id, status="awaiting_review", result="ready, see the diff")
    seating.tally.calls += 1
    result = await dev.client.call_tool("catch_up", {})
    first = result.content[0] if result.content and not result.is_error else None
    text = first.text if isinstance(first, TextContent) else ""
    if not text:
        seating.tally.errors.append(f"catch_up: {result.content}")
    found = json.loads(text) if text else {}
    counted = (f"{found.get('unread')} unread ({found.get('notices', 0)} notices), {len(found.get('tasks', []))} "
               f"tasks, {len(found.get('review', []))} reviews")
    # A task given to the coder, and a review asked of it, each leave it a notice, counted among its unread.
    notices = TASKS + REVIEWS
    backlog = f"{THREADS * PER_THREAD + notices} unread ({notices} notices), {TASKS} tasks, {REVIEWS} reviews"
    return {**sizes, "catch_up": len(text.encode()), "counted": counted, "backlog": backlog}
