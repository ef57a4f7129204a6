"""Generated arguments, of the wrong types and hostile sizes and contents, thrown at every tool: each answer is one
JSON document, a refusal is clean (a known code, never `internal`) and changes nothing in the database."""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from team_table.server.tools import IDENTITY
from team_table.store.postgres_schema import TABLES

# Every health check but the deprecated ones (Hypothesis's HealthCheckMeta.__iter__ drops them; it is unannotated)
EVERY_CHECK = cast("list[HealthCheck]", list(HealthCheck))

pytestmark = pytest.mark.anyio

CODES = {"invalid", "unauthorized", "forbidden", "not_found", "conflict", "rate_limited"}
HOSTILE_TEXT = st.lists(st.sampled_from(["\x00", "\u200b", "\u202e", "\ufeff", "'", '"', ";", "%", "_", "*", "/",
                                       "..", "{{", "}}", "{%", "é", "名", "\n", " ", "a", "1", "p2/"]),
                       max_size=12).map("".join)
BIG = st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**30, -1, 0])
VALUE = st.one_of(
    st.none(), st.booleans(), BIG, st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True),
    st.text(max_size=40), HOSTILE_TEXT, st.just("x" * 60_000), st.just(""), st.just("*"),
    st.sampled_from(["alice", "lead", "1", "pending", "done", "2026-01-01", "sha256:" + "0" * 64]),
    st.lists(st.one_of(st.integers(min_value=-5, max_value=2**64), st.text(max_size=10)), max_size=30),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


# A plausible value for each parameter, so that a call reaches the rules behind the one hostile value it carries.
PLAUSIBLE = {"task_id": 1, "message_id": 1, "escalation_id": 1, "title": "t", "content": "c", "recipient": "alice",
             "key": "k", "value": "v", "status": "done", "text": "t", "approve": True, "assignee": "alice",
             "before_date": "2026-01-01", "note": "n", "role": "agent", "capabilities": "[]", "limit": 5,
             "paths": ["src/a.py"], "reservation_id": 1, "reason": "r"}


def database_digest(hub) -> str:
    """Every row of every table, hashed: a refusal must leave it as it was."""
    digest = hashlib.sha256()
    for table, _ in TABLES:
        for row in hub.store.query(f"SELECT * FROM {table} ORDER BY 1"):
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


async def test_generated_arguments_get_an_answer_or_a_clean_refusal_that_changes_nothing(table, engine):
    lead = await table.join("lead")
    await table.join("alice")
    table.grant("lead", "lead")
    await lead.ok("create_task", title="a task", assignee="alice")
    await lead.ok("send_message", recipient="alice", content="a message")
    schemas = {tool.name: tool.input_schema for tool in (await lead.client.list_tools()).tools}

    def arguments(tool: str) -> st.SearchStrategy[dict[str, Any]]:
        known = list(schemas[tool].get("properties", {}))
        identity = IDENTITY[tool]
        required = {k: PLAUSIBLE.get(k, "x") for k in schemas[tool].get("required", [])}
        hostile = st.dictionaries(st.sampled_from(known), VALUE, min_size=1, max_size=3) if known else st.just({})
        chosen = hostile.map(lambda values: {**required, **values})
        stray = st.dictionaries(st.sampled_from(["asignee", "extra", "__proto__", "ctx"]), VALUE, max_size=1)
        # Mostly as the lead (so calls get past authentication to the rules behind), sometimes as anyone.
        who = st.sampled_from([{identity: "lead", "token": lead.token}, {}]) if tool != "register" else st.just({})
        return st.builds(lambda base, own, odd: {**base, **own, **odd}, who, chosen,
                         st.one_of(st.just({}), stray))

    checked = {"calls": 0}

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=EVERY_CHECK)
    @given(st.sampled_from(sorted(schemas)).flatmap(lambda tool: st.tuples(st.just(tool), arguments(tool))))
    def one_call(call: tuple[str, dict[str, Any]]) -> None:
        tool, args = call
        if tool in ("deregister", "register") and args.get("name", args.get("token")) in ("lead", lead.token):
            return  # leaving, or re-joining as, the member every other call speaks for would end the run
        before = database_digest(table.hub)
        result = anyio.from_thread.run(lead.client.call_tool, tool, args)
        assert len(result.content) == 1, (tool, args)
        data = json.loads(result.content[0].text)
        checked["calls"] += 1
        if result.is_error:
            assert data.get("code") in CODES, (tool, args, data)
            assert isinstance(data["error"], str) and data["error"], (tool, args, data)
            assert database_digest(table.hub) == before, (tool, args, data)

    # A few runs, each over all the tools; half as many on PostgreSQL, where the same refusals are checked again
    # against the other engine's types and limits (the digest reads every table there in a round trip each).
    for _ in range(len(schemas) // (4 if engine == "sqlite" else 8)):
        await anyio.to_thread.run_sync(one_call)
    assert checked["calls"] > 100
