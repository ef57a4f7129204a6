"""The processes the bench starts, and what /proc says about them: CPU time, memory, wake-ups, children."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

CLOCK_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()  # fields from the 3rd (state) on; comm may hold spaces


def children() -> set[int]:
    """Pids of this process's children (the stdio client spawns each server as one)."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == me:
                    found.add(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # the process ended while we looked
    return found


def cpu_ms(pids: set[int]) -> float:
    """User + system CPU time of the processes (all their threads) so far, in milliseconds."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total * CLOCK_TICK_MS


def own_cpu_ms() -> float:
    """User + system CPU time of this process (the bench's clients) so far, in milliseconds."""
    times = os.times()
    return (times.user + times.system) * 1000


def context_switches(pid: int) -> int:
    """Voluntary context switches of all the process's threads so far: about how often it woke up."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except OSError:
            continue  # the thread ended while we looked
    return total


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (the peak) of a process, in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024  # kB
    return found


def filesystem_of(path: Path) -> str:
    """The type of the file system holding `path` (ext4, tmpfs, ...), from /proc/self/mounts."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount, fstype, *_ = line.split()
        if (resolved == mount or resolved.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
            best, kind = mount, fstype
    return kind


def log_tail(log: Path, lines: int = 8) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


@asynccontextmanager
async def listening(args: list[str], port: int, log: Path, env: dict[str, str], cwd: Path,
                    stop: signal.Signals = signal.SIGTERM) -> AsyncIterator[int]:
    """Start a server process; yield its pid once it accepts connections on `port`; stop it with `stop`."""
    with log.open("a") as errlog:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=errlog, stderr=errlog, env=env, cwd=cwd)
    try:
        with anyio.fail_after(60):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{args[1:4]} exited with status {proc.returncode}; its log ends:\n"
                                       f"{log_tail(log)}")
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    await anyio.sleep(0.05)
                    continue
                await stream.aclose()
                break
        yield proc.pid
    finally:
        proc.send_signal(stop)
        try:
            await anyio.to_thread.run_sync(proc.wait, 20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def named(comm: str) -> set[int]:
    """Pids of the processes whose command name is `comm` (e.g. the PostgreSQL server's, `postgres`)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == comm:
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def children_of(parent: int) -> set[int]:
    """Pids of the processes whose parent is `parent`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == parent:
                    found.add(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def reaped_cpu_ms(pid: int) -> float:
    """CPU time of the children `pid` has waited for (ended ones), in milliseconds."""
    fields = _stat_fields(pid)
    return (int(fields[13]) + int(fields[14])) * CLOCK_TICK_MS  # cutime, cstime (fields 16 and 17 of stat)


def parent_of(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def cpu_ms_of_living(pids: set[int]) -> float:
    """As cpu_ms, skipping the processes that ended meanwhile (a database server's connections come and go)."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_ms({pid})
        except (OSError, ValueError, IndexError):
            continue
    return total
