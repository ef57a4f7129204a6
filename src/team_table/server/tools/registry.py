"""The one table of tools: each tool's name, hints, permission and identity parameter, said once on its decorator
(`@tool("send_message", WRITE, needs=("send",), identity="sender")`), and the tools built from it once per process.
tools/list, the generated reference (scripts/docs_reference.py) and the tests read them from here."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver.tools import Tool
from mcp.types import ToolAnnotations

from team_table import roles

# Only what differs from the defaults the spec gives the hints (not read-only, destructive, open world).
READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(destructive_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(open_world_hint=False)

AGENT_NAME = "agent_name"  # the identity parameter of most tools (0.2.1's names for the others are kept)


@dataclass(frozen=True)
class Declared:
    """One tool as its decorator declares it."""

    name: str
    fn: Callable[..., Any]
    hints: ToolAnnotations
    # The permissions any one of which lists the tool on a connection bound to an agent; None: every member's.
    needs: tuple[str, ...] | None
    identity: str  # the parameter naming the caller; on a bound connection it and `token` go unsaid
    unbound_only: bool  # listed only on connections not bound to an agent (register: a bound one is one already)


DECLARED: dict[str, Declared] = {}


def tool(name: str, hints: ToolAnnotations, *, needs: tuple[str, ...] | None = None, identity: str = AGENT_NAME,
         unbound_only: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a tool; the decorated function adapts its arguments to one domain call. A declaration that does not
    fit its function (an identity parameter or `token` it lacks, a permission no role can hold, a name taken) fails
    at import, not at a call."""
    for permission in needs or ():
        roles.check_action(permission)

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        parameters = inspect.signature(fn).parameters
        missing = [p for p in (identity, "token") if p not in parameters]
        if missing:
            raise TypeError(f"tool {name}: its function has no parameter {', '.join(missing)}")
        if name in DECLARED:
            raise ValueError(f"tool {name} is declared twice")
        DECLARED[name] = Declared(name, fn, hints, needs, identity, unbound_only)
        return fn

    return add


@functools.cache
def built() -> tuple[Tool, ...]:
    """The tools with their schemas, built once per process and shared by every server."""
    return tuple(Tool.from_function(d.fn, name=d.name, annotations=d.hints) for d in DECLARED.values())


@functools.cache
def by_name() -> dict[str, Tool]:
    return {tool.name: tool for tool in built()}


@functools.cache
def parameters(name: str) -> dict[str, None]:
    """A tool's parameter names, in order (the keys of a dict: a set that keeps its order)."""
    return dict.fromkeys(by_name()[name].parameters.get("properties", {}))


def input_schema(name: str) -> dict[str, Any] | None:
    """A tool's input schema, for the SDK's check of 2026-era Mcp-Param-* headers against the body."""
    found = by_name().get(name)
    return None if found is None else found.parameters
