"""Who is calling: a name and token in the arguments, or an identity bound to the connection."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from team_table import members, tokens
from team_table.errors import Unauthorized
from team_table.hub import Hub
from team_table.models import Caller
from team_table.names import token_variable
from team_table.settings import Settings


@dataclass(frozen=True)
class Binding:
    """An identity fixed by how the client connected (stdio environment, or an HTTP bearer token)."""

    agent: str
    token: str
    token_digest: str = ""  # the token's SHA-256, when the binding source computed it already


# The binding of a request, from its HTTP headers (None on stdio): fixed for a stdio process, the bearer token's
# agent over HTTP.
BindingSource = Callable[[Mapping[str, str] | None], Binding | None]


def no_binding(headers: Mapping[str, str] | None = None) -> Binding | None:
    return None


def fixed(binding: Binding | None) -> BindingSource:
    return lambda headers=None: binding


def stdio_binding(settings: Settings) -> Binding | None:
    """TEAM_TABLE_AGENT (+ TEAM_TABLE_TOKEN) binds every call of a stdio server to one agent."""
    if not settings.agent:
        return None
    return Binding(agent=settings.agent, token=settings.token or "")


def check_stdio_binding(hub: Hub, binding: Binding | None) -> None:
    """Refuse, at start, a stdio hub bound to an agent whose token it does not have: it would show as connected and
    fail every call. An agent that may still join with register (the first call of a new member) passes."""
    if binding is None:
        return
    try:
        members.authenticate(hub, binding.agent, binding.token)
        return
    except Unauthorized:
        if members.may_join(hub, binding.agent):
            return
    agent, var = binding.agent, token_variable(binding.agent)
    declared = hub.team.agents.get(agent)
    if declared is not None and not declared.enabled:
        raise Unauthorized(f"This hub is bound to {agent} (TEAM_TABLE_AGENT), who is disabled in team.yaml "
                           "(enabled: false): enable it there, or bind the client to another agent.")
    mint = f"`team-table token {agent} --write` mints one and declares its hash"
    if not binding.token:
        raise Unauthorized(f"This hub is bound to {agent} (TEAM_TABLE_AGENT) but was given no token: set {var} "
                           f"where the client runs ({mint}), then restart the client.")
    raise Unauthorized(f"This hub is bound to {agent} (TEAM_TABLE_AGENT) but its token (TEAM_TABLE_TOKEN, else {var}) "
                       f"is not {agent}'s: revoked, replaced, or from another table. Set {var} to {agent}'s current "
                       f"token where the client runs ({mint}), then restart the client.")


def from_bearer(hub: Hub) -> BindingSource:
    """HTTP: an `Authorization: Bearer <token>` header on the request binds the call to the token's agent.

    Whose a token is does not change (a token is issued to one member, or declared for one agent in team.yaml), so
    it is looked up once per token and team config; whether it is still good (not revoked, its agent at the table
    and enabled) is checked at every call, when the call authenticates."""
    known: dict[str, str] = {}  # token digest -> agent, under the team config `seen`
    seen: list[object] = [None]

    def source(headers: Mapping[str, str] | None = None) -> Binding | None:
        token = bearer_token(headers or {})
        if not token:
            return None
        token_digest = tokens.digest(token)
        if seen[0] is not hub.team or len(known) > 10_000:  # a reload may move a declared token to another agent
            known.clear()
            seen[0] = hub.team
        agent = known.get(token_digest)
        if agent is None:
            agent = members.identify(hub, token)
            if agent:
                known[token_digest] = agent
        # An unknown bearer token was already refused by the HTTP layer; if it went stale since, refuse here too.
        return Binding(agent=agent or "", token=token, token_digest=token_digest)

    return source


def bearer_token(headers: Mapping[str, str]) -> str:
    return bearer_of(headers.get("authorization") or headers.get("Authorization") or "")


def bearer_of(value: str) -> str:
    """The token of an Authorization header's value ('' unless it is a bearer token)."""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def empty_bearer(headers: Mapping[str, str]) -> bool:
    """`Authorization: Bearer` with nothing after it: what a client sends when the variable meant to hold the token
    is unset where it runs (`Bearer ${TEAM_TABLE_TOKEN_ALICE}`)."""
    value = headers.get("authorization") or headers.get("Authorization") or ""
    return value.strip().lower() == "bearer"


def resolve(hub: Hub, bound: Binding | None, name: str, token: str) -> Caller:
    """Authenticate the caller. With a bound identity, name and token may be left out; if given they must match."""
    if bound is not None:
        if name and name != bound.agent:
            raise Unauthorized(
                f"This connection is bound to {bound.agent}; leave the name out, or use {bound.agent}."
            )
        name = bound.agent
        if bound.token_digest and token in ("", bound.token):
            return members.authenticate_digest(hub, name, bound.token_digest)
        token = token or bound.token
    return members.authenticate(hub, name, token)
