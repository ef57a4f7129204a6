"""What a member's name may be (docs/compatibility.md §6): 1..64 ASCII letters, digits, space . _ -, letter or
digit at each end.

The hub writes under two names of its own, which no member may take (in any letter case): `team-table` for
its [AUTO] messages, workflows and jobs, and `operator` for what a person does from the command line.
"""

from __future__ import annotations

import re

from team_table.errors import Invalid

MAX_NAME = 64
HUB_SENDER = "team-table"  # the hub's own messages and actions
OPERATOR = "operator"  # the person holding the database file, acting from the CLI
RESERVED = frozenset({HUB_SENDER, OPERATOR})
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._\-]{0,62}[A-Za-z0-9])?")


def is_valid_name(name: str) -> bool:
    return isinstance(name, str) and bool(_NAME.fullmatch(name))


def is_reserved(name: str) -> bool:
    return name.lower() in RESERVED


def check_name(name: str, what: str = "agent name") -> str:
    """Return `name` if it is a valid member name, else refuse with the rule."""
    if not isinstance(name, str) or not name.strip():
        raise Invalid(f"The {what} is empty; give 1 to {MAX_NAME} characters.")
    if len(name) > MAX_NAME:
        raise Invalid(f"The {what} is {len(name)} characters long; at most {MAX_NAME} are allowed.")
    if not is_valid_name(name):
        raise Invalid(
            f"The {what} {name!r} is not allowed: use letters, digits, space, '.', '_' or '-', "
            "starting and ending with a letter or digit."
        )
    return name


def check_new_member(name: str) -> str:
    """A name a member may take: valid, and not one the hub writes under."""
    check_name(name)
    if is_reserved(name):
        raise Invalid(f"{name!r} is a name the hub itself writes under ({', '.join(sorted(RESERVED))}); "
                      "no member may take it. Choose another name.")
    return name


def token_variable(agent: str) -> str:
    """The environment variable an agent's token is kept in where its client runs, e.g. TEAM_TABLE_TOKEN_ALICE."""
    return "TEAM_TABLE_TOKEN_" + "".join(c if c.isalnum() else "_" for c in agent).upper()
