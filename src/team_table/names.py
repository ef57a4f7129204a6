"""What a member's name may be (CONTRACT §6): 1..64 ASCII letters, digits, space . _ -, letter or digit at each end."""

from __future__ import annotations

import re

from team_table.errors import Invalid

MAX_NAME = 64
HUB_SENDER = "team-table"  # the name the hub's own messages and actions carry; no member may take it
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._\-]{0,62}[A-Za-z0-9])?")


def is_valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


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
