"""One run as a process: started through its keeper (keeper.py) in a session of its own, its prompt on stdin, its
output read line by line into a bounded file, stopped with SIGTERM and then SIGKILL.

Nothing of a run outlives the hub: the keeper ends the run's process group when the hub's end of their socket
closes (the hub exited, however), and PR_SET_PDEATHSIG tells it too. The keeper is started from the event loop's
thread, which lives as long as the hub (PR_SET_PDEATHSIG fires when the thread that started it ends).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.abc

log = logging.getLogger("team_table.runner")

KEEPER = Path(__file__).with_name("keeper.py")
MAX_LINE = 1 << 20  # a longer line is cut here (a model's whole file in one JSON event, say)
LineSink = Callable[[str, str], None]  # (stream: "out" or "err", line)


@dataclass(frozen=True)
class Launch:
    """Everything needed to start one run."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    prompt: str
    grace: float
    output: Path  # the run's output file
    max_bytes: int  # past this the file is rotated (one older part kept beside it, as .1)


class OutputFile:
    """A run's output, one line at a time, rotated past `max_bytes`: at most twice that is ever kept."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path, self.max_bytes = path, max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("ab", buffering=0)
        self._size = self._handle.tell()

    def write(self, stream: str, line: str) -> None:
        data = (line if stream == "out" else f"[stderr] {line}").encode("utf-8", "replace") + b"\n"
        if self._size + len(data) > self.max_bytes and self._size:
            self._handle.close()
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            self._handle, self._size = self.path.open("ab", buffering=0), 0
        self._handle.write(data[: self.max_bytes])
        self._size += min(len(data), self.max_bytes)

    def close(self) -> None:
        self._handle.close()


def prune_outputs(folder: Path, keep: int) -> None:
    """Keep the output files of the newest `keep` runs in an agent's folder (run ids order them)."""
    runs = sorted((p for p in folder.glob("run-*.log")), key=lambda p: _run_number(p.name))
    for old in runs[:-keep] if keep else runs:
        for part in (old, old.with_name(old.name + ".1")):
            part.unlink(missing_ok=True)


def _run_number(name: str) -> int:
    digits = name.removeprefix("run-").split(".")[0]
    return int(digits) if digits.isdigit() else 0


def process_start(pid: int) -> str | None:
    """When a process started (boot id and clock ticks since boot): with the pid, names it across pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    return f"{boot}:{int(stat[stat.rfind(b')') + 2:].split()[19])}"


@dataclass(eq=False)
class Running:
    """A started run: its keeper, its process group, the last line it printed and when."""

    process: anyio.abc.Process
    channel: socket.socket  # the hub's end: closed when the hub exits, which tells the keeper
    grace: float
    output: OutputFile
    pgid: int | None = None
    group_start: str | None = None  # when the group's first process started (names it across pid reuse)
    started: float = field(default_factory=time.monotonic)
    last_line: str = ""
    last_output: float | None = None  # monotonic time of the last line
    stopping: str | None = None  # why the hub is stopping it

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, why: str) -> None:
        """Ask the run to stop (SIGTERM through its keeper); `finish` sends SIGKILL if it outlasts its grace."""
        if self.stopping is None:
            self.stopping = why
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the run's group and its keeper: the last resort once the grace period is over."""
        if self.pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


async def start(launch: Launch) -> Running:
    """Start the run's keeper (which starts the command), and learn the command's process group. Call from the
    event loop's thread."""
    hub_end, keeper_end = socket.socketpair()
    try:
        process = await anyio.open_process(
            [sys.executable, "-I", "-S", str(KEEPER), str(os.getpid()), f"{launch.grace:g}", str(keeper_end.fileno()),
             "--", *launch.argv],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=launch.cwd, env=launch.env,
            start_new_session=True, pass_fds=(keeper_end.fileno(),))
    except BaseException:
        hub_end.close()
        raise
    finally:
        keeper_end.close()
    run = Running(process, hub_end, launch.grace, OutputFile(launch.output, launch.max_bytes))
    await _learn_group(run)
    return run


