"""Store fixtures: every contract test runs once per backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mentra.store.base import Store
from mentra.store.in_memory import InMemoryStore
from mentra.store.sqlite import SQLiteStore

BACKENDS = ["sqlite", "memory"]


def make_store(kind: str, tmp_path: Path) -> Store:
    if kind == "sqlite":
        return SQLiteStore(tmp_path / "store.sqlite")
    if kind == "memory":
        return InMemoryStore()
    raise AssertionError(kind)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = make_store(request.param, tmp_path)
    try:
        yield s
    finally:
        s.close()
