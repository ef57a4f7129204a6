"""The faults a black-box probe found: each is refused cleanly now, with a stable code, and changes nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from team_table.config import parse_team
from team_table.errors import ConfigError

from conftest import team_from

pytestmark = pytest.mark.anyio

TOO_BIG = 2**63


@pytest.mark.both_eras
@pytest.mark.parametrize(("tool", "args"), [
    ("claim_task", {"task_id": TOO_BIG}),
    ("get_task", {"task_id": TOO_BIG}),
    ("update_task", {"task_id": TOO_BIG, "status": "done"}),
    ("comment_task", {"task_id": 10**30, "text": "x"}),
    ("review_task", {"task_id": TOO_BIG, "approve": True}),
    ("reassign_task", {"task_id": TOO_BIG, "assignee": "bob"}),
    ("cancel_task", {"task_id": -1}),
    ("delete_message", {"message_id": TOO_BIG}),
    ("archive_message", {"message_id": 0}),
    ("resolve_escalation", {"escalation_id": TOO_BIG}),
    ("create_task", {"title": "t", "parent_id": TOO_BIG}),
    ("create_task", {"title": "t", "depends_on": [1, TOO_BIG]}),
    ("get_audit_log", {"limit": TOO_BIG}),
])
async def test_an_id_or_number_beyond_what_the_database_holds_is_an_invalid_refusal(table, tool, args, caplog):
    lead = await table.join("lead")
    table.grant("lead", "lead")
    before = await lead.ok("get_audit_log", limit=200)
    await lead.refused(tool, "invalid", **args)
    assert "Traceback" not in caplog.text and "failed unexpectedly" not in caplog.text
    assert await lead.ok("get_audit_log", limit=200) == before


async def test_whoever_held_a_task_while_it_was_worked_on_may_not_review_it(table):
    lead, bob, carol = await table.join("lead"), await table.join("bob", role="reviewer"), await table.join("carol")
    task = await lead.ok("create_task", title="parser")
    await bob.ok("claim_task", task_id=task["id"])
    await lead.ok("reassign_task", task_id=task["id"], assignee="carol")  # bob's work goes to carol ...
    await carol.ok("update_task", task_id=task["id"], status="awaiting_review")
    await bob.refused("review_task", "forbidden", task_id=task["id"], approve=True)  # ... bob cannot approve it
    assert (await lead.ok("get_task", task_id=task["id"]))["status"] == "awaiting_review"


@pytest.mark.parametrize("name", ["operator", "team-table", "Operator", "TEAM-TABLE"])
async def test_a_member_may_not_take_a_name_the_hub_writes_under(table, name):
    agent = await table.connect()
    reply = await agent.raw("register", name=name)
    assert reply.is_error and reply.code == "invalid", reply.data


def test_team_yaml_may_not_declare_an_agent_under_a_name_the_hub_writes_under():
    with pytest.raises(ConfigError, match="the hub itself writes under this name"):
        parse_team("agents:\n  operator:\n    role: coder\n", "team.yaml")


@pytest.mark.parametrize("key", [" p2/x", "p2 /x", "p2\u200b/x", "./p2/x", "p2//x", "/p2/x", "p2/../x", "ｐ2/x",
                                 "p2\u202e/x", "p2\t/x", "p2/x "])
async def test_a_context_key_that_only_looks_like_anothers_is_refused(table, key):
    await table.join("p2")
    mallory = await table.join("mallory")
    await mallory.refused("share_context", "invalid", key=key, value="mine now")
    assert await mallory.ok("get_shared_context") == []


async def test_plain_keys_still_work_and_owned_keys_stay_their_owners(table):
    p2, mallory = await table.join("p2"), await table.join("mallory")
    await p2.ok("share_context", key="p2/notes", value="mine")
    await mallory.ok("share_context", key="release plan", value="ours")
    await mallory.ok("share_context", key="日本語/メモ", value="ok")
    await mallory.refused("share_context", "forbidden", key="p2/notes", value="taken")


async def test_a_message_to_a_name_nobody_holds_says_so_and_waits_for_them(table):
    alice = await table.join("alice")
    sent = await alice.ok("send_message", recipient="ghost", content="are you there?")
    assert "ghost" in sent["warning"]
    to_someone = await alice.ok("send_message", recipient="alice", content="note to self")
    assert "warning" not in to_someone
    ghost = await table.join("ghost")  # joins later: the message is there
    assert [m["content"] for m in await ghost.ok("get_messages")] == ["are you there?"]


@pytest.mark.both_eras
async def test_an_argument_the_tool_does_not_have_is_refused_with_the_names_it_has(table):
    alice = await table.join("alice")
    refusal = await alice.refused("create_task", "invalid", title="t", asignee="bob")
    assert "'asignee' (did you mean 'assignee'?)" in refusal["error"]
    assert await alice.ok("list_tasks") == []


@pytest.mark.both_eras
async def test_capabilities_may_be_a_list_or_json_text(table):
    agent = await table.connect()
    as_list = (await agent.raw("register", name="a1", capabilities=["python", "sql"])).data
    as_text = (await agent.raw("register", name="a2", capabilities='["go"]')).data
    assert as_list["capabilities"] == ["python", "sql"] and as_text["capabilities"] == ["go"]


@pytest.mark.both_eras
async def test_the_hub_advertises_only_what_it_serves(table):
    agent = await table.connect()
    capabilities = agent.client.server_capabilities
    assert capabilities.tools is not None
    assert capabilities.prompts is None and capabilities.resources is None


@pytest.mark.processes
def test_a_template_that_would_allocate_hundreds_of_megabytes_is_refused_at_check_quickly():
    start = time.monotonic()
    # The memory bound stops it; on a loaded machine the 1 s bound may come first. Either way: refused, quickly.
    with pytest.raises(ConfigError, match=r"MemoryError|took longer than"):
        team_from("agents:\n  bob:\n    role: coder\n    auto_reply:\n      template: \"{{ 'a' * 200000000 }}\"\n")
    assert time.monotonic() - start < 10


def test_a_template_that_loops_for_seconds_is_stopped_at_check():
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    with pytest.raises(ConfigError, match="took longer"):
        team_from(f"agents:\n  bob:\n    role: coder\n    auto_reply:\n      template: \"{loop}\"\n")


@pytest.mark.processes
def test_a_template_that_fails_at_run_time_falls_back_to_the_built_in_text():
    from team_table import templates

    text = templates.render("{{ agent * 100000000 }}", templates.AUTO_REPLY,
                            {"agent": "alice", "count": 1, "sender": "bob", "messages": []})
    assert text.startswith("[AUTO] alice is away")


def test_a_team_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path):
    from team_table.config import load_team

    path = tmp_path / "team.yaml"
    path.write_text("agents:\n" + "".join(f"  a{n}:\n    role: coder\n" for n in range(120_000)))
    start = time.monotonic()
    with pytest.raises(ConfigError, match="too big"):
        load_team(path)
    assert time.monotonic() - start < 1


@pytest.mark.sqlite_only
async def test_synchronous_full_is_the_default_and_normal_can_be_chosen(table_with):
    async with table_with() as table:
        assert table.hub.store.query("PRAGMA synchronous")[0][0] == 2  # FULL
    async with table_with("hub:\n  synchronous: normal\n") as table:
        assert table.hub.store.query("PRAGMA synchronous")[0][0] == 1  # NORMAL


async def test_a_declared_agents_token_is_found_by_its_hash_among_ten_thousand(tmp_path: Path):
    from team_table import tokens

    token = tokens.mint()
    agents = "".join(f"  a{n}:\n    role: coder\n" for n in range(10_000))
    team = parse_team(f"agents:\n{agents}  bob:\n    role: coder\n    token_hashes: [\"{tokens.file_hash(token)}\"]\n",
                      "team.yaml")
    assert team.agent_with_hash(tokens.digest(token)) == "bob"
    assert team.agent_with_hash(tokens.digest("guess")) is None


@pytest.mark.sqlite_only
async def test_a_full_disk_is_an_unavailable_refusal_until_the_hub_can_write_again(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    await alice.ok("send_message", recipient="bob", content="before")
    store = table.hub.store
    pages = store.query("PRAGMA page_count")[0][0]
    store.query(f"PRAGMA max_page_count = {pages}")  # the file may not grow: what a full disk does to SQLite
    filler = "x" * 5000
    for _ in range(3):  # every write is refused the same way, and nothing half-written is left
        refusal = await alice.refused("share_context", "unavailable", key="big", value=filler * 10)
        assert "disk is full" in refusal["error"]
    assert "disk is full" in store.unwritable
    store.query("PRAGMA max_page_count = 1073741823")  # space again
    await alice.ok("send_message", recipient="bob", content="after")
    assert store.unwritable is None
    assert [m["content"] for m in await bob.ok("get_messages")] == ["before", "after"]
    assert await alice.ok("get_shared_context") == []
