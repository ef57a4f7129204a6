"""Between the domain's SQL and psycopg: statements with `?` placeholders translated to psycopg's, and result rows
read by column name or position, as sqlite3.Row reads them."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """The domain's SQL ('?' placeholders) in psycopg's ('%s'; a literal '%' doubled, so statements are always
    run with a parameter sequence, if empty), outside quoted strings."""
    out, quoted = [], False
    for char in sql:
        if char == "'":
            quoted = not quoted
            out.append(char)
        elif char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


class Row:
    """A result row read by column name or by position, like sqlite3.Row (and dict(row) works)."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._index, self._values, strict=True))})"


def rows_of(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    index: dict[str, int] = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)
