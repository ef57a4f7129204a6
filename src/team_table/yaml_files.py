"""Config files in YAML (team.yaml, workflows/*.yaml): read within a size limit, parsed once, validated into
frozen models; any problem is a ConfigError naming the file, the line, the key path and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from team_table.errors import ConfigError, ConfigProblem

MAX_FILE_BYTES = 2 * 1024 * 1024  # a team of 10,000 agents fits in a quarter of this
M = TypeVar("M", bound=BaseModel)


class AtKey(ValueError):
    """A problem a validator finds below the model it validates (a check across keys, on the root model): `path`
    names the key at fault, so the problem points at that key's line, not at the model's first line."""

    def __init__(self, path: tuple[str | int, ...], reason: str) -> None:
        super().__init__(reason)
        self.path = path


def read_config_file(path: Path) -> str:
    """A config file's text; refused (ConfigError) when it cannot be read or is too big to be a config."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem("", f"cannot be read: {exc.strerror or exc}")]) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(str(path), [ConfigProblem("", f"is over {MAX_FILE_BYTES // (1024 * 1024)} MiB, too big "
                                                        "for a config file; nothing in it was applied")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [ConfigProblem("", f"is not UTF-8 text: {exc}")]) from exc


def validate_yaml(model: type[M], text: str, file: str, not_a_mapping: str, *, empty_ok: bool = False) -> M:
    """Parse YAML text into `model`; any problem raises ConfigError with file, line, key path and reason."""
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(file, [ConfigProblem("", f"is over {MAX_FILE_BYTES // (1024 * 1024)} MiB, too big for a "
                                                   "config file; nothing in it was applied")])
    import yaml  # only where there is a file to read: a hub without team.yaml starts without it

    try:
        node, data = _parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(file, [ConfigProblem("", f"is not valid YAML: {reason}", line)]) from exc
    if twice := _duplicate_keys(node):
        raise ConfigError(file, twice)
    if data is None and empty_ok:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(file, [ConfigProblem("", not_a_mapping)])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(file, _problems(exc, node)) from exc


def _parse(text: str) -> tuple[Any, Any]:
    """Parse once: the node tree (kept for the line numbers of problems) and the data built from it, with libyaml's
    parser where PyYAML was built with it (about ten times faster), else PyYAML's own."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _duplicate_keys(root: Any) -> list[ConfigProblem]:
    """Keys given twice in one mapping: YAML keeps the last and drops the first without a word (a pasted `alice:`
    block under an `alice:` already there loses one of them), so the file is refused, naming both lines."""
    import yaml

    problems: list[ConfigProblem] = []
    seen_nodes: set[int] = set()  # an alias repeats a node: each is looked at once
    todo: list[tuple[Any, tuple[str, ...]]] = [(root, ())] if root is not None else []
    while todo:
        node, path = todo.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    todo.append((value, path))
                    continue
                line = key.start_mark.line + 1
                if (key.tag, key.value) in first:
                    problems.append(ConfigProblem(
                        ".".join((*path, key.value)),
                        f"is given twice (also on line {first[key.tag, key.value]}); YAML would keep only the last "
                        "and drop the other without a word: merge them into one", line))
                else:
                    first[key.tag, key.value] = line
                todo.append((value, (*path, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, (*path, str(index))) for index, item in enumerate(node.value))
    return sorted(problems, key=lambda p: p.line or 0)


def _problems(exc: ValidationError, root: Any) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        at_key = (error.get("ctx") or {}).get("error")
        if isinstance(at_key, AtKey):  # a check across keys: point at the key at fault
            loc = (*loc, *at_key.path)
            reason = str(at_key)
        if error["type"] == "extra_forbidden":
            reason = "is not a known key (check its spelling; docs/team-yaml.md and docs/workflows.md list every key)"
        problems.append(ConfigProblem(".".join(str(p) for p in loc), reason, _line_of(root, loc)))
    return problems


def _line_of(node: Any, loc: tuple) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of the deepest parent that exists."""
    import yaml

    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if found is None:
                return line
            key, node = found
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
