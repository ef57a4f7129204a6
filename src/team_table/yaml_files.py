"""Config files in YAML (team.yaml, workflows/*.yaml): read within a size limit, parsed once, validated into
frozen models; any problem is a ConfigError naming the file, the line, the key path and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from team_table.errors import ConfigError, ConfigProblem

MAX_FILE_BYTES = 2 * 1024 * 1024  # a team of 10,000 agents fits in a quarter of this
M = TypeVar("M", bound=BaseModel)


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


def _problems(exc: ValidationError, root: Any) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            reason = "is not a known key (check its spelling; see the team.yaml reference in README.md)"
        problems.append(ConfigProblem(".".join(str(p) for p in loc), reason, _line_of(root, loc)))
    return problems


def _line_of(node: Any, loc: tuple) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of the deepest parent that exists."""
    import yaml

    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            key = next((k for k, _ in node.value if k.value == str(part)), None)
            if match is None:
                return line
            line = key.start_mark.line + 1
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
