"""Editing another program's config files so that what is added is exactly what is said, and can be taken out.

A change to one file is a list of entries: a value set at a key path, or an item added to a list at a key path.
Applying it parses the file (JSON, or TOML with its comments and layout kept), adds what is missing and writes the
file only when that changed something (so a second `connect` writes nothing). What was added is recorded in a
ledger beside the hub's other files; taking it out removes exactly those entries (and only while they still hold
what was written), and where the file has not changed since, gives back its bytes as they were. A file that does
not parse is left untouched, with an error saying where.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from team_table.errors import Invalid

LEDGER = Path("~/.team-table/connect")  # what connect added to which file, and the bytes it found there


@dataclass(frozen=True)
class Entry:
    """`value` at `path` (a key path); with `item`, `value` is one item of the list at `path`."""

    path: tuple[str, ...]
    value: Any
    item: bool = False


@dataclass
class FileChange:
    file: Path
    entries: list[Entry]
    kind: str = "json"  # or toml
    before: bytes | None = None
    after: bytes | None = None
    notes: list[str] = field(default_factory=list)
    keep_copy: bool = False  # the file does not come back byte for byte from its own parse: keep its bytes
    made: list[tuple[str, ...]] = field(default_factory=list)  # containers the entries needed and did not find

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        old = (self.before or b"").decode("utf-8", "replace").splitlines(keepends=True)
        new = (self.after or b"").decode("utf-8", "replace").splitlines(keepends=True)
        name = str(self.file)
        return "".join(difflib.unified_diff(old, new, f"{name} (now)", f"{name} (after)"))


def plan_add(file: Path, entries: list[Entry], kind: str = "json") -> FileChange:
    """What adding `entries` to `file` would write (nothing changes yet)."""
    change = FileChange(file, entries, kind)
    change.before = read_bytes(file)
    doc = _parse(change.before, file, kind)
    for entry in entries:
        change.made += _add(doc, entry)
    change.after = _dump(doc, change.before, kind)
    if change.before is not None and change.changed:  # will taking them out give these very bytes back?
        trial = _parse(change.after, file, kind)
        for entry in entries:
            _remove(trial, entry, set(change.made))
        change.keep_copy = _dump(trial, change.before, kind) != change.before
    return change


def plan_remove(file: Path, entries: list[Entry], kind: str, ledger: dict | None,
                made: Iterable[tuple[str, ...]] = ()) -> FileChange:
    """What taking `entries` out of `file` would write: its bytes from before `connect` when the file is as connect
    left it, else the file without those entries (only those that still hold what was written)."""
    change = FileChange(file, entries, kind)
    change.before = read_bytes(file)
    if change.before is None:
        change.after = None
        return change
    if ledger and ledger.get("after") == _digest(change.before) and ledger.get("created"):
        change.after = None  # connect made this file, and it is as connect left it
        return change
    if ledger and ledger.get("after") == _digest(change.before) and "copy" in ledger:
        change.after = ledger["copy"].encode("utf-8", "surrogateescape")  # as it was, byte for byte
        return change
    doc = _parse(change.before, file, kind)
    for entry in entries:
        if not _remove(doc, entry, set(made)):
            change.notes.append(f"{'.'.join(entry.path)} was changed since; left as it is")
    change.after = _dump(doc, change.before, kind) if _has_content(doc) or change.before else None
    return change


def write(change: FileChange) -> None:
    """Carry out a planned change: the file replaced whole (a reader never sees half of it), its mode kept; no
    file at all when nothing is left of one connect created."""
    if not change.changed:
        return
    if change.after is None:
        change.file.unlink(missing_ok=True)
        return
    change.file.parent.mkdir(parents=True, exist_ok=True)
    mode = change.file.stat().st_mode & 0o777 if change.file.exists() else 0o600
    handle, temp = tempfile.mkstemp(dir=change.file.parent, prefix=f".{change.file.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(change.after)
        os.chmod(temp, mode)
        os.replace(temp, change.file)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# ---- the ledger ------------------------------------------------------------------------------------------------

def ledger_path(home: Path | None = None) -> Path:
    base = home / ".team-table" / "connect" if home is not None else LEDGER.expanduser()
    return base / "ledger.json"


def read_ledger(home: Path | None = None) -> dict:
    path = ledger_path(home)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise Invalid(f"{path} cannot be read ({exc}); move it aside to start afresh.") from None
    return data if isinstance(data, dict) else {}


def save_ledger(ledger: dict, home: Path | None = None) -> None:
    path = ledger_path(home)
    if not ledger:  # nothing connected any more: no ledger either
        path.unlink(missing_ok=True)
        for folder in (path.parent, path.parent.parent):
            with contextlib.suppress(OSError):
                folder.rmdir()
        return
    path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    body = json.dumps(ledger, indent=2, sort_keys=True).encode() + b"\n"
    write(FileChange(path, [], before=read_bytes(path), after=body))
    os.chmod(path, 0o600)


def record(ledger: dict, key: str, change: FileChange) -> None:
    """Keep what connect added to the file; the first time, whether it made the file, and a copy of the bytes it
    found only when taking the entries out again could not give them back exactly (a file's own layout)."""
    entry = ledger.setdefault(key, {})
    if "created" not in entry:
        entry["created"] = change.before is None
        if change.keep_copy and change.before is not None:
            entry["copy"] = change.before.decode("utf-8", "surrogateescape")
    entry["entries"] = [{"path": list(e.path), "value": e.value, "item": e.item} for e in change.entries]
    entry["made"] = sorted({tuple(p) for p in entry.get("made", [])} | set(change.made))
    entry["kind"] = change.kind
    entry["after"] = _digest(change.after)


def entries_of(ledger_entry: dict) -> list[Entry]:
    return [Entry(tuple(e["path"]), e["value"], e.get("item", False)) for e in ledger_entry.get("entries", [])]


def made_of(ledger_entry: dict) -> list[tuple[str, ...]]:
    return [tuple(p) for p in ledger_entry.get("made", [])]


# ---- parsing and writing -----------------------------------------------------------------------------------------

def read_bytes(file: Path) -> bytes | None:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        return None


def _digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _parse(data: bytes | None, file: Path, kind: str) -> Any:
    if data is None or not data.strip():
        return {} if kind == "json" else _toml().document()
    try:
        text = data.decode("utf-8")
        doc = json.loads(text) if kind == "json" else _toml().parse(text)
    except (UnicodeDecodeError, ValueError, Exception) as exc:  # tomlkit's errors are its own
        raise Invalid(f"{file} cannot be read as {kind.upper()} ({exc}); it was left untouched. Fix it (or move "
                      "it aside), then run the command again.") from None
    if not isinstance(doc, dict):
        raise Invalid(f"{file} holds no {kind.upper()} object at its top; it was left untouched.")
    return doc


def _dump(doc: Any, before: bytes | None, kind: str) -> bytes | None:
    if kind == "toml":
        return _toml().dumps(doc).encode("utf-8")
    text = before.decode("utf-8", "replace") if before else ""
    indent = _indent_of(text)
    body = json.dumps(doc, indent=indent, ensure_ascii=False)
    return (body + ("\n" if not text or text.endswith("\n") else "")).encode("utf-8")


def _indent_of(text: str) -> int:
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" ")
        if stripped and len(stripped) < len(line):
            return len(line) - len(stripped)
    return 2


