"""Every error's (status, exit code) pair is a row of the README's exit-code table, and a config
problem found after a run started ends the run as `config_error` with exit 2."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any, get_args

import mentra
from mentra.errors import MentraError, RunEndStatus
from mentra.events import events_json_schema
from tests.cli.conftest import REPO


def _readme_table() -> dict[str, set[int]]:
    """status -> the exit codes the README's table gives it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Output and exit codes", 1)[1].split("###", 1)[0]
    table: dict[str, set[int]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.match(r"^\d", cells[0]):
            continue
        codes = {int(c) for c in re.findall(r"\d+", cells[0])}
        for status in re.findall(r"`([a-z_]+)`", cells[1]):
            table.setdefault(status, set()).update(codes)
    return table


def _all_subclasses(cls: type[Any]) -> set[type[Any]]:
    out: set[type[Any]] = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_all_subclasses(sub)}
    return out


def _import_everything() -> None:
    for info in pkgutil.walk_packages(mentra.__path__, "mentra."):
        importlib.import_module(info.name)


def test_every_error_class_agrees_with_the_readme_table() -> None:
    _import_everything()
    table = _readme_table()
    assert table["config_error"] == {2}
    assert table["error"] == {1}
    classes = {MentraError, *_all_subclasses(MentraError)}
    assert len(classes) > 10
    for cls in sorted(classes, key=lambda c: c.__qualname__):
        status = cls.status
        assert status in get_args(RunEndStatus), f"{cls.__qualname__}: status {status!r}"
        assert status in table, f"{cls.__qualname__}: status {status!r} not in README table"
        if status == "interrupted":  # the exit code is the signal's, 128 + N
            assert table["interrupted"] >= {130, 143, 141}
            continue
        assert cls.exit_code in table[status], (
            f"{cls.__qualname__}: status {status!r} with exit {cls.exit_code}, "
            f"but the README gives {sorted(table[status])}"
        )


def test_every_status_is_in_the_table_and_the_events_schema() -> None:
    table = _readme_table()
    schema = str(events_json_schema())
    for status in get_args(RunEndStatus):
        assert status in table, status
        assert f"'{status}'" in schema, status


def test_missing_script_after_start_is_config_error(mentra: Any, tmp_path: Path) -> None:
    r = mentra("run", "-m", f"scripted:{tmp_path / 'missing.yaml'}", "hi", "--ephemeral")
    assert r.code == 2, r.stderr
    done = r.events[-1]
    assert done["type"] == "run_finished"
    assert done["status"] == "config_error" and done["exit_code"] == 2
    assert "Traceback" not in r.stderr
