"""The private parts of the MCP SDK the hub still reaches, one function each, where the SDK offers no public way.
tests/test_sdk_privates.py has a test per private that fails, naming it, on an SDK release that moves it.

Everything else goes through the SDK's public extension points: the low-level `Server` and its constructor hooks
(tools/list, tools/call, the input schemas), its `middleware` list, a session manager the hub constructs itself,
the SDK's stdio and SSE transports; and uvicorn's `capture_signals`.

Relied on beyond what is documented, though not private by name, and tested where it would break:
- the session manager reads `json_response` for each request (server/http.py `_AnswerModes`;
  tests/test_sdk_privates.py);
- uvicorn's `H11Protocol` keeps `conn`, `transport`, `loop` and `client` (server/http.py `TimedH11Protocol`;
  tests/test_faults_processes.py, a client sending its headers a byte at a time, and tests/test_stream_limits.py);
- uvicorn's `Server.serve` enters `capture_signals()` (every network hub test stops its hub with SIGTERM and
  checks it exited 0), and `on_tick` does its once-a-second work when `counter % 10 == 0` (`_Uvicorn.main_loop`;
  untested: were it to change, the Date header would go stale, nothing else);
- the SDK's `stdio_server(stdin=, stdout=)` reads `async for line in stdin` and writes `await stdout.write()`,
  `await stdout.flush()` (server/stdio.py; tests/test_stdio.py spawns hubs on pipes)."""

from __future__ import annotations

from typing import Any


class SdkMoved(RuntimeError):
    """A private part of the MCP SDK the hub relies on is not where it was: the SDK changed under the hub."""


def connection_of(session: Any) -> Any:
    """The connection a request's `ServerSession` belongs to (`mcp.server.connection.Connection`): one per stdio
    process, legacy HTTP session or in-process client, with the per-connection `exit_stack` the SDK documents for
    cleanup. The session (one per request) keeps it as `_connection` and has no public accessor; handlers are given
    no `Connection` either (`mcp.server.context.Context.connection` exists, but the runner does not build one)."""
    try:
        return session._connection
    except AttributeError:
        raise SdkMoved("mcp.server.session.ServerSession._connection (a request's connection) is gone: find the "
                       "connection another way in team_table/server/sdk_privates.py") from None
