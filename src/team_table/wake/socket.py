"""Claude Code's cross-session messaging socket: every interactive session listens on a Unix socket and tells the
processes it starts (its stdio MCP servers among them) where, in CLAUDE_CODE_MESSAGING_SOCKET (with a token in
CLAUDE_CODE_MESSAGING_TOKEN). A line posted there starts a turn in an idle session; `priority: next` waits for a
running tool call instead of aborting it. Frames are newline-delimited JSON; nothing is written back."""

from __future__ import annotations

import json

import anyio

from team_table.delivery_policy import Way
from team_table.wake.waker import Route

CONNECT_TIMEOUT = 2.0


async def post(path: str, token: str | None, text: str) -> None:
    """One user turn's worth of text into the session at `path`; raises OSError when the socket is gone or refuses."""
    frames = []
    if token:
        frames.append({"type": "auth", "token": token})
    frames.append({"type": "user", "message": {"role": "user", "content": text}, "priority": "next"})
    payload = "".join(json.dumps(frame, separators=(",", ":")) + "\n" for frame in frames).encode()
    with anyio.fail_after(CONNECT_TIMEOUT):
        stream = await anyio.connect_unix(path)
    async with stream:
        await stream.send(payload)


def route(path: str, token: str | None) -> Route:
    async def deliver(text: str) -> None:
        await post(path, token, text)

    return Route(Way.SOCKET, deliver, label=path)
