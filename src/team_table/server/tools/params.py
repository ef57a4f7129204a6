"""The parameter types the tools share: the caller's name and token, ids (whose bounds the hub checks), paths."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from team_table.limits import MAX_INT

Name = Annotated[str, Field(description="Your agent name (may be left out when the connection is bound to you).")]
Token = Annotated[str, Field(description="Your token from register (may be left out when bound).")]
Id = Annotated[int, Field(ge=1, le=MAX_INT)]
TaskId = Id
MessageId = Id
EscalationId = Id
TaskIds = Annotated[list[Id], Field(max_length=100)]
Paths = Annotated[list[str], Field(description='gitignore-style, from the repository root: ["src/api/**"]')]
