"""Commands through typer's CliRunner (in-process)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mentra.events import parse_event
from mentra_cli.app import app
from tests.cli.conftest import REPO

runner = CliRunner()


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def test_run_demo_events_parse_as_the_union() -> None:
    result = runner.invoke(app, ["run", "-c", "examples/agents/demo.yaml", "hi", "--ephemeral"])
    assert result.exit_code == 0, result.output
    events = [parse_event(line) for line in result.stdout.splitlines()]
    assert events[0].type == "session_started" and events[-1].type == "run_finished"


def test_tools_lists_builtins_and_skills() -> None:
    result = runner.invoke(app, ["tools", "-c", "examples/agents/demo.yaml", "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    names = {r["name"] for r in rows}
    assert names == {"files", "load_skill"}
    files = next(r for r in rows if r["name"] == "files")
    assert files["input_schema"]["type"] == "object"
    assert files["permission"] in ("allow", "ask", "deny")


def test_schema_events_and_config() -> None:
    result = runner.invoke(app, ["schema", "events"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "run_finished" in json.dumps(schema)
    result = runner.invoke(app, ["schema", "config"])
    assert result.exit_code == 0 and "permissions" in json.loads(result.stdout)["properties"]
    result = runner.invoke(app, ["schema", "nope"])
    assert result.exit_code == 2


def test_validate_good_and_bad(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "examples/agents/demo.yaml"])
    assert result.exit_code == 0 and json.loads(result.stdout)["valid"] is True
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\npermissions:\n  mode: yolo\n")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:3:9" in result.stderr


def test_models_scripted_lists_its_script() -> None:
    result = runner.invoke(app, ["models", "-c", "examples/agents/demo.yaml", "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["id"] == "demo-script" and rows[0]["provider"] == "scripted"


def test_run_without_model_is_usage_error(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    result = runner.invoke(app, ["run", "hi", "--ephemeral"])
    assert result.exit_code == 2 and "no model" in result.stderr
