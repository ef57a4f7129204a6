"""Where domain results and errors become MCP tool results: one JSON document in one text item."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError

from team_table.errors import Invalid, TeamTableError
from team_table.models import plain
from team_table.server import refusals

log = logging.getLogger("team_table.tools")

INTERNAL = (
    "The hub hit an internal error (it is in the hub's log); nothing was changed. Try again, or tell the operator."
)


def result(value: Any) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=_json(value))])


def _json(value: Any) -> str:
    """Compact JSON, UTF-8 left as it is. A record, or a list of them, is written by pydantic's own serializer (a
    quarter of the time of dumping it to Python data, then that to JSON); the same text either way."""
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, list) and value and all(isinstance(item, BaseModel) for item in value):
        return "[" + ",".join(item.model_dump_json() for item in value) + "]"
    return json.dumps(plain(value), separators=(",", ":"), ensure_ascii=False)


def refusal(error: TeamTableError) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(refusals.body(error)))], is_error=True)


def answer(tool: str, work: Callable[[], Any]) -> tuple[CallToolResult, str]:
    """Run one domain call and map its outcome, once, to what the client sees; also says the outcome."""
    answered, refused, outcome = attempt(tool, lambda: result(work()))
    return (refused if refused is not None else answered), outcome


def attempt(tool: str, work: Callable[[], Any]) -> tuple[Any, CallToolResult | None, str]:
    """Run one domain call: its value, or the refusal the client sees; and the outcome."""
    try:
        return work(), None, "ok"
    except TeamTableError as exc:
        log.info("tool %s refused: %s", tool, exc.code)
        return None, refusal(exc), exc.code
    except Exception:
        log.exception("tool %s failed unexpectedly", tool)
        return None, refusal(TeamTableError(INTERNAL)), "internal"


def bad_arguments(tool: str, exc: ValidationError) -> CallToolResult:
    """Arguments that do not fit the tool's schema (caught before the tool runs)."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "arguments"
        parts.append(f"{field}: {error['msg']}")
    log.info("tool %s got bad arguments: %s", tool, sorted({p.split(':')[0] for p in parts}))
    return refusal(Invalid(f"Bad arguments to {tool}: {'; '.join(parts)}. Nothing was changed."))
