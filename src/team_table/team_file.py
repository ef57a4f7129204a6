"""Adding a token hash to an agent of team.yaml in place, every other byte of the file kept.

The edit is spliced into the text at positions the YAML parser reports (after the agent's last line, inside a flow
list's brackets, ...), so comments, key order, quoting and indentation stay as the person wrote them; a round-trip
library re-emits the whole file (re-indenting lists, re-wrapping long lines). Before anything is written, the new
text is parsed again and must hold exactly the old data plus the one hash; any other outcome is refused
(`CannotEdit`) and the person adds the line by hand.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CannotEdit(Exception):
    """The file has a shape this edit does not handle; says why, so the person adds the hash by hand."""


@dataclass(frozen=True)
class Declared:
    """Where an agent is in the file: the 1-based line of its key, and whether it has token_hashes already."""

    line: int
    has_hashes: bool


def find_agent(text: str, name: str) -> Declared | None:
    """The agent `name` as declared under agents:, or None."""
    root = _compose(text)
    agents = _value_of(root, "agents")
    entry = _entry(agents, name)
    if entry is None:
        return None
    key, value = entry
    return Declared(key.start_mark.line + 1, _value_of(value, "token_hashes") is not None)


def with_token_hash(text: str, name: str, token_hash: str, role: str) -> str:
    """`text` with `token_hash` added to agents.NAME.token_hashes (the agent declared with `role` if it is new)."""
    import yaml

    root = _compose(text)
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise CannotEdit("the file is not a mapping of sections")
    new = _spliced(text, root, name, token_hash, role)
    before = yaml.safe_load(text) or {}
    expected = copy.deepcopy(before)
    agents = expected.setdefault("agents", {}) if isinstance(expected, dict) else None
    if not isinstance(agents, dict):
        agents = expected["agents"] = {}
    agent = agents.setdefault(name, {"role": role})
    if agent is None:
        raise CannotEdit(f"agents.{name} has no value")
    agent["token_hashes"] = [*(agent.get("token_hashes") or []), token_hash]
    try:
        after = yaml.safe_load(new)
    except yaml.YAMLError as exc:
        raise CannotEdit(f"the edit would not read back as YAML ({exc})") from None
    if after != expected:
        raise CannotEdit("the edit would change more than the one hash")
    return new


def write_in_place(path: Path, text: str) -> None:
    """Replace the file's content at once (a new file renamed over it, with the old one's mode), as editors save:
    a running hub's watcher sees one complete file."""
    target = path.resolve()
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, target.stat().st_mode & 0o7777)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _compose(text: str) -> Any:
    import yaml

    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise CannotEdit(f"the file is not valid YAML ({exc})") from None


def _entry(mapping: Any, key: str) -> tuple[Any, Any] | None:
    import yaml

    if not isinstance(mapping, yaml.MappingNode):
        return None
    return next(((k, v) for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _value_of(mapping: Any, key: str) -> Any:
    found = _entry(mapping, key)
    return found[1] if found else None


def _spliced(text: str, root: Any, name: str, token_hash: str, role: str) -> str:
    import yaml

    quoted = json.dumps(token_hash)
    agents_entry = _entry(root, "agents")
    if agents_entry is None or _is_null(agents_entry[1]):
        block = f"  {name}:\n    role: {role}\n    token_hashes:\n      - {quoted}\n"
        if agents_entry is None:
            body = text if text.endswith("\n") or not text else text + "\n"
            return f"{body}agents:\n{block}"
        return _after_line_of(text, agents_entry[0], block)
    agents = agents_entry[1]
    if not isinstance(agents, yaml.MappingNode):
        raise CannotEdit("agents: is not a mapping")
    entry = _entry(agents, name)
    if entry is None:
        if agents.flow_style:
            return _into_flow(text, agents, f"{name}: {{role: {role}, token_hashes: [{quoted}]}}")
        indent = " " * agents.value[0][0].start_mark.column
        return _after_subtree(text, agents, f"{indent}{name}:\n{indent}  role: {role}\n"
                                            f"{indent}  token_hashes:\n{indent}    - {quoted}\n")
    agent = entry[1]
    if not isinstance(agent, yaml.MappingNode) or not agent.value:
        raise CannotEdit(f"agents.{name} is not a mapping of keys")
    hashes = _value_of(agent, "token_hashes")
    if hashes is None:
        if agent.flow_style:
            return _into_flow(text, agent, f"token_hashes: [{quoted}]")
        indent = " " * agent.value[0][0].start_mark.column
        return _after_subtree(text, agent, f"{indent}token_hashes:\n{indent}  - {quoted}\n")
    if not isinstance(hashes, yaml.SequenceNode):
        raise CannotEdit(f"agents.{name}.token_hashes is not a list")
    if hashes.flow_style:
        return _into_flow(text, hashes, quoted)
    return _after_subtree(text, hashes, f"{' ' * hashes.start_mark.column}- {quoted}\n")


def _is_null(node: Any) -> bool:
    import yaml

    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _last_mark(node: Any) -> Any:
    """The end of the node's last written character: its last scalar's (a block collection's own end mark lies at
    the next key, past any comments that follow it)."""
    import yaml

    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node.end_mark


def _line_end(text: str, index: int) -> int:
    """The index just past the newline of the line holding `index` (the text's end if it has none)."""
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _insert(text: str, at: int, lines: str) -> str:
    head = text[:at]
    if head and not head.endswith("\n"):
        head += "\n"
    return head + lines + text[at:]


def _after_subtree(text: str, node: Any, lines: str) -> str:
    mark = _last_mark(node)
    # A multi-line scalar (a block literal) ends at the start of the line after it.
    at = mark.index if mark.column == 0 and mark.index > 0 else _line_end(text, max(mark.index - 1, 0))
    return _insert(text, at, lines)


def _after_line_of(text: str, node: Any, lines: str) -> str:
    return _insert(text, _line_end(text, node.start_mark.index), lines)


def _into_flow(text: str, node: Any, item: str) -> str:
    """Add `item` inside a flow collection's brackets, before the closing one."""
    close = node.end_mark.index - 1
    if close < 0 or text[close] not in "]}":
        raise CannotEdit("a flow collection without its closing bracket where expected")
    if not text[node.start_mark.index + 1:close].strip():
        return text[:close] + item + text[close:]
    return text[:close].rstrip() + ", " + item + text[close:]
