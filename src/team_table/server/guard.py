"""The HTTP edge: Host/Origin allowlist, request size limit, bearer-token check, failed-auth throttling, access log."""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from team_table.errors import Forbidden, Invalid, TeamTableError, Unauthorized
from team_table.server import refusals
from team_table.server.auth_failures import FailedAuth, route_of
from team_table.server.identity import bearer_token, empty_bearer
from team_table.settings import Settings

access = logging.getLogger("team_table.access")

LOCAL_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]")
MAX_BODY = 1 << 20  # 1 MiB: the largest tool arguments (50,000-character context values) fit many times over
KNOWN_GOOD_SECONDS = 1.0
EMPTY_BEARER = ("The bearer token is empty: the client sent `Authorization: Bearer` with nothing after it, so the "
                "variable meant to hold the token (e.g. TEAM_TABLE_TOKEN_ALICE) is probably not set where the client "
                "runs. Export it there and restart the client; or drop the header to connect without a token.")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: Settings) -> list[str]:
    """The Host header values the hub answers: localhost always, plus what team.yaml or --allow-host add.

    Binding beyond loopback without naming the hosts would leave the hub open to DNS rebinding: refused.
    """
    extra = []
    for entry in settings.allowed_hosts:
        extra += [entry] if ":" in entry.lstrip("[").split("]")[-1] else [entry, f"{entry}:*"]
    if not is_loopback(settings.host) and not extra:
        raise Invalid(
            f"The hub would listen on {settings.host}, beyond this machine, but no host names are allowed: "
            "list the names clients use in hub.allowed_hosts in team.yaml (e.g. [\"hub.example.lan\"]) or "
            "pass --allow-host NAME."
        )
    return [*LOCAL_HOSTS, *extra]


def allowed_origins(hosts: list[str]) -> list[str]:
    return [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]


async def reply(send: Send, error: TeamTableError, status: int | None = None,
                extra: dict[str, str] | None = None) -> None:
    """A refusal, straight on the ASGI wire (the guard answers before any app runs); as refusals.response."""
    payload = json.dumps(refusals.body(error)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in {**refusals.headers(error), **(extra or {})}.items()]
    await send({"type": "http.response.start", "status": status or refusals.status(error), "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class Guard:
    """Wraps the whole app: every route is checked, and every request is logged without its query or headers."""

    def __init__(self, app: ASGIApp, *, hosts: list[str], identify: Callable[[str], Awaitable[str | None]],
                 failures: FailedAuth, max_body: int = MAX_BODY) -> None:
        self.app = app
        self._known: dict[str, float] = {}  # token digest -> until when it is known good (monotonic)
        self._good_hosts: set[str] = set()  # Host values seen to match `hosts`
        self.hosts = hosts
        self.origins = allowed_origins(hosts)
        self.identify = identify
        self.failures = failures
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 0}

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if status["code"]:
                    # The SDK's SSE endpoint answers once more after its stream ended (at shutdown):
                    # the response was sent already, so the late one is dropped, not an error.
                    status["late"] = True
                    return
                status["code"] = message["status"]
            elif status.get("late"):
                return
            await send(message)

        try:
            await self._check_then_serve(scope, receive, logged_send)
        finally:
            client = (scope.get("client") or ("-", 0))[0]
            access.info('%s "%s %s" %s %.1fms', client, scope["method"], scope["path"], status["code"],
                        (time.perf_counter() - start) * 1000)

    def _host_allowed(self, host: str) -> bool:
        if host in self._good_hosts:
            return True
        if not any(fnmatch.fnmatchcase(host, pattern.replace("[", "[[]")) for pattern in self.hosts):
            return False
        if len(self._good_hosts) < 1000:
            self._good_hosts.add(host)
        return True

    async def _check_then_serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _wanted(scope)
        host = headers.get("host", "")
        if not self._host_allowed(host):  # 421: this hub is not the one the client meant
            await reply(send, Forbidden(f"Host {host!r} is not allowed; add it to hub.allowed_hosts."), 421)
            return
        origin = headers.get("origin")
        if origin and not any(fnmatch.fnmatchcase(origin, p.replace("[", "[[]")) for p in self.origins):
            await reply(send, Forbidden(f"Origin {origin!r} is not allowed."))
            return
        length = headers.get("content-length")
        too_big = Invalid(f"Request body over {self.max_body} bytes.")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await reply(send, too_big, 413)
            return
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            buffered = await _buffered(receive, self.max_body)  # a chunked body: read it whole, within the limit
            if buffered is None:
                await reply(send, too_big, 413)
                return
            receive = buffered
        client = (scope.get("client") or ("-", 0))[0]
        token = bearer_token(headers)
        route, events = route_of(scope["path"]), scope["path"].startswith("/events/")
        if not token and empty_bearer(headers) and not events:
            # Not a guess (nothing is counted against the address): a client whose token variable is unset.
            await reply(send, self.failures.refused(route, None, Unauthorized(EMPTY_BEARER)))
            return
        # /events answers any bad token with 403 itself (docs/compatibility.md §5).
        try:
            known_bad = bool(token) and not events and not await self._known_good(token)
        except TeamTableError:
            # The database cannot tell now (away, restarting): the route checks the token itself and says so in
            # its own way (a tool call with an `unavailable` refusal, which an MCP client shows its agent; a bare
            # 503 here would read as a dropped session).
            known_bad = False
        if known_bad:
            await reply(send, self.failures.refused(route, client, Unauthorized(
                "The bearer token is not valid (revoked, or never issued); mint a new one with "
                "`team-table token NAME`.")))
            return
        await self.app(scope, _limited(receive, self.max_body), send)


    async def _known_good(self, token: str) -> bool:
        """Is the bearer token valid? A good answer is kept for a second: this check only turns strangers away
        early (every tool call authenticates again), so a revocation still takes effect at the next call."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        if self._known.get(key, 0.0) > now:
            return True
        if await self.identify(token) is None:
            return False
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[key] = now + KNOWN_GOOD_SECONDS
        return True


_CHECKED = (b"host", b"origin", b"content-length", b"authorization")


def _wanted(scope: Scope) -> dict[str, str]:
    """The headers the guard checks, read in one pass (the first of each, as Starlette's Headers.get has it)."""
    found: dict[str, str] = {}
    for key, value in scope["headers"]:
        if key in _CHECKED:
            found.setdefault(key.decode("latin-1"), value.decode("latin-1"))
    return found


def _limited(receive: Receive, limit: int) -> Receive:
    """A receive that stops a body that grows past `limit` bytes despite its Content-Length."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                return {"type": "http.disconnect"}
        return message

    return wrapped


async def _buffered(receive: Receive, limit: int) -> Receive | None:
    """Read a chunked body whole (None if it passes `limit`), and hand it on as one message."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return None
        if not message.get("more_body", False):
            break
    body, sent = b"".join(chunks), False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
