"""The private parts of the MCP SDK the hub still reaches, one function each, where the SDK offers no public way.
tests/test_sdk_privates.py has a test per private that fails, naming it, on an SDK release that moves it.

Everything else goes through the SDK's public extension points: the low-level `Server` and its constructor hooks
(tools/list, tools/call, the input schemas), its `middleware` list, a session manager the hub constructs itself,
the SDK's stdio and SSE transports; and uvicorn's `capture_signals`."""

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
