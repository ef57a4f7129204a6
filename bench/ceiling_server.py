"""The ceiling: the fastest a hub can be on this SDK. A bare MCPServer that keeps the table in memory and offers
what the bench's agents use (register, send_message, get_messages, and /events/{agent} over HTTP), answering
the way the hub answers: bearer-bound sessions over streamable HTTP with plain JSON answers, name and token in
the arguments over stdio. No database, no audit, no rate limit, no roles: what is left is the SDK, the transport
and the JSON.

Run by the bench as a script: `python ceiling_server.py http PORT` or `python ceiling_server.py stdio`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from collections import defaultdict
from datetime import UTC, datetime

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent

tokens: dict[str, str] = {}  # token -> agent
unread: dict[str, list[dict]] = defaultdict(list)
streams: dict[str, set[asyncio.Queue]] = defaultdict(set)
next_id = 0

server = MCPServer(name="ceiling", log_level="WARNING")


def _caller(ctx: Context, name: str, token: str) -> str:
    headers = ctx.headers
    if headers is not None:
        value = headers.get("authorization", "")
        if value.lower().startswith("bearer "):
            token = value[7:].strip()
    agent = tokens.get(token)
    if agent is None or (name and name != agent):
        raise ValueError("not authenticated")
    return agent


def _answer(value: object) -> CallToolResult:
    """One JSON document in one text item, as the hub answers (no structured copy of it)."""
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(value, separators=(",", ":")))])


@server.tool()
async def register(name: str = "", token: str = "") -> CallToolResult:
    """Join the table; returns a token."""
    minted = secrets.token_urlsafe(24)
    tokens[minted] = name
    return _answer({"name": name, "token": minted})


@server.tool()
async def send_message(ctx: Context, recipient: str, content: str, sender: str = "",
                       token: str = "") -> CallToolResult:
    """Send a message to one agent."""
    global next_id
    who = _caller(ctx, sender, token)
    next_id += 1
    message = {"id": next_id, "sender": who, "recipient": recipient, "content": content,
               "created_at": datetime.now(UTC).isoformat()}
    unread[recipient].append(message)
    for queue in streams.get(recipient, ()):
        queue.put_nowait({"id": next_id, "sender": who, "recipient": recipient})
    return _answer(message)


@server.tool()
async def get_messages(ctx: Context, agent_name: str = "", token: str = "") -> CallToolResult:
    """Your unread messages, each once."""
    who = _caller(ctx, agent_name, token)
    taken = unread.pop(who, [])
    return _answer([{**message, "read": True} for message in taken])


def http_app():
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    async def events(request: Request) -> Response:
        agent = request.path_params["agent"]
        value = request.headers.get("authorization", "")
        if tokens.get(value[7:].strip()) != agent:
            return Response(status_code=403)
        queue: asyncio.Queue = asyncio.Queue()
        streams[agent].add(queue)

        async def body():
            try:
                yield b"event: connected\ndata: {}\n\n"
                while True:
                    event = await queue.get()
                    data = json.dumps(event, separators=(",", ":"))
                    yield f"id: {event['id']}\nevent: message\ndata: {data}\n\n".encode()
            finally:
                streams[agent].discard(queue)

        return StreamingResponse(body(), media_type="text/event-stream")

    security = TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                         allowed_hosts=["127.0.0.1:*", "localhost:*"],
                                         allowed_origins=["http://127.0.0.1:*", "http://localhost:*"])
    mcp = server.streamable_http_app(transport_security=security, json_response=True)
    return Starlette(routes=[Route("/events/{agent}", events), *mcp.routes],
                     lifespan=lambda app: server.session_manager.run())


if __name__ == "__main__":
    if sys.argv[1] == "http":
        import uvicorn

        uvicorn.run(http_app(), host="127.0.0.1", port=int(sys.argv[2]), log_config=None, access_log=False)
    else:
        import anyio

        anyio.run(server.run_stdio_async)
