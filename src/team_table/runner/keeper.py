"""The keeper of one run: started by the hub as `python -I -S keeper.py HUB_PID GRACE FD -- ARGV...` in a session
of its own, it starts ARGV and outlives it by a moment, so that nothing of the run outlives the hub.

ARGV runs in a process group of its own (its pid), which the keeper is not in. The keeper ends that group (SIGTERM,
then SIGKILL after GRACE seconds) when:
- the hub goes away, however it went: the socket FD (the other end is the hub's) reads end-of-file once the hub
  process is gone (the kernel closes its end, SIGKILL included), and PR_SET_PDEATHSIG sends SIGTERM as well;
- the hub asks (SIGTERM, SIGINT or SIGHUP to this process);
- ARGV's process exits (what it left behind in the group, or reparented to this process, is ended too).

It is a child subreaper, so descendants that leave the group (setsid) are reparented here and are ended as well.
It writes ARGV's pid (the run's process group) on FD once started, and exits with ARGV's exit code (128 + N
when a signal N ended it; 127 when ARGV could not be started).
Standalone on purpose: the standard library only, nothing of team_table, so it starts in a few milliseconds.
"""

import contextlib
import os
import select
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
STOPS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _prctl(option: int, value: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the pipe alone tells the hub is gone
        pass


def _children() -> list[int]:
    """Processes whose parent is this one (reparented descendants included), from /proc."""
    me, found = os.getpid(), []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == me:
            found.append(int(name))
    return found


def _signal_all(group: int, sig: int) -> None:
    """`sig` to the run's process group and to every child of this process (descendants that left the group)."""
    with contextlib.suppress(OSError):
        os.killpg(group, sig)
    for pid in _children():
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def _reap(main: int, status: list[int]) -> bool:
    """Reap every exited child; note the main one's status. True when no child is left."""
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            return False
        if pid == main:
            status.append(code)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except OSError:
        return False
    return True


def _exit_code(status: list[int]) -> int:
    if not status:
        return 128 + signal.SIGKILL
    code = status[0]
    if os.WIFEXITED(code):
        return os.WEXITSTATUS(code)
    if os.WIFSIGNALED(code):
        return 128 + os.WTERMSIG(code)
    return 1


def _end(main: int, status: list[int], grace: float) -> int:
    """SIGTERM to everything of the run, SIGKILL to what is left after `grace` seconds; ARGV's exit code."""
    if _reap(main, status) and not _group_alive(main):
        return _exit_code(status)
    _signal_all(main, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if _reap(main, status) and not _group_alive(main):
            return _exit_code(status)
        time.sleep(0.05)
    for _ in range(250):  # about 5 s: SIGKILL cannot be refused, only a process stuck in the kernel outlasts it
        _signal_all(main, signal.SIGKILL)
        if _reap(main, status) and not _group_alive(main):
            break
        time.sleep(0.02)
    return _exit_code(status)


def main(argv: list[str]) -> int:
    hub_pid, grace, fd = int(argv[1]), float(argv[2]), int(argv[3])
    command = argv[argv.index("--") + 1:]
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    stopped: list[int] = []
    for sig in STOPS:
        signal.signal(sig, lambda number, frame: stopped.append(number))
    signal.signal(signal.SIGCHLD, lambda number, frame: None)  # wakes the select below
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    os.set_inheritable(fd, False)
    if os.getppid() != hub_pid:  # the hub went away before PR_SET_PDEATHSIG was set
        return 128 + signal.SIGTERM
    main_pid = os.fork()
    if main_pid == 0:
        os.setpgid(0, 0)  # a group of its own (this process stays out of it): the run's group is this pid
        for sig in (*STOPS, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(2, f"team-table: cannot start {command[0]!r}: {exc.strerror or exc}\n".encode())
        os._exit(127)
    with contextlib.suppress(OSError):  # it did so itself, and may have exec'd already
        os.setpgid(main_pid, main_pid)  # also here, so the group exists before either side goes on
    os.close(0)  # ARGV reads the prompt; this process never does
    with contextlib.suppress(OSError):  # the hub is gone already: the read below says so
        os.write(fd, f"{main_pid}\n".encode())
    status: list[int] = []
    while not stopped:
        ready, _, _ = select.select([fd, wake_r], [], [])
        if fd in ready and not os.read(fd, 64):
            break  # the hub is gone
        if wake_r in ready:
            os.read(wake_r, 512)
        _reap(main_pid, status)
        if status:
            break
    return _end(main_pid, status, grace)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
