"""Hearing another process write a SQLite file (store/file_changes.py): a write is heard as it starts, before its
commit shows; the watch looks at the version again after it, and tells its callbacks when the commit shows."""

from __future__ import annotations

import anyio
import pytest

from team_table.store.file_changes import FileWatch

pytestmark = [pytest.mark.anyio, pytest.mark.sqlite_only]


async def test_a_commit_that_shows_after_its_write_was_heard_is_told_without_another_event(tmp_path):
    wal = tmp_path / "hub.db-wal"
    wal.write_bytes(b"")
    version = [0]
    told: list[int] = []
    heard, shown = anyio.Event(), anyio.Event()

    def callback() -> None:
        told.append(version[0])
        (shown if version[0] == 1 else heard).set()

    watch = FileWatch(tmp_path, {"hub.db", "hub.db-wal"}, callback, lambda: version[0])
    assert watch.start()
    try:
        with anyio.fail_after(10):
            with wal.open("ab") as f:  # the write is heard; its commit is not in the version yet
                f.write(b"frames")
            await heard.wait()
            version[0] = 1  # the commit shows (its sync done): no file event says so
            await shown.wait()
    finally:
        watch.close()
    assert told[0] == 0 and told.count(1) == 1  # told again once when it showed, not at every look after


async def test_other_files_of_the_folder_are_not_heard(tmp_path):
    told: list[str] = []
    marked = anyio.Event()
    watch = FileWatch(tmp_path, {"hub.db-wal"}, lambda: told.append("told"), None)
    assert watch.start()
    def mark() -> None:
        told.append("marker")
        marked.set()

    heard = FileWatch(tmp_path, {"marker"}, mark, None)
    assert heard.start()
    try:
        (tmp_path / "team.yaml").write_text("agents: {}\n")
        (tmp_path / "marker").write_text("x")  # written after: once it is heard, the first was read too
        with anyio.fail_after(10):
            await marked.wait()
    finally:
        watch.close()
        heard.close()
    assert told == ["marker"]
