"""Adding a token hash to team.yaml in place (`team-table token NAME --write`): every other byte kept."""

from __future__ import annotations

import pytest
import yaml

from team_table.team_file import CannotEdit, find_agent, with_token_hash

NEW = "sha256:" + "b" * 64
OLD = "sha256:" + "a" * 64

SHAPES = {
    "an empty file": "",
    "comments only": "# the team\n",
    "no agents section": "hub:\n  port: 8741",
    "an empty agents section": "hub: {}\nagents:\nlimits: {}\n",
    "agents in flow style": "agents: {bob: {role: coder}}\n",
    "the agent in flow style": "agents:\n  alice: {role: coder}  # keep me\n",
    "a block list of hashes": f"agents:\n  alice:\n    token_hashes:\n      - \"{OLD}\"  # old\n    role: coder\n",
    "a list at the key's indentation": f"agents:\n  alice:\n    token_hashes:\n    - '{OLD}'\n# end\n",
    "a flow list of hashes": f"agents:\n  alice:\n    token_hashes: [ '{OLD}' ]\n",
    "an empty flow list": "agents:\n  alice:\n    token_hashes: []\n",
    "a block literal last": "agents:\n  alice:\n    description: |\n      one\n      two\n\n# tail\nlimits: {}\n",
    "four-space indentation": "agents:\n    alice:\n        role: coder\n    bob:\n        role: tester\n",
}


@pytest.mark.parametrize("name", ["alice", "dave"])
@pytest.mark.parametrize("text", SHAPES.values(), ids=SHAPES.keys())
def test_the_hash_is_added_and_nothing_else_changes(text: str, name: str):
    new = with_token_hash(text, name, NEW, "coder")
    before, after = yaml.safe_load(text) or {}, yaml.safe_load(new)
    agent = after["agents"][name]
    assert agent["token_hashes"][-1] == NEW
    old_agent = (before.get("agents") or {}).get(name)
    assert agent["token_hashes"][:-1] == ((old_agent or {}).get("token_hashes") or [])
    assert {k: v for k, v in after["agents"].items() if k != name} == \
        {k: v for k, v in (before.get("agents") or {}).items() if k != name}
    assert {k: v for k, v in after.items() if k != "agents"} == {k: v for k, v in before.items() if k != "agents"}
    for line in text.splitlines():  # every line is still there (a flow collection's gains an item), comments too
        assert line in new or line.split("#")[0].rstrip().rstrip("]}").rstrip() in new
        if "#" in line:
            assert line[line.index("#"):] in new


def test_an_agent_is_found_with_its_line():
    text = "hub: {}\nagents:\n  bob: {}\n  alice:\n    token_hashes: []\n"
    assert find_agent(text, "alice").line == 4
    assert find_agent(text, "alice").has_hashes
    assert not find_agent(text, "bob").has_hashes
    assert find_agent(text, "carol") is None


def test_an_edit_that_would_reach_another_agent_is_refused():
    text = "agents:\n  alice: &coder {role: coder}\n  bob: {<<: *coder}\n"
    with pytest.raises(CannotEdit):
        with_token_hash(text, "alice", NEW, "coder")


def test_a_file_that_is_not_a_mapping_is_refused():
    with pytest.raises(CannotEdit):
        with_token_hash("- a\n- b\n", "alice", NEW, "coder")
