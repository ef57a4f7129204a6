"""What the CLI prints for a person (tables) or a script (--json)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from team_table.models import plain


def emit_json(value: Any) -> None:
    click.echo(json.dumps(plain(value), indent=2, ensure_ascii=False))


def table(rows: Sequence[Any], columns: Sequence[str], *, title: str, empty: str) -> None:
    """A readable table of `columns` from each row (models or dicts); a sentence when there are none."""
    if not rows:
        click.echo(empty)
        return
    from rich.console import Console
    from rich.table import Table

    grid = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    for column in columns:
        grid.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        data = plain(row)
        grid.add_row(*(_cell(data.get(c)) for c in columns))
    Console().print(grid)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if len(text) >= 20 and text[4] == "-" and text[10] == "T":  # ISO timestamp: to the second, no offset
        return text[:19].replace("T", " ")
    return text
