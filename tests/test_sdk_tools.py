"""The tools as the SDK builds them from their one declaration (server/tools/registry.py): a declaration that does
not fit its function is refused at import, and what tools/list says follows the declarations."""

from __future__ import annotations

import pytest

from team_table import roles
from team_table.server import tools
from team_table.server.tools.registry import DECLARED, WRITE, tool

pytestmark = pytest.mark.one_engine  # reads the code: no database


async def _adapter(ctx, agent_name: str = "", token: str = "") -> None:  # a tool's shape, never registered
    return None


def test_a_declaration_naming_a_parameter_its_function_lacks_is_refused():
    with pytest.raises(TypeError, match="sender"):
        tool("not_a_tool", WRITE, identity="sender")(_adapter)
    assert "not_a_tool" not in DECLARED


def test_a_declaration_needing_a_permission_no_role_can_hold_is_refused():
    with pytest.raises(ValueError, match="unknown permission"):
        tool("not_a_tool", WRITE, needs=("fly",))
    assert "not_a_tool" not in DECLARED


def test_a_tool_name_is_declared_once():
    with pytest.raises(ValueError, match="declared twice"):
        tool("heartbeat", WRITE)(_adapter)
    assert DECLARED["heartbeat"].identity == "name"  # the first declaration stands


def test_every_built_tool_is_declared_with_its_identity_and_token_among_its_parameters():
    built = {t.name: t for t in tools.built()}
    assert built.keys() == DECLARED.keys()
    for name, declared in DECLARED.items():
        assert {declared.identity, "token"} <= built[name].parameters["properties"].keys(), name
        assert built[name].annotations == declared.hints, name


def test_a_bound_connection_lists_what_its_permissions_allow_without_identity_or_token():
    granted = frozenset(roles.MEMBER)  # what the built-in member role grants
    listed = {t.name: t for t in tools.listing(granted)}
    for name, declared in DECLARED.items():
        allowed = declared.needs is None or any(roles.allows(granted, need) for need in declared.needs)
        assert (name in listed) == (allowed and not declared.unbound_only), name
        if name in listed:
            assert not {declared.identity, "token"} & listed[name].input_schema["properties"].keys(), name
    assert {t.name for t in tools.listing(None)} == DECLARED.keys()  # unbound: every tool, register included
