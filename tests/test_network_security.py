"""The network hub's edge: Host and Origin checked on every route, body size limit, bearer tokens and
failed-authentication throttling, refusing unsafe starts, and tokens kept out of the log."""

from __future__ import annotations

import socket
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx2
import pytest

from network_helpers import events, join_all, mcp_client, refused_start, running_hub
from stdio_helpers import Seat

# Host, Origin, CORS and the HTTP edge's limits come before any database: one pass.
pytestmark = [pytest.mark.anyio, pytest.mark.one_engine, pytest.mark.processes]

MAX_BODY = 1 << 20
ROUTES = [("POST", "/mcp"), ("GET", "/sse"), ("POST", "/messages/"), ("GET", "/events/x"), ("GET", "/healthz"),
          ("GET", "/readyz"), ("GET", "/metrics")]


async def answer(http: httpx2.AsyncClient, method: str, url: str, **kwargs) -> httpx2.Response:
    """One request, bounded: a refused request is answered at once, whereas a stream would never end."""
    with anyio.fail_after(5):
        return await http.request(method, url, **kwargs)


async def test_a_host_outside_the_allowlist_gets_421_on_every_route(tmp_path: Path):
    async with running_hub(tmp_path) as hub, httpx2.AsyncClient() as http:
        for host in ("evil.example", f"evil.example:{hub.port}", f"localhost.evil.example:{hub.port}"):
            for method, path in ROUTES:
                refused = await answer(http, method, hub.url + path, headers={"Host": host})
                assert refused.status_code == 421, (host, path, refused.status_code)
        for host in (f"127.0.0.1:{hub.port}", f"localhost:{hub.port}", "localhost"):
            assert (await answer(http, "GET", hub.url + "/healthz", headers={"Host": host})).status_code == 200


async def test_a_foreign_origin_gets_403_and_the_hubs_own_origin_passes(tmp_path: Path):
    async with running_hub(tmp_path) as hub, httpx2.AsyncClient() as http:
        for origin in ("http://evil.example", f"http://evil.example:{hub.port}", "null"):
            for method, path in ROUTES:
                refused = await answer(http, method, hub.url + path, headers={"Origin": origin})
                assert refused.status_code == 403, (origin, path, refused.status_code)
        for origin in (hub.url, f"http://localhost:{hub.port}"):
            passed = await answer(http, "GET", hub.url + "/healthz", headers={"Origin": origin})
            assert passed.status_code == 200, origin


async def test_a_body_over_one_mebibyte_gets_413(tmp_path: Path):
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    async with running_hub(tmp_path) as hub, httpx2.AsyncClient() as http:
        for path in ("/mcp", "/messages/"):
            refused = await answer(http, "POST", hub.url + path, content=b" " * (MAX_BODY + 1), headers=headers)
            assert refused.status_code == 413, path
        at_limit = await answer(http, "POST", hub.url + "/mcp", content=b" " * MAX_BODY, headers=headers)
        assert at_limit.status_code != 413  # the limit itself is allowed (and refused as bad JSON instead)


async def test_a_chunked_body_over_one_mebibyte_gets_413(tmp_path: Path):
    """Without a Content-Length the size is only known while reading: the answer must still be 413."""

    async def chunks():
        for _ in range(20):
            yield b" " * 100_000

    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    async with running_hub(tmp_path) as hub, httpx2.AsyncClient() as http:
        refused = await answer(http, "POST", hub.url + "/mcp", content=chunks(), headers=headers)
        assert refused.status_code == 413, (refused.status_code, refused.text[:200])
        assert (await answer(http, "GET", hub.url + "/healthz")).status_code == 200