async def follow(run: Running, prompt: str, on_line: LineSink) -> int:
    """Give the run its prompt, read its output until it ends (SIGKILL when it outlasts its grace after a stop),
    and return its exit code."""
    drained, left = anyio.Event(), [2]

    async def read(stream: str) -> None:
        await _read_lines(run, stream, on_line)
        left[0] -= 1
        if not left[0]:
            drained.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_feed, run, prompt)
        tasks.start_soon(read, "out")
        tasks.start_soon(read, "err")
        code = await _finish(run)
        with anyio.move_on_after(2):  # the keeper ended every process of the run: their pipes close with them
            await drained.wait()
        tasks.cancel_scope.cancel()
    run.output.close()
    return code


async def _feed(run: Running, prompt: str) -> None:
    """Write the prompt on the run's stdin and close it (a run that does not read it is no error)."""
    stdin = run.process.stdin
    assert stdin is not None  # start opened it as a pipe
    try:
        await stdin.send(prompt.encode("utf-8"))
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    finally:
        await stdin.aclose()


async def _learn_group(run: Running) -> None:
    """Read the command's pid (its process group) from the keeper."""
    run.channel.setblocking(False)
    data = b""
    with anyio.move_on_after(10):
        while not data.endswith(b"\n"):
            await anyio.wait_readable(run.channel)
            chunk = run.channel.recv(64)
            if not chunk:
                break
            data += chunk
    if data.strip().isdigit():
        run.pgid = int(data)
        run.group_start = process_start(run.pgid)


async def _read_lines(run: Running, stream: str, on_line: LineSink) -> None:
    """Every line of stdout or stderr into the output file and to `on_line`, until the stream ends."""
    source = run.process.stdout if stream == "out" else run.process.stderr
    assert source is not None  # start opened both as pipes
    pending = b""
    try:
        async for chunk in source:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                _line(run, stream, raw, on_line)
            if len(pending) > MAX_LINE:
                _line(run, stream, pending[:MAX_LINE], on_line)
                pending = b""
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    if pending:
        _line(run, stream, pending, on_line)


def _line(run: Running, stream: str, raw: bytes, on_line: LineSink) -> None:
    text = raw[:MAX_LINE].decode("utf-8", "replace").rstrip("\r")
    run.output.write(stream, text)
    run.last_output = time.monotonic()
    if text.strip():
        run.last_line = text
    try:
        on_line(stream, text)
    except Exception:  # what a preset makes of a line never stops the reading
        log.exception("reading a line of a run's output failed")


async def _finish(run: Running) -> int:
    """Wait for the run to end: SIGKILL when it outlasts the grace period after a stop. Returns the exit code."""
    while run.process.returncode is None:
        if run.stopping is None:
            await run.process.wait()
            break
        with anyio.move_on_after(run.grace + 3):
            await run.process.wait()
        if run.process.returncode is None:
            log.warning("run of pid %s outlasted its grace period after SIGTERM: SIGKILL", run.pid)
            run.kill()
            await run.process.wait()
    run.channel.close()
    if run.pgid and run.group_start and process_start(run.pgid) == run.group_start:
        # The keeper ends the group before it exits; only a keeper killed outright leaves some of it behind.
        log.warning("the keeper of process group %d ended before the group: SIGKILL to what is left", run.pgid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.pgid, signal.SIGKILL)
    code = run.process.returncode
    assert code is not None  # the loop above ends only once it exited
    return code


def describe_exit(code: int | None) -> str:
    if code is None:
        return "could not be started"
    if code < 0:
        return f"killed by signal {-code}"
    if code == 127:
        return "exited 127 (its command could not be started)"
    if code > 128:
        return f"exited {code} (signal {code - 128})"
    return f"exited {code}"


async def end_group(pgid: int, grace: float) -> None:
    """SIGTERM to a process group an earlier hub left, SIGKILL after `grace` seconds if it is still there."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        with anyio.move_on_after(wait):
            while True:
                try:
                    os.killpg(pgid, 0)
                except ProcessLookupError:
                    return
                await anyio.sleep(0.1)
