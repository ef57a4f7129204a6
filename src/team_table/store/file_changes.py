"""Hearing another process write a SQLite file, without polling: Linux's inotify on the file's folder, read by the
event loop itself (no thread, no timer; an idle process is not woken at all). Where inotify is not to be had (another
system, a file system without it), `watch_file` says so and the caller polls instead.

A write is heard as it starts, before its commit is in the WAL index (mapped memory, which makes no event): the watch
looks at the database's version again after AGAIN_AFTER, and tells the callbacks once more whenever it moved, so a
commit whose sync takes up to the last of those delays is heard without a poll."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import struct
from collections.abc import Callable
from functools import cache
from pathlib import Path

log = logging.getLogger("team_table.store")

IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x2, 0x8, 0x40, 0x80, 0x100, 0x200
IN_Q_OVERFLOW, IN_ISDIR = 0x4000, 0x40000000
WRITES = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE  # what a database file's writes make
SAVES = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE  # a file saved whole, or gone
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name
AGAIN_AFTER = (0.025, 0.15, 0.5, 1.5, 5.0)  # seconds after the last event heard: look at the version again


@cache
def _libc():
    """This process's C library, for inotify: the one already loaded (ctypes.util.find_library would run
    `ldconfig -p` at every watch, a process per hub start and per config watcher)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    return libc if hasattr(libc, "inotify_init1") else None


class FileWatch:
    """Calls its callbacks (on the event loop) after any of `names` in `folder` was written, created or replaced, and
    again after each event as long as `version()` moves (see AGAIN_AFTER)."""

    def __init__(self, folder: Path, names: set[str], callback: Callable[[], None],
                 version: Callable[[], object] | None = None, *, mask: int = WRITES,
                 wanted: Callable[[str, int], bool] | None = None) -> None:
        """`wanted(name, mask)`, when given, chooses the events instead of `names`."""
        self.folder, self.names, self.mask, self.wanted = folder, {n.encode() for n in names}, mask, wanted
        self.callbacks = [callback]
        self.version = version
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._again: asyncio.TimerHandle | None = None
        self._seen: object = None  # the version when the callbacks were last called

    def start(self) -> bool:
        """Start on the running event loop; False when inotify cannot be had here."""
        libc = _libc()
        if libc is None:
            return False
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            return False
        if libc.inotify_add_watch(fd, os.fsencode(self.folder), self.mask) < 0:
            os.close(fd)
            return False
        self._fd, self._loop = fd, asyncio.get_running_loop()
        self._loop.add_reader(fd, self._ready)
        return True

    def _ready(self) -> None:
        fd, loop = self._fd, self._loop
        if fd is None or loop is None:
            return  # closed since
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:  # the watch is broken: stop it (the caller's slow poll still catches up)
            log.debug("watching %s stopped: %s", self.folder, exc)
            self.close()
            return
        offset, ours = 0, False
        while offset + _EVENT.size <= len(data):
            _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size: offset + _EVENT.size + length].rstrip(b"\0")
            ours = (ours or bool(mask & IN_Q_OVERFLOW)  # events were lost: maybe ours
                    or (name in self.names if self.wanted is None else self.wanted(os.fsdecode(name), mask)))
            offset += _EVENT.size + length
        if ours:
            self._tell()
            if self.version is None:
                return  # nothing to look at again: what the event told of is done
            if self._again is not None:
                self._again.cancel()  # a chain under way starts over from this event
            self._again = loop.call_later(AGAIN_AFTER[0], self._look_again, 1)

    def _tell(self) -> None:
        if self.version is not None:
            try:
                self._seen = self.version()
            except Exception:  # the database is away: tell anyway (the callbacks cope)
                self._seen = None
        for callback in list(self.callbacks):
            callback()

    def _look_again(self, step: int) -> None:
        self._again = None
        loop, version = self._loop, self.version
        if self._fd is None or loop is None or version is None:
            return  # closed since (a watch without version() sets no chain)
        try:
            moved = version() != self._seen
        except Exception:
            moved = True
        if moved:
            self._tell()
        if step < len(AGAIN_AFTER):
            self._again = loop.call_later(AGAIN_AFTER[step] - AGAIN_AFTER[step - 1], self._look_again, step + 1)

    def close(self) -> None:
        if self._again is not None:
            self._again.cancel()
            self._again = None
        if self._fd is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = None


def watch_file(path: Path, callback: Callable[[], None], version: Callable[[], object] | None = None,
               ) -> FileWatch | None:
    """A watch of the SQLite file at `path` (its WAL and the file itself), started; None where it cannot be had.
    More callbacks may be added to its `callbacks`."""
    watch = FileWatch(path.parent, {path.name, f"{path.name}-wal"}, callback, version)
    return watch if watch.start() else None