async def test_an_invalid_bearer_token_gets_401_on_mcp_and_sse(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        (alice,) = await join_all(stack, hub, "alice")
        old = alice.token
        await alice.join("alice", token=old)  # re-registering revokes the old token
        http = await stack.enter_async_context(httpx2.AsyncClient())
        for token in ("not-a-token", old):
            for method, path in (("POST", "/mcp"), ("GET", "/sse"), ("POST", "/messages/")):
                refused = await answer(http, method, hub.url + path, headers={"Authorization": f"Bearer {token}"})
                assert refused.status_code == 401, (path, refused.status_code)
                assert refused.headers["www-authenticate"].lower().startswith("bearer")
                assert refused.json()["code"] == "unauthorized"
        with pytest.raises(Exception):  # noqa: B017 - the SDK's error type for a 401 differs by transport
            async with mcp_client(hub.url, "http-handshake", bearer="not-a-token"):
                pass
        bound = Seat(await stack.enter_async_context(mcp_client(hub.url, "sse", bearer=alice.token)), hub.log)
        assert (await bound.raw("heartbeat")).data["name"] == "alice"  # the current token still works


async def test_an_empty_bearer_token_gets_401_saying_it_is_empty(tmp_path: Path):
    # What a client sends when `Authorization: Bearer ${TEAM_TABLE_TOKEN_ALICE}` expands an unset variable: it was
    # served as a connection without a token.
    async with running_hub(tmp_path) as hub, httpx2.AsyncClient() as http:
        for value in ("Bearer", "bearer"):  # a trailing space is dropped on the wire (and refused by httpx)
            for method, path in (("POST", "/mcp"), ("GET", "/sse"), ("POST", "/messages/"),
                                 ("GET", "/agents/alice/waiting")):
                refused = await answer(http, method, hub.url + path, headers={"Authorization": value})
                assert refused.status_code == 401, (value, path, refused.status_code)
                assert refused.json()["code"] == "unauthorized"
                assert "empty" in refused.json()["error"]
                assert refused.headers["www-authenticate"].lower().startswith("bearer")
        # Not counted as guessing: the address is not held up.
        assert (await answer(http, "POST", hub.url + "/mcp", headers={"Authorization": "Bearer x"})).status_code == 401


async def test_what_waits_for_an_agent_needs_its_token_401_without_one_403_with_anothers(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        http = await stack.enter_async_context(httpx2.AsyncClient())
        url = hub.url + "/agents/alice/waiting"
        missing = await answer(http, "GET", url)
        assert missing.status_code == 401 and missing.json()["code"] == "unauthorized"
        assert "TEAM_TABLE_TOKEN_ALICE" in missing.json()["error"]
        assert missing.headers["www-authenticate"].lower().startswith("bearer")
        assert (await answer(http, "GET", url, headers={"Authorization": f"Bearer {bob.token}"})).status_code == 403
        assert (await answer(http, "GET", hub.url + "/agents/alice/wakes")).status_code == 401  # the hooks' other route
        mine = await answer(http, "GET", url, headers={"Authorization": f"Bearer {alice.token}"})
        assert mine.status_code == 200, mine.text


async def test_the_eleventh_failed_authentication_from_one_address_gets_429(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        (alice,) = await join_all(stack, hub, "alice")
        http = await stack.enter_async_context(httpx2.AsyncClient())
        bad = {"Authorization": "Bearer not-a-token"}
        statuses = [(await answer(http, "POST", hub.url + "/mcp", headers=bad)).status_code for _ in range(11)]
        assert statuses == [401] * 10 + [429]
        blocked = await answer(http, "POST", hub.url + "/mcp", headers=bad)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert blocked.json()["code"] == "rate_limited"
        assert (await answer(http, "GET", f"{hub.url}/events/alice?token=guess")).status_code == 429
        # A valid token from the same address is never held up: every local agent shares 127.0.0.1.
        async with events(hub.url, "alice", alice.token) as stream:
            assert stream is not None
        good = Seat(await stack.enter_async_context(mcp_client(hub.url, "http-2026", bearer=alice.token)), hub.log)
        assert (await good.raw("heartbeat")).data["name"] == "alice"
        # A tool call's failed authentication is counted the same way: this address is past its limit.
        assert (await good.raw("heartbeat", token="a guess")).data["code"] == "rate_limited"
        assert (await answer(http, "GET", hub.url + "/healthz")).status_code == 200


async def test_a_network_hub_without_tokens_refuses_to_start(tmp_path: Path):
    for where, team, env in (("env", "", {"TEAM_TABLE_REQUIRE_TOKENS": "false"}),
                             ("team.yaml", "hub:\n  require_tokens: false\n", {})):
        code, stderr = await refused_start(tmp_path / where, team, env=env)
        assert code == 1, (where, stderr)
        assert "TEAM_TABLE_ALLOW_INSECURE" in stderr and "Traceback" not in stderr, stderr


async def test_a_network_hub_without_tokens_starts_when_insecure_is_allowed(tmp_path: Path):
    env = {"TEAM_TABLE_REQUIRE_TOKENS": "false", "TEAM_TABLE_ALLOW_INSECURE": "true"}
    async with running_hub(tmp_path, env=env) as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        sent = await alice.raw("send_message", sender="alice", recipient="bob", content="no token needed")
        assert not sent.is_error, sent.data
        assert [m["content"] for m in await bob.ok("get_messages", token="")] == ["no token needed"]


async def test_a_port_already_in_use_is_refused_with_exit_1_and_no_traceback(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, stderr = await refused_start(tmp_path, "", port=port)
    assert code == 1, (code, stderr[-1500:])
    assert str(port) in stderr and "Traceback" not in stderr, stderr[-1500:]
    assert "already in use" in stderr and "--port" in stderr, stderr[-1500:]  # said at once, with what to do
    assert "hub up" not in stderr, stderr[-1500:]  # before anything started


async def test_binding_beyond_loopback_without_allowed_hosts_is_refused_naming_hub_allowed_hosts(tmp_path: Path):
    code, stderr = await refused_start(tmp_path, "", "--host", "0.0.0.0")
    assert code == 1, stderr
    assert "hub.allowed_hosts" in stderr and "--allow-host" in stderr and "Traceback" not in stderr, stderr


@pytest.mark.parametrize("named_in", ["--allow-host", "team.yaml"])
async def test_binding_beyond_loopback_serves_the_allowed_hosts_only(tmp_path: Path, named_in: str):
    if named_in == "team.yaml":
        team, args = "hub:\n  allowed_hosts: [hub.test]\n", ("--host", "0.0.0.0")
    else:
        team, args = "", ("--host", "0.0.0.0", "--allow-host", "hub.test")
    async with running_hub(tmp_path, team, *args) as hub, httpx2.AsyncClient() as http:
        for host, status in ((f"hub.test:{hub.port}", 200), ("hub.test", 200), (f"127.0.0.1:{hub.port}", 200),
                             (f"other.test:{hub.port}", 421)):
            reply = await answer(http, "GET", hub.url + "/healthz", headers={"Host": host})
            assert reply.status_code == status, host
        origin = await answer(http, "GET", hub.url + "/healthz", headers={"Origin": f"http://hub.test:{hub.port}"})
        assert origin.status_code == 200


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_token_values_never_appear_in_the_hubs_log(tmp_path: Path, level: str):
    wrong = "wrong-token-3f9a7c1e5b"
    async with running_hub(tmp_path, env={"TEAM_TABLE_LOG_LEVEL": level}) as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        first_bob = bob.token
        await bob.join("bob", token=first_bob)  # a second token, in a result again
        await alice.ok("send_message", recipient="bob", content="token in the arguments")
        for kind in ("http-handshake", "sse"):  # as a Bearer header on /mcp and /sse
            async with mcp_client(hub.url, kind, bearer=alice.token) as client:
                assert not (await Seat(client, hub.log).raw("heartbeat")).is_error
        async with events(hub.url, "bob", bob.token, via="query"), events(hub.url, "alice", alice.token):
            pass
        http = await stack.enter_async_context(httpx2.AsyncClient())
        await answer(http, "GET", f"{hub.url}/events/bob?token={wrong}")
        await answer(http, "POST", hub.url + "/mcp", headers={"Authorization": f"Bearer {wrong}-bearer"})
        await bob.call("heartbeat", token=wrong + "-argument")
        await stack.aclose()
        await hub.stop()
        log = hub.log_text()
    assert "/events/bob" in log  # requests were logged ...
    for secret in (alice.token, first_bob, bob.token, wrong):
        assert secret not in log  # ... but no token, not even a wrong one


async def test_a_bound_session_is_refused_at_its_next_call_once_its_token_is_revoked(tmp_path: Path):
    """The hub remembers whose a bearer token is, but checks at every call that it still holds."""
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        (alice,) = await join_all(stack, hub, "alice")
        old = alice.token
        bound = Seat(await stack.enter_async_context(mcp_client(hub.url, "http-handshake", bearer=old)), hub.log)
        assert (await bound.raw("heartbeat")).data["name"] == "alice"
        await alice.join("alice", token=old)  # re-registering revokes the old token
        try:
            reply = await bound.raw("heartbeat")
        except Exception as exc:  # refused at the HTTP layer (401), once its one-second cache lapsed
            refused = "401" in repr(exc) or "nauthorized" in repr(exc)
        else:  # refused by the tool, within that second
            refused = reply.is_error and reply.data["code"] == "unauthorized"
        assert refused


async def test_a_kept_alive_connection_outlives_the_idle_time_of_clients_pools(tmp_path: Path):
    """httpx keeps an idle connection 5 s, Node's undici 4 s: a hub that closed sooner or at the same time would
    race a client reusing it (its request lost, a ReadError), so the hub keeps it open longer and the client lets go
    first."""
    async with running_hub(tmp_path) as hub:
        stream = await anyio.connect_tcp("127.0.0.1", hub.port)
        async with stream:
            request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\n\r\n".encode()
            for pause in (6, 0):  # 6 s: longer than httpx's 5 s, and the connection is still there to reuse
                await stream.send(request)
                with anyio.fail_after(5):
                    assert (await stream.receive()).startswith(b"HTTP/1.1 200")
                await anyio.sleep(pause)
