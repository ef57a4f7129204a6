"""Hearing another process write a SQLite file, without polling: Linux's inotify on the file's folder, read by the
event loop itself (no thread, no timer; an idle process is not woken at all). Where inotify is not to be had (another
system, a file system without it), `watch_file` says so and the caller polls instead."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("team_table.store")

IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name
# A write is heard as it starts, before its commit is in the WAL index (which is mapped memory, and makes no event):
# look again a little later too, so a commit that was under way when the event came is not missed.
AGAIN_AFTER = (0.025, 0.15)


def _libc():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    return libc if hasattr(libc, "inotify_init1") else None


class FileWatch:
    """Calls `callback` (on the event loop) after any of `names` in `folder` was written, created or replaced."""

    def __init__(self, folder: Path, names: set[str], callback: Callable[[], None]) -> None:
        self.folder, self.names, self.callback = folder, {n.encode() for n in names}, callback
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> bool:
        """Start on the running event loop; False when inotify cannot be had here."""
        libc = _libc()
        if libc is None:
            return False
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            return False
        mask = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
        if libc.inotify_add_watch(fd, os.fsencode(self.folder), mask) < 0:
            os.close(fd)
            return False
        self._fd, self._loop = fd, asyncio.get_running_loop()
        self._loop.add_reader(fd, self._ready)
        return True

    def _ready(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:  # the watch is broken: stop it (the caller's slow poll still catches up)
            log.debug("watching %s stopped: %s", self.folder, exc)
            self.close()
            return
        offset, ours = 0, False
        while offset + _EVENT.size <= len(data):
            _wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size: offset + _EVENT.size + length].rstrip(b"\0")
            ours = ours or name in self.names
            offset += _EVENT.size + length
        if ours:
            self.callback()
            for delay in AGAIN_AFTER:
                self._loop.call_later(delay, self.callback)

    def close(self) -> None:
        if self._fd is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = None


def watch_file(path: Path, callback: Callable[[], None]) -> FileWatch | None:
    """A watch of the SQLite file at `path` (its WAL and the file itself), started; None where it cannot be had."""
    watch = FileWatch(path.parent, {path.name, f"{path.name}-wal"}, callback)
    return watch if watch.start() else None