def _has_content(doc: Any) -> bool:
    return bool(doc)


def _toml():
    import tomlkit

    return tomlkit


def _add(doc: Any, entry: Entry) -> list[tuple[str, ...]]:
    """Set one entry; returns the containers it had to make (so that taking it out removes them again)."""
    *parents, last = entry.path
    made = []
    node = doc
    for depth, key in enumerate(parents):
        if key not in node or not isinstance(node[key], dict):
            node[key] = {}
            made.append(tuple(parents[: depth + 1]))
        node = node[key]
    value = copy.deepcopy(entry.value)
    if entry.item:
        items = node.get(last)
        if not isinstance(items, list):
            node[last] = items = []
            made.append(entry.path)
        if _plain(value) not in [_plain(x) for x in items]:
            items.append(value)
    elif last not in node or _plain(node[last]) != _plain(value):
        node[last] = value
    return made


def _remove(doc: Any, entry: Entry, made: set[tuple[str, ...]]) -> bool:
    """Take one entry out, and the containers made for it that it leaves empty; False when what is there is no
    longer what was written (then it stays)."""
    *parents, last = entry.path
    trail = [doc]
    for key in parents:
        node = trail[-1].get(key) if isinstance(trail[-1], dict) else None
        if node is None:
            return True  # already gone
        trail.append(node)
    node = trail[-1]
    if not isinstance(node, dict) or last not in node:
        return True
    if entry.item:
        items = node[last]
        kept = [x for x in items if _plain(x) != _plain(entry.value)] if isinstance(items, list) else items
        if isinstance(items, list) and len(kept) != len(items):
            if kept or entry.path not in made:
                items[:] = kept
            else:
                del node[last]
    elif _plain(node[last]) == _plain(entry.value):
        del node[last]
    else:
        return False
    for depth in range(len(parents), 0, -1):  # the containers made for it, when it leaves them empty
        parent, key = trail[depth - 1], parents[depth - 1]
        if tuple(parents[:depth]) in made and isinstance(parent.get(key), dict) and not parent[key]:
            del parent[key]
        else:
            break
    return True


def _plain(value: Any) -> Any:
    """A value compared as data (a tomlkit item compared by what it holds)."""
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value
