"""The SQLite database file itself: opening it (WAL, owner-only), the lock beside it that says which processes have it
open, waiting out another process's write lock, and what SQLite's and the OS's errors about the file mean."""

from __future__ import annotations

import errno
import logging
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from team_table.errors import Busy, Conflict, Unavailable

log = logging.getLogger("team_table.store.sqlite")

# How long a writer waits for the lock in total (busy_timeout, then our own retries) before giving up.
BUSY_TIMEOUT_MS = 5000
_RETRIES = 6
SYNCHRONOUS = ("full", "normal")
DEFAULT_DB = Path("~/.team-table/team_table.db")  # where the table is kept when nothing says otherwise
IN_USE = "-hubs"  # beside the file: every process with the table open for writing holds a shared lock on it


def hold_in_use(path: Path) -> int | None:
    """Say, for as long as this process has the table open, that it does (a shared lock `migrate` checks): None
    where there are no such locks (not POSIX)."""
    try:
        import fcntl
    except ImportError:
        return None
    fd = os.open(f"{path}{IN_USE}", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Unavailable(f"team-table migrate is copying {path} to PostgreSQL right now: wait for it to finish, "
                          "then point this hub at the PostgreSQL database.") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def only_user(path: Path) -> Iterator[None]:
    """While the block runs, no other process has the table open for writing (hubs, stdio or network, and CLI
    commands that write), and none can open it: refused with Conflict if one has it now."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    try:
        fd = os.open(f"{path}{IN_USE}", os.O_CREAT | os.O_RDWR, 0o600)
    except OSError:  # a folder no process could write in: nobody has the table open for writing
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(f"A hub, or another team-table process, has {path} open (network hubs, and the stdio hubs "
                           "your agents' MCP clients start): what it writes after the copy would be lost. Stop them "
                           "all (close the agents' clients too), then migrate again. Nothing was copied.") from None
        yield
    finally:
        os.close(fd)


def file_problem(text: str) -> str | None:
    if "disk is full" in text:
        return "the disk is full"
    if "readonly" in text or "read-only" in text:
        return "the file or its folder is read-only"
    if "disk I/O error" in text:
        return "the disk reported an I/O error"
    if "unable to open" in text:
        return "the file cannot be opened"
    return None


_OS_PROBLEMS: dict[int | None, str] = {  # looked up by an OSError's errno, which may be None
    errno.EROFS: "the file or its folder is read-only", errno.ENOSPC: "the disk is full",
    errno.EACCES: "the file or its folder is not writable by this user"}


def os_problem(exc: OSError) -> str:
    return _OS_PROBLEMS.get(exc.errno, exc.strerror or str(exc))


def cannot_write(path: Path, why: str) -> str:
    return (f"The hub's database cannot be written ({why}): {path}. Nothing was changed. Free disk space or fix the "
            "file's permissions; the hub picks up again by itself once it can write.")


def connect(path: Path, synchronous: str, read_only: bool) -> sqlite3.Connection:
    if read_only:
        if not path.is_file():
            raise Unavailable(f"There is no table at {path} yet: start the hub (`team-table up`) to create it, "
                              "or point --db at the right file.")
        conn = _open_read_only(path)
    else:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if read_only:
        conn.execute("PRAGMA query_only=ON")
        return conn
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS}")
    # Switching a new file to WAL takes an exclusive lock and may fail at once, without the busy
    # handler, when several hub processes open the same new file together: retry it.
    try:
        _retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL"), "PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        conn.close()
        why = file_problem(str(exc)) or str(exc)
        raise Unavailable(cannot_write(path, why)) from None
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    return conn


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Read-only, without writing anything: a WAL file on a read-only folder has no -shm to share, so it is then
    opened as immutable (nobody can be writing it there)."""
    uri = f"file:{path}?mode=ro"
    for attempt in (uri, uri + "&immutable=1"):
        conn = sqlite3.connect(attempt, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return conn
        except sqlite3.OperationalError:
            conn.close()
    raise Unavailable(f"The database {path} cannot be read: check the permissions of the file and its folder.")


def begin_immediate(conn: sqlite3.Connection) -> None:
    # busy_timeout already waits; the retries only cover the rare case where SQLite
    # returns SQLITE_BUSY without calling the busy handler (e.g. during WAL recovery).
    _retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"), "BEGIN IMMEDIATE")


def _retry_busy(step: Callable[[], object], what: str) -> None:
    for attempt in range(_RETRIES):
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            log.warning("database busy on %s (attempt %d)", what, attempt + 1)
            time.sleep(0.01 * (2**attempt) * (1 + random.random()))
    raise Busy("The hub's database is busy right now; nothing was changed. Try the call again.")


def private_dir(folder: Path) -> None:
    """Create the folder owner-only; a folder that already exists is the user's to keep as it is."""
    try:
        folder.mkdir(parents=True, mode=0o700)
    except FileExistsError:  # it was there, or another hub process made it a moment ago
        return
    os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask


def private_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", IN_USE):
        candidate = Path(f"{path}{suffix}")
        if candidate.exists():
            os.chmod(candidate, 0o600)
