"""Listings as rich tables, for people at a terminal."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from mentra_cli.render._rich import make_console

# Columns shown whole however narrow the terminal: the values people copy into the next
# command (`mentra resume ID`, `mentra show ID`). Other columns give way first.
WHOLE_COLUMNS = ("id",)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(show_edge=False, header_style="bold")
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    for i, col in enumerate(columns):
        if col in WHOLE_COLUMNS:
            widest = max([len(col), *(len(r[i]) for r in cells)])
            table.add_column(col, no_wrap=True, min_width=widest)
        else:
            table.add_column(col)
    for r in cells:
        table.add_row(*r)
    make_console().print(table)
