"""The transports the hub mounts on the SDK's public parts itself (server/http.py): the legacy SSE stream runs the
server once per stream, and each run has a seat of its own, so one ending leaves the rest of the hub alone."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from team_table import tokens

from network_helpers import join_all, running_hub, seat

pytestmark = [pytest.mark.anyio, pytest.mark.one_engine, pytest.mark.processes]

STATEFUL = "hub:\n  stateless_http: false\n"  # sessions kept in the process (the default on SQLite only)


async def test_an_sse_client_leaving_does_not_silence_the_bound_http_sessions_that_come_after(tmp_path: Path):
    minted = tokens.mint()
    yaml = f"agents:\n  bob:\n    role: coder\n    token_hashes: [\"{tokens.file_hash(minted)}\"]\n"
    async with running_hub(tmp_path, yaml + STATEFUL) as hub, AsyncExitStack() as stack:
        (alice,) = await join_all(stack, hub, "alice")
        async with AsyncExitStack() as passing:  # an SSE client comes and goes
            carol = await seat(passing, hub, "sse", "carol")
            await carol.ok("heartbeat")
        bob = await seat(stack, hub, "http-handshake", bearer=minted)
        await bob.ok("heartbeat")
        sent = await alice.ok("send_message", recipient="bob", content="after the sse client left")
        note = await bob.next_push(within=5)
        assert f"(message {sent['id']})" in note.content
