"""Notifications outside the page, through Apprise, to a real local JSON webhook (Apprise's json://): a burst is one
digest with links to the dashboard; a target that fails is retried with a pause, counted in /metrics, and never
holds up the action that caused it."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import httpx2
import pytest

from dashboard_helpers import example_team, mint_people

from network_helpers import free_port, running_hub, seat

pytestmark = [pytest.mark.anyio, pytest.mark.processes]


class Hook:
    """What a webhook received: the JSON documents Apprise posted."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.arrived = threading.Event()

    async def next(self, within: float = 30) -> dict:
        seen = len(self.posts)
        with anyio.fail_after(within):
            while len(self.posts) <= seen:
                self.arrived.clear()
                if len(self.posts) > seen:
                    break
                await anyio.to_thread.run_sync(self.arrived.wait, 0.5)
        return self.posts[seen]


@contextmanager
def webhook(port: int) -> Iterator[Hook]:
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            hook.posts.append(json.loads(body))
            hook.arrived.set()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def with_targets(text: str, port: int, **extra: float) -> str:
    options = "".join(f"    {key}: {value}\n" for key, value in extra.items())
    return text.replace("writes: 30", "writes: 500") + (
        f"\nnotifications:\n  - urls: [\"json://127.0.0.1:{port}/hook\"]\n    on: [escalation, question]\n{options}")


async def metric(url: str, result: str) -> float:
    async with httpx2.AsyncClient() as client:
        text = (await client.get(url + "/metrics")).text
    found = re.search(rf'team_table_notifications_total{{result="{result}"}} ([0-9.]+)', text)
    return float(found.group(1)) if found else 0.0


async def metric_once_counted(url: str, result: str, within: float = 10) -> float:
    """The metric once the hub has counted a delivery: it counts after the target answered, so a test that saw the
    target's POST may read /metrics a moment before the count."""
    with anyio.move_on_after(within):
        while await metric(url, result) < 1:
            await anyio.sleep(0.05)
    return await metric(url, result)


@pytest.mark.one_engine  # the digest is the notifier's; the retry test below runs the outbox on both
async def test_a_burst_of_fifty_escalations_is_one_digest_with_links(tmp_path: Path):
    port = free_port()
    with webhook(port) as hook:
        async with AsyncExitStack() as stack:
            hub = await stack.enter_async_context(running_hub(
                tmp_path, with_targets(example_team(mint_people()), port, quiet_seconds=8, max_wait_seconds=120)))
            alice = await seat(stack, hub, "http-handshake", "alice")
            await seat(stack, hub, "http-handshake", "bob")
            for n in range(50):
                sent = await alice.ok("send_message", recipient="bob", content=f"Should we ship part {n}?")
                assert sent["escalated"] == ["decision"]
            digest = await hook.next()
            assert digest["title"] == "team-table: 50 escalations"
            assert f"{hub.url}/ui#escalation-1" in digest["message"] and "Should we ship part 0?" in digest["message"]
            assert "and 30 more" in digest["message"]
            assert await metric_once_counted(hub.url, "sent") == 1
            asked = await alice.ok("ask", question="Friday or Monday?", kind="choice", options=["Friday", "Monday"])
            question = await hook.next()
            assert question["title"] == "team-table: 1 question"
            assert f"{hub.url}/ui#question-{asked['id']}" in question["message"]
            assert len(hook.posts) == 2  # fifty escalations and a question: two digests, not fifty-one pings


async def test_a_failing_target_is_retried_counted_and_never_holds_up_the_action(tmp_path: Path):
    port = free_port()  # nothing listens there yet
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(running_hub(
            tmp_path, with_targets(example_team(mint_people()), port, quiet_seconds=0, retry_seconds=1)))
        alice = await seat(stack, hub, "http-handshake", "alice")
        await seat(stack, hub, "http-handshake", "bob")
        sent = await alice.ok("send_message", recipient="bob", content="Should we drop the old table?")
        assert sent["escalated"] == ["decision"]  # the action is done, whatever the target does
        with anyio.fail_after(30):
            while await metric(hub.url, "failed") < 1:
                await anyio.sleep(0.2)
        assert "notification target" in hub.log_text() and "failed (try 1" in hub.log_text()
        with webhook(port) as hook:  # the target comes back: the digest arrives with a later try
            digest = await hook.next(within=60)
        assert digest["title"] == "team-table: 1 escalation" and "Should we drop the old table?" in digest["message"]
        assert await metric_once_counted(hub.url, "sent") == 1
