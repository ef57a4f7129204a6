"""Who is calling: a name and token in the arguments, or an identity bound to the connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from team_table import members
from team_table.errors import Unauthorized
from team_table.hub import Hub
from team_table.models import Caller


@dataclass(frozen=True)
class Binding:
    """An identity fixed by how the client connected (stdio environment, or an HTTP bearer token)."""

    agent: str
    token: str


# Returns the binding of the current call, if any (stdio: fixed for the process; HTTP: per request).
BindingSource = Callable[[], Binding | None]


def no_binding() -> Binding | None:
    return None


def fixed(binding: Binding | None) -> BindingSource:
    return lambda: binding


def resolve(hub: Hub, source: BindingSource, name: str, token: str) -> Caller:
    """Authenticate the caller. With a bound identity, name and token may be left out; if given they must match."""
    bound = source()
    if bound is not None:
        if name and name != bound.agent:
            raise Unauthorized(
                f"This connection is bound to {bound.agent}; leave the name out, or use {bound.agent}."
            )
        name = bound.agent
        token = token or bound.token
    return members.authenticate(hub, name, token)
