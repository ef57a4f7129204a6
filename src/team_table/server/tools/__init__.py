"""The tools: the 18 of team-table 0.2.1 (same names and parameters) and the hub's own, by noun. Each adapts its
arguments to one domain call; its name, hints, permission and identity parameter are on its decorator
(registry.py). The process's hub comes from the server's lifespan (`Seat`), so these functions are defined once and
shared by every server the process builds."""

from __future__ import annotations

from importlib import import_module

from team_table.server.tools.calls import Runner, Seat, call_tool, inline
from team_table.server.tools.listing import listed_for, listing
from team_table.server.tools.registry import DECLARED, Declared, built, input_schema

# The modules of tools, by noun: each declares its tools as it is imported, in this order (tools/list's order).
NOUNS = ("members", "messages", "tasks", "context", "oversight", "reservations")
for _noun in NOUNS:
    import_module(f"{__name__}.{_noun}")

# Read from the decorators, for the reference pages and the tests (the decorators are the one place).
IDENTITY = {name: declared.identity for name, declared in DECLARED.items()}
NEEDS = {name: declared.needs for name, declared in DECLARED.items() if declared.needs is not None}
UNBOUND_ONLY = frozenset(name for name, declared in DECLARED.items() if declared.unbound_only)

__all__ = ["DECLARED", "IDENTITY", "NEEDS", "NOUNS", "UNBOUND_ONLY", "Declared", "Runner", "Seat", "built",
           "call_tool", "inline", "input_schema", "listed_for", "listing"]
