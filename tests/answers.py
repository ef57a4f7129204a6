"""Reading what a test got back: a pattern that must be in a text, and the text of a tool's answer. Both fail the
test with what was there instead, rather than with an AttributeError on None."""

from __future__ import annotations

import re
from typing import Any

from mcp.types import TextContent


def found(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    """`re.search`, failing the test (showing the text) when the pattern is not in it."""
    match = re.search(pattern, text, flags)
    assert match is not None, f"{pattern!r} is not in:\n{text[:2000]}"
    return match


def text_of(item: Any) -> str:
    """The text of one content item of a tool's answer, failing the test when it is not text."""
    assert isinstance(item, TextContent), f"not a text item: {item!r}"
    return item.text
