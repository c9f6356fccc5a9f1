"""Listings as rich tables, for people at a terminal."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(show_edge=False, header_style="bold")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(_cell(row.get(col)) for col in columns))
    Console().print(table)
