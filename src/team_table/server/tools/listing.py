"""What tools/list answers: every tool for an unbound connection; for one bound to an agent, the tools its roles
permit (the permission on each tool's decorator), without the identity and token parameters it never passes; and
every schema in fewer words."""

from __future__ import annotations

import functools

from mcp.types import Tool as MCPTool

from team_table import roles
from team_table.limits import MAX_INT
from team_table.server.tools.registry import DECLARED, built


def listed_for(granted: frozenset[str]) -> frozenset[str]:
    """The tools a bound connection with these permissions lists."""
    names = set()
    for declared in DECLARED.values():
        needs = declared.needs
        if not declared.unbound_only and (needs is None or any(roles.allows(granted, a) for a in needs)):
            names.add(declared.name)
    return frozenset(names)


@functools.cache
def listing(granted: frozenset[str] | None) -> tuple[MCPTool, ...]:
    """Every tool for an unbound connection (granted None); for a bound one, the tools its permissions allow,
    without the identity and token parameters it never passes."""
    found = []
    listed = None if granted is None else listed_for(granted)
    for tool in built():
        if listed is not None and tool.name not in listed:
            continue
        drop = set() if granted is None else {DECLARED[tool.name].identity, "token"}
        found.append(MCPTool(name=tool.name, description=" ".join((tool.description or "").split()),
                             input_schema=_plain_schema(tool.parameters, drop), annotations=tool.annotations))
    return tuple(found)


def _plain_schema(schema: dict, drop: set[str]) -> dict:
    """A tool's input schema without `drop`ped parameters, in fewer words (every client pays for them in tokens):
    no titles (they repeat the names), no bounds of ids (the hub checks them), no empty defaults (not being
    required says it), `X | None = None` as an optional X."""
    properties = {name: _plain_value(spec) for name, spec in schema.get("properties", {}).items()
                  if name not in drop}
    plain = {k: v for k, v in schema.items() if k not in ("title", "properties", "required")}
    plain["properties"] = properties
    required = [name for name in schema.get("required", []) if name not in drop]
    if required:
        plain["required"] = required
    return plain


def _plain_value(spec: dict) -> dict:
    choices = spec.get("anyOf")
    if choices and {"type": "null"} in choices and spec.get("default", "absent") is None:
        rest = [choice for choice in choices if choice != {"type": "null"}]
        if len(rest) == 1:
            spec = {**{k: v for k, v in spec.items() if k not in ("anyOf", "default")}, **rest[0]}
    ids = spec.get("maximum") == MAX_INT  # an id: its bounds are the hub's to check
    spec = {k: v for k, v in spec.items() if k != "title" and not (ids and k in ("minimum", "maximum"))
            and not (k == "default" and v in ("", None, False))}  # an empty default says only "optional"
    if isinstance(spec.get("items"), dict):
        spec["items"] = _plain_value(spec["items"])
    return spec
