"""The helpers that wake an idle Claude Code session connected to a network hub (`hook claude-code wait` and
`hook claude-code monitor`). Each holds GET /agents/{agent}/wakes open and hands the pointer it gets to the client:

- `wait`, an asyncRewake hook (SessionStart and Stop): the first wake is written to stderr and the hook exits 2,
  which wakes the model with it; nothing within `--for` seconds (keep it under the hook's own timeout), the hub
  down, a newer hook of the same session, any error: silent, exit 0.
- `monitor`, a plugin monitor (the session's lifetime): each wake is one line on stdout, which wakes the model;
  the hub down is waited out (reconnects, silently); it ends with the session that started it.

Standard library only: a hook starts in a fraction of a second.
"""

from __future__ import annotations

import http.client
import os
import sys
import time
import urllib.parse
from collections.abc import Iterator

HEARTBEAT = 15.0  # the hub writes at least this often
RECONNECT_MAX = 30.0


class Stop(Exception):
    """Nothing to hand over: the helper ends quietly."""


def wait(url: str, agent: str, token: str, session: str, seconds: float) -> str | None:
    """The first wake for `agent` within `seconds`, or None."""
    deadline = time.monotonic() + seconds
    try:
        for event, data in _events(url, agent, token, "hook", session, deadline):
            if event == "wake":
                return data
            if event == "replaced":
                return None
    except (OSError, Stop, http.client.HTTPException, ValueError):
        return None
    return None


def monitor(url: str, agent: str, token: str, out=None) -> None:
    """Print each wake for `agent` as one line, until the session that started this process is gone."""
    out = out or sys.stdout
    parent = os.getppid()
    pause = 1.0
    while os.getppid() == parent:
        try:
            for event, data in _events(url, agent, token, "monitor", "", None, alive=lambda: os.getppid() == parent):
                pause = 1.0
                if event == "wake":
                    out.write(" ".join(data.split()) + "\n")
                    out.flush()
        except (OSError, Stop, http.client.HTTPException, ValueError):
            pass
        time.sleep(pause)
        pause = min(RECONNECT_MAX, pause * 2)


def _events(url: str, agent: str, token: str, via: str, session: str, deadline: float | None,
            alive=lambda: True) -> Iterator[tuple[str, str]]:
    """The SSE events of /agents/{agent}/wakes: (event, data) pairs; ends at `deadline`."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Stop("not an http(s) URL")
    query = urllib.parse.urlencode({"via": via, **({"session": session} if session else {})})
    path = f"{parts.path.rstrip('/')}/agents/{urllib.parse.quote(agent, safe='')}/wakes?{query}"
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    first = _left(deadline, HEARTBEAT * 2)
    conn = kind(parts.hostname, parts.port, timeout=min(5.0, first))
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"})
        response = conn.getresponse()
        if response.status != 200:
            raise Stop(f"the hub answered {response.status}")
        event, data = "message", []
        while alive():
            conn.sock.settimeout(_left(deadline, HEARTBEAT * 2))
            try:
                raw = response.fp.readline(65536)
            except TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                raise
            if not raw:
                return  # the hub closed the stream
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == "":
                if data:
                    yield event, "\n".join(data)
                event, data = "message", []
            elif line.startswith(":"):
                continue  # the hub's keep-alive
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
            if deadline is not None and time.monotonic() >= deadline:
                return
    finally:
        conn.close()


def _left(deadline: float | None, most: float) -> float:
    if deadline is None:
        return most
    left = deadline - time.monotonic()
    if left <= 0:
        raise Stop("time is up")
    return min(most, left)
